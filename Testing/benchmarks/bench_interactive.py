"""A simulated clinician correcting the worst slices with clicks (a research benchmark, not shipped).

    python Testing/benchmarks/bench_interactive.py --images DIR --labels DIR [--gt-labels acdc] [--model PATH]
    python Testing/benchmarks/bench_interactive.py --predictions DIR [--model PATH]

For each structure, the worst 20% of slices (lowest Dice after automatic segmentation) are corrected
click by click: each click goes to the centre (the point deepest inside) of the largest error region of that
structure, as foreground where the structure was missed and as background where it overflowed
(:func:`GmmSegLib.training.simulated_clicks.simulated_click`); the slice is then refined from all clicks so far.
Reported per structure: mean number of clicks to reach Dice 0.90 and 0.95 (NoC@90, NoC@95, capped at 10 when
never reached) and the Dice after 1, 3 and 5 clicks, for GmmSeg's refinement (``gmmseg``: the model's click
refiner where it has one, else the geodesic path), the geodesic path itself (``geodesic``, when the model has a
refiner) and GrowCut (Slicer's ``vtkImageGrowCutSegment``) from the same clicks without the network's
probabilities. ``gmmseg_scribbles`` draws a scribble along the midline of the largest error instead of each click
(along the structure where it is missed, along where it should not be where it overflows, as the module's two
scribbles), each scribble counting as one prompt; with a click refiner, ``gmmseg_box_first`` also boxes a structure
it finds mostly missed (Dice under 0.5) before clicking. GrowCut is skipped, with a note, where Slicer's core
libraries are absent.

``--predictions`` reads out-of-fold predictions (``Testing/benchmarks/oof_predictions.py``: labels and probabilities of
ACDC patients a model never trained on) with their images from the ACDC folder instead of segmenting.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "GmmSegModule"))

from GmmSegLib.clinical.network_refinement import refine_by_network  # noqa: E402
from GmmSegLib.clinical.refinement import GEODESIC_LENGTH_MM, REGION_RADIUS_MM, refine  # noqa: E402
from GmmSegLib.core.clicks import Box, Click  # noqa: E402
from GmmSegLib.core.labels import STRUCTURES, to_product_labels  # noqa: E402
from GmmSegLib.evaluation.metrics import dice  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io.images import (  # noqa: E402
    image_files,  # noqa: E402
    image_stem,
    read_cardiac_image,
    read_label_volume,
)
from GmmSegLib.model.bundle import GmmSegModel  # noqa: E402
from GmmSegLib.model.click_refiner import ClickRefiner  # noqa: E402
from GmmSegLib.training.simulated_clicks import simulated_box, simulated_click, simulated_scribble  # noqa: E402

MAX_CLICKS = 10
WORST_FRACTION = 0.2


@dataclass
class SliceCase:
    image: np.ndarray  # (Y, X)
    probabilities: np.ndarray  # (K, Y, X)
    labels: np.ndarray  # (Y, X) automatic result
    truth: np.ndarray  # (Y, X)
    pixel_mm: float


@dataclass
class Prompts:
    """Everything the simulated clinician placed on a slice so far."""

    clicks: list[Click] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)


# (case, the slice's current labels, the structure corrected, every prompt so far) -> the slice's new labels
Refiner = Callable[[SliceCase, np.ndarray, str, Prompts], np.ndarray]
# how the simulated clinician prompts: a click at a time; a box first around a missed structure, then clicks; or a
# scribble at a time (each counts as one interaction)
CLINICIANS = ("clicks", "box_first", "scribbles")


def _points(prompts: Prompts, foreground: bool, stroke: bool = False) -> list[tuple[int, int]]:
    return [(int(c.x), int(c.y)) for c in prompts.clicks if (c.foreground, c.stroke) == (foreground, stroke)]


def geodesic_refiner(geodesic_length_mm: float | None = None) -> Refiner:
    """The geodesic path (``refine``) from the automatic labels and all clicks; its length (by default each
    structure's) can be set for every structure."""

    def run(case: SliceCase, _current: np.ndarray, structure: str, prompts: Prompts) -> np.ndarray:
        return refine(
            case.image,
            case.probabilities,
            case.labels,
            structure,
            _points(prompts, True),
            _points(prompts, False),
            case.pixel_mm,
            geodesic_length_mm=geodesic_length_mm,
            foreground_strokes=_points(prompts, True, stroke=True),
            background_strokes=_points(prompts, False, stroke=True),
        ).labels

    return run


def network_refiner(refiner: ClickRefiner) -> Refiner:
    """The click refiner, from the current labels and all clicks, as the module runs it."""

    def run(case: SliceCase, current: np.ndarray, _structure: str, prompts: Prompts) -> np.ndarray:
        return refine_by_network(
            refiner,
            case.image,
            case.probabilities,
            current,
            prompts.clicks,
            (case.pixel_mm, case.pixel_mm),
            prompts.boxes,
        ).labels

    return run


def growcut_refiner() -> Refiner | None:
    """GrowCut in the same box around the clicks, seeded by the clicks and the box border as background."""
    try:
        import slicer
        import vtk
        from vtk.util import numpy_support
    except ImportError:
        return None

    def run(case: SliceCase, current: np.ndarray, structure: str, prompts: Prompts) -> np.ndarray:
        value = STRUCTURES[structure]
        foreground, background = _points(prompts, True), _points(prompts, False)
        clicks = np.array(foreground + background)
        radius = int(np.ceil(REGION_RADIUS_MM / case.pixel_mm))
        x0, y0 = np.maximum(clicks.min(0) - radius, 0)
        x1, y1 = np.minimum(clicks.max(0) + radius, np.array(case.image.shape[::-1]) - 1)
        window = (slice(y0, y1 + 1), slice(x0, x1 + 1))
        # GrowCut leaves the outermost voxel layer of its volume alone, so background seeds go one pixel
        # inside the box, and the slice is given as the middle of three identical slices
        seeds = np.zeros(case.image[window].shape, np.int16)
        seeds[[1, -2], :] = 2
        seeds[:, [1, -2]] = 2
        for (x, y), label in [(c, 1) for c in foreground] + [(c, 2) for c in background]:
            seeds[max(y - y0 - 1, 0) : y - y0 + 2, max(x - x0 - 1, 0) : x - x0 + 2] = label

        def as_volume(array: np.ndarray) -> vtk.vtkImageData:
            stack = np.ascontiguousarray(np.stack([array] * 3), np.int16)
            image = vtk.vtkImageData()
            image.SetDimensions(array.shape[1], array.shape[0], 3)
            image.GetPointData().SetScalars(
                numpy_support.numpy_to_vtk(stack.ravel(), deep=True, array_type=vtk.VTK_SHORT)
            )
            return image

        grow = slicer.vtkImageGrowCutSegment()
        grow.SetIntensityVolume(as_volume(case.image[window]))
        grow.SetSeedLabelVolume(as_volume(seeds))
        grow.Update()
        grown = numpy_support.vtk_to_numpy(grow.GetOutput().GetPointData().GetScalars()).reshape((3,) + seeds.shape)[1]
        selected = case.labels == value
        selected[window] = grown == 1
        labels = np.where(current == value, 0, current)
        labels[selected] = value
        return labels

    return run


def next_prompt(prompts: Prompts, current: np.ndarray, truth: np.ndarray, clinician: str, first: bool) -> bool:
    """Add the simulated clinician's next prompt for binary maps (the structure's value or 0); False if none is due."""
    box = simulated_box(current, truth) if clinician == "box_first" and first else None
    if box is not None:
        prompts.boxes.append(box)
        return True
    if clinician == "scribbles":
        stroke = simulated_scribble(current, truth)
        prompts.clicks.extend(stroke)
        return bool(stroke)
    click = simulated_click(current, truth)
    if click is not None:
        prompts.clicks.append(click)
    return click is not None


def simulate(
    case: SliceCase, structure: str, refiner: Refiner, clinician: str = "clicks", carried: Sequence[Click] = ()
) -> list[float]:
    """Dice of ``structure`` after 0, 1, ..., MAX_CLICKS prompts (stays constant once no error is left). ``carried``:
    clicks of another slice carried to this one before the clinician's own (they count as none; the slice starts
    refined by them)."""
    value = STRUCTURES[structure]
    truth = np.where(case.truth == value, value, 0)
    prompts = Prompts(list(carried))
    current = refiner(case, case.labels, structure, prompts) if carried else case.labels
    scores = [dice(current == value, truth > 0)]
    for index in range(MAX_CLICKS):
        if not next_prompt(prompts, np.where(current == value, value, 0), truth, clinician, index == 0):
            scores.append(scores[-1])
            continue
        current = refiner(case, current, structure, prompts)
        scores.append(dice(current == value, truth > 0))
    return scores


def clicks_to_reach(curve: list[float], target: float) -> int:
    for clicks, value in enumerate(curve):
        if value >= target:
            return clicks
    return MAX_CLICKS


def load_slices(images: Path, labels: Path, convention: str, model: GmmSegModel, device: str) -> list[SliceCase]:
    cases = []
    for truth_path in image_files(labels):
        stem = image_stem(truth_path).removesuffix("_gt")
        image_path = next((p for p in image_files(images) if image_stem(p) == stem), None)
        if image_path is None:
            continue
        image = read_cardiac_image(image_path)
        truth = to_product_labels(read_label_volume(truth_path)[0], convention)
        result = segment(image, model, device)
        for z in range(image.frames.shape[1]):
            if (truth[z] > 0).any():
                cases.append(
                    SliceCase(
                        image.frames[0, z],
                        result.probabilities[0][:, z],
                        result.labels[0, z],
                        truth[z],
                        image.spacing_xyz[0],
                    )
                )
    return cases


def slices_from_predictions(folder: Path) -> list[SliceCase]:
    """The heart slices of out-of-fold predictions (``Testing/benchmarks/oof_predictions.py``) with their ACDC
    images."""
    from oof_predictions import load_predictions

    from GmmSegLib.core.paths import acdc_dir
    from GmmSegLib.io import acdc

    cases = []
    for prediction in load_predictions(folder):
        image, _labels = acdc.load_case(acdc_dir(), prediction.case)
        for z in np.flatnonzero((prediction.truth > 0).any(axis=(1, 2))):
            cases.append(
                SliceCase(
                    image.frames[0, z],
                    prediction.probabilities[:, z].astype(np.float32),
                    prediction.labels[z],
                    prediction.truth[z],
                    float(prediction.spacing_xyz[0]),
                )
            )
    return cases


def refiners_of(model: GmmSegModel, geodesic_length_mm: float | None = None) -> dict[str, tuple[Refiner | None, str]]:
    """What is measured, by name: the product's refinement of ``model`` (``gmmseg``), prompted by clicks and by
    scribbles, with a click refiner also by a box first and the geodesic path beside it, and GrowCut; each with its
    clinician."""
    geodesic = geodesic_refiner(geodesic_length_mm)
    if model.refiner is None:
        return {
            "gmmseg": (geodesic, "clicks"),
            "gmmseg_scribbles": (geodesic, "scribbles"),
            "growcut": (growcut_refiner(), "clicks"),
        }
    network = network_refiner(model.refiner)
    return {
        "gmmseg": (network, "clicks"),
        "gmmseg_box_first": (network, "box_first"),
        "gmmseg_scribbles": (network, "scribbles"),
        "geodesic": (geodesic, "clicks"),
        "growcut": (growcut_refiner(), "clicks"),
    }


def run_interactive_benchmark(cases: list[SliceCase], refiners: dict[str, tuple[Refiner | None, str]]) -> dict:
    report: dict = {"slices": len(cases), "max_clicks": MAX_CLICKS}
    for structure, value in STRUCTURES.items():
        present = [c for c in cases if (c.truth == value).any() or (c.labels == value).any()]
        worst = sorted(present, key=lambda c: dice(c.labels == value, c.truth == value))
        worst = worst[: max(1, int(round(WORST_FRACTION * len(present))))]
        report[structure] = {"worst_slices": len(worst)}
        for name, (refiner, clinician) in refiners.items():
            if refiner is None:
                report[structure][name] = "not measured: Slicer's core libraries (slicer-core) are not installed"
                continue
            start = time.perf_counter()
            curves = [simulate(case, structure, refiner, clinician) for case in worst]
            per_click_s = (time.perf_counter() - start) / max(1, len(worst) * MAX_CLICKS)
            report[structure][name] = {
                "NoC@90": float(np.mean([clicks_to_reach(c, 0.90) for c in curves])),
                "NoC@95": float(np.mean([clicks_to_reach(c, 0.95) for c in curves])),
                **{f"dice_after_{k}": float(np.mean([c[k] for c in curves])) for k in (0, 1, 3, 5)},
                "seconds_per_click": per_click_s,
            }
    return report


def _length(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a length above 0 mm, not {text}")
    return value


def main() -> int:
    from GmmSegLib.core.device import resolve_device
    from GmmSegLib.model.registry import load_registered

    parser = argparse.ArgumentParser(
        description="simulated clicks on the worst slices: clicks to Dice 0.90/0.95, GmmSeg refinement against GrowCut"
    )
    parser.add_argument("--images", help="folder of images")
    parser.add_argument("--labels", help="folder of their ground-truth label maps")
    parser.add_argument("--predictions", help="folder of out-of-fold predictions (instead of --images/--labels)")
    parser.add_argument("--gt-labels", default="product", choices=("product", "acdc"), help="label convention")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--geodesic-length-mm",
        type=_length,
        help="how far a click reaches through flat tissue, for every structure (default: the product's, per structure)",
    )
    arguments = parser.parse_args()
    if not arguments.predictions and not (arguments.images and arguments.labels):
        parser.error("give --predictions, or --images and --labels")
    device = resolve_device(arguments.device)
    model, entry = load_registered(arguments.model)
    if arguments.predictions:
        cases = slices_from_predictions(Path(arguments.predictions))
    else:
        cases = load_slices(Path(arguments.images), Path(arguments.labels), arguments.gt_labels, model, str(device))
    if not cases:
        print("no labelled slice found", file=sys.stderr)
        return 2
    report = run_interactive_benchmark(cases, refiners_of(model, arguments.geodesic_length_mm))
    length = GEODESIC_LENGTH_MM if arguments.geodesic_length_mm is None else arguments.geodesic_length_mm
    print(json.dumps({"model": entry.id, "geodesic_length_mm": length, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
