"""Mirrored stacks: how often the handedness net recognises them, and the accuracy with and without it.

    python Testing/benchmarks/bench_handedness.py --out runs/handedness [--model PATH]
        [--split validation|auxiliary] [--shifted]

Every volume of the split is segmented three times: as stored; mirrored (its columns reversed, as a stack
stored with the other handedness reaches the pipeline); and transposed (rows and columns swapped: a
mirror about the diagonal, as when a converter swaps the in-plane axes). Reported per orientation: how
often the stack was taken as mirrored, and Dice and HD95 (mm) per structure, per volume then averaged,
against the expert labels reoriented the same way. ``--shifted`` first passes every volume through the benchmarks'
synthetic new scanner (``GmmSegLib.training.augment.shifted_stack``, the seeds of bench_accuracy and bench_uncertainty),
where a wrong "mirrored" call on a stack stored the usual way would cost most. A model without a handedness net
(such as gmmseg-acdc-v4, in the history at commit 79f4d28) gives the "before" figures. Results go to
``<out>/handedness.json``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import bench_parser, model_and_cases, structure_summary, write_report  # noqa: E402

from GmmSegLib.evaluation.folders import evaluate_pair  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.io.images import CardiacImage  # noqa: E402
from GmmSegLib.training.augment import SELECTION_SHIFT_SEED, VALIDATION_SHIFT_SEED, shifted_stack  # noqa: E402

ORIENTATIONS = ("as stored", "mirrored", "transposed")


def reoriented(image: CardiacImage, truth: np.ndarray, orientation: str) -> tuple[CardiacImage, np.ndarray]:
    """The image and its labels (Z, Y, X) stored in ``orientation``."""
    if orientation == "mirrored":
        return (
            replace(image, frames=np.ascontiguousarray(image.frames[..., ::-1])),
            np.ascontiguousarray(truth[..., ::-1]),
        )
    if orientation == "transposed":
        sx, sy, *rest = image.geometry.spacing
        geometry = replace(image.geometry, spacing=(sy, sx, *rest))
        return (
            replace(image, frames=np.ascontiguousarray(image.frames.swapaxes(-1, -2)), geometry=geometry),
            np.ascontiguousarray(truth.swapaxes(-1, -2)),
        )
    return image, truth


def main() -> int:
    parser = bench_parser(__doc__, "runs/handedness", selection_split="auxiliary")
    parser.add_argument("--shifted", action="store_true", help="through the synthetic new scanner first")
    arguments = parser.parse_args()
    model, entry, root, cases = model_and_cases(arguments)
    rows: dict[str, list[dict]] = {orientation: [] for orientation in ORIENTATIONS}
    taken_as_mirrored = {orientation: 0 for orientation in ORIENTATIONS}
    seed = VALIDATION_SHIFT_SEED if arguments.split == "validation" else SELECTION_SHIFT_SEED
    for index, case in enumerate(cases):
        stored = acdc.load_case(root, case)
        if arguments.shifted:
            stored[0].frames = shifted_stack(stored[0].frames[0], seed + index)[None]
        for orientation in ORIENTATIONS:
            image, truth = reoriented(*stored, orientation)
            result = segment(image, model, "cpu")
            taken_as_mirrored[orientation] += int(result.location.mirrored)
            rows[orientation].append(evaluate_pair(result.labels[0], truth, image.spacing_xyz))
        print(case.patient, case.phase, {o: round(rows[o][-1]["RV_dice"], 3) for o in ORIENTATIONS}, flush=True)
    report = {
        "model": entry.id,
        "split": arguments.split,
        "shifted": arguments.shifted,
        "volumes": len(cases),
        "taken_as_mirrored": taken_as_mirrored,
        "accuracy": {orientation: structure_summary(rows[orientation]) for orientation in ORIENTATIONS},
    }
    write_report(arguments.out, "handedness", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
