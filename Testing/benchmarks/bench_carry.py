"""What carrying a slice's correction elsewhere pays: "Same on neighbouring slices" and "Same on other frames".

    python Testing/benchmarks/bench_carry.py --predictions DIR [--to neighbouring-slices|other-phase] [--clicks 3]
                                            [--model PATH]

The module offered both until this benchmark found that they cost more than they save (BENCHMARKS.md, "Carrying a
correction to other slices and frames"); it is kept to measure any other way of carrying a correction. For each
structure, the simulated clinician of ``bench_interactive.py`` corrects the worst 20 % of the slices it corrects
(lowest Dice) with up to ``--clicks`` clicks, stopping once the slice reaches Dice 0.90. The clicks of that
correction are then carried as the module carried them (``GmmSegLib.mrml.refinement_propagation`` up to commit
f1523ce), keeping the clicks that land on the same wrong label there (:func:`clicks_sharing_the_error`), and refined
as the module refines a slice (the model's click refiner, or the geodesic path):

- ``neighbouring-slices``: to the slice directly above and the one directly below where the automatic labels show
  some of the heart;
- ``other-phase``: to the same slice of the cine's other labelled frame (ED to ES and back; ACDC labels those two
  only, the frames furthest apart, so this is the carry at its hardest).

Reported per structure, over the slices a click was carried to: the structure's Dice there before and after the
carry, and how many slices gained or lost more than 0.01; the clicks still needed there to reach Dice 0.90 (NoC@90,
capped at 10) without the carry and after it; and per corrected slice, the interactions its targets need: their
clicks without the carry, against one press of the button plus the clicks left after it.

Out-of-fold predictions only (``Testing/benchmarks/oof_predictions.py``): a model's own training patients would make
its slices look easier than a clinician's.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_interactive import (
    MAX_CLICKS,
    WORST_FRACTION,
    Prompts,
    Refiner,
    SliceCase,
    clicks_to_reach,
    next_prompt,
    refiners_of,
    simulate,
)

from GmmSegLib.core.clicks import Click
from GmmSegLib.core.labels import BACKGROUND, STRUCTURES
from GmmSegLib.evaluation.metrics import dice

TARGET = 0.90  # the Dice a corrected slice is taken to be good at
CHANGED = 0.01  # a Dice change smaller than this is no change


@dataclass
class Stack:
    """The heart slices of one volume, in slice order, each with its place in the stack."""

    case: str
    slices: dict[int, SliceCase]
    patient: str = ""  # the other phase of the same cine has the same patient


def clicks_sharing_the_error(clicks: list[Click], before: np.ndarray, labels: np.ndarray) -> list[Click]:
    """The ``clicks`` of a slice's refinement that land, on another slice's ``labels`` (Y, X), on what the refined
    slice held there before, ``before`` (Y, X): the same wrong label, which the clicks might correct there too. A click
    whose pixel is already right, or wrong in another way, would force a wrong answer there and is left out."""
    return [c for c in clicks if labels[int(round(c.y)), int(round(c.x))] == before[int(round(c.y)), int(round(c.x))]]


def stacks_from_predictions(folder: Path) -> list[Stack]:
    """Every slice of each out-of-fold prediction the expert or the model labelled, with its ACDC image."""
    from oof_predictions import load_predictions

    from GmmSegLib.core.paths import acdc_dir
    from GmmSegLib.io import acdc

    stacks = []
    for prediction in load_predictions(folder):
        image, _labels = acdc.load_case(acdc_dir(), prediction.case)
        shown = (prediction.truth > 0).any(axis=(1, 2)) | (prediction.labels > 0).any(axis=(1, 2))
        slices = {
            int(z): SliceCase(
                image.frames[0, z],
                prediction.probabilities[:, z].astype(np.float32),
                prediction.labels[z],
                prediction.truth[z],
                float(prediction.spacing_xyz[0]),
            )
            for z in np.flatnonzero(shown)
        }
        stacks.append(Stack(prediction.case.case, slices, prediction.case.patient))
    return stacks


def correction(case: SliceCase, structure: str, refiner: Refiner, max_clicks: int) -> tuple[np.ndarray, list[Click]]:
    """The simulated clinician's correction of ``structure`` on ``case``: the labels reached and the clicks placed,
    clicking until the slice reaches Dice 0.90 or ``max_clicks`` clicks are placed."""
    value = STRUCTURES[structure]
    truth = np.where(case.truth == value, value, 0)
    current, prompts = case.labels, Prompts()
    for index in range(max_clicks):
        if dice(current == value, truth > 0) >= TARGET:
            break
        if not next_prompt(prompts, np.where(current == value, value, 0), truth, "clicks", index == 0):
            break
        current = refiner(case, current, structure, prompts)
    return current, prompts.clicks


def mean(values: list) -> float | None:
    """The mean, or None when there is nothing to average."""
    return float(np.mean(values)) if values else None


# where the module carries a slice's correction to: (the stacks, the corrected stack, its slice) -> the slices
Targets = Callable[[list[Stack], Stack, int], list[SliceCase]]


def neighbouring_slices(_stacks: list[Stack], stack: Stack, z: int) -> list[SliceCase]:
    """Same on neighbouring slices: the slices directly above and below that show some of the heart."""
    return [
        case
        for neighbour in (z - 1, z + 1)
        if (case := stack.slices.get(neighbour)) is not None and (case.labels != BACKGROUND).any()
    ]


def other_phase(stacks: list[Stack], stack: Stack, z: int) -> list[SliceCase]:
    """Same on other frames, from ED to ES or back (the two frames of a cine ACDC labels): the same slice there."""
    return [
        case
        for other in stacks
        if other.patient == stack.patient and other is not stack and (case := other.slices.get(z)) is not None
    ]


CARRIES: dict[str, Targets] = {"neighbouring-slices": neighbouring_slices, "other-phase": other_phase}


def carry_benchmark(
    stacks: list[Stack], refiner: Refiner, max_clicks: int, targets: Targets = neighbouring_slices
) -> dict:
    """The module's carry to ``targets``, measured per structure (see the module docstring)."""
    report: dict = {"max_clicks_on_the_corrected_slice": max_clicks}
    for structure, value in STRUCTURES.items():
        present = [
            (stack, z)
            for stack in stacks
            for z, case in stack.slices.items()
            if (case.truth > 0).any() and ((case.truth == value).any() or (case.labels == value).any())
        ]  # as bench_interactive.py: the slices the expert labelled that show the structure
        present.sort(
            key=lambda item: dice(item[0].slices[item[1]].labels == value, item[0].slices[item[1]].truth == value)
        )
        worst = present[: max(1, int(round(WORST_FRACTION * len(present))))]
        before, after, noc_without, noc_with = [], [], [], []
        interactions_without, interactions_with = [], []
        for stack, z in worst:
            source = stack.slices[z]
            _labels, clicks = correction(source, structure, refiner, max_clicks)
            if not clicks:
                continue
            without, with_carry = 0, 1  # the button, pressed once for every target
            for case in targets(stacks, stack, z):
                plain = clicks_to_reach(simulate(case, structure, refiner), TARGET)
                carried = clicks_sharing_the_error(clicks, source.labels, case.labels)
                without += plain
                if not carried:
                    with_carry += plain
                    continue
                curve = simulate(case, structure, refiner, carried=carried)
                before.append(dice(case.labels == value, case.truth == value))
                after.append(curve[0])
                noc_without.append(plain)
                noc_with.append(clicks_to_reach(curve, TARGET))
                with_carry += noc_with[-1]
            interactions_without.append(without)
            interactions_with.append(with_carry)
        gains = np.subtract(after, before)
        report[structure] = {
            "corrected_slices": len(interactions_without),
            "slices_carried_to": len(before),
            "dice_before": mean(before),
            "dice_after": mean(after),
            "slices_better": int((gains > CHANGED).sum()),
            "slices_worse": int((gains < -CHANGED).sum()),
            "NoC@90_without_carry": mean(noc_without),
            "NoC@90_after_carry": mean(noc_with),
            "interactions_on_the_targets_without_carry": mean(interactions_without),
            "interactions_on_the_targets_with_carry": mean(interactions_with),
        }
    return report


def main() -> int:
    from GmmSegLib.model.registry import load_registered

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True, help="folder of out-of-fold predictions")
    parser.add_argument("--model", default=None, help="whose refinement is measured (default: the shipped model)")
    parser.add_argument("--clicks", type=int, default=3, help="at most this many clicks on the corrected slice")
    parser.add_argument("--to", choices=tuple(CARRIES), default="neighbouring-slices", help="which carry to measure")
    arguments = parser.parse_args()
    if not 1 <= arguments.clicks <= MAX_CLICKS:
        parser.error(f"--clicks must be 1 to {MAX_CLICKS}")
    model, entry = load_registered(arguments.model)
    refiner, _clinician = refiners_of(model)["gmmseg"]
    stacks = stacks_from_predictions(Path(arguments.predictions))
    report = carry_benchmark(stacks, refiner, arguments.clicks, CARRIES[arguments.to])
    print(
        json.dumps({"model": entry.id, "predictions": arguments.predictions, "carry": arguments.to, **report}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
