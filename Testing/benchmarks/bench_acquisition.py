"""How the accuracy holds when the same hearts are acquired or stored differently, as another scanner would.

    python Testing/benchmarks/bench_acquisition.py --out runs/acquisition [--model PATH] [--split validation|auxiliary]

Every volume of the split is segmented as stored and under each variation below, applied to the image and its
expert labels alike (labels by nearest neighbour); Dice and HD95 (mm) per structure, per volume then averaged,
and the worst volume's mean Dice. Nothing is tuned here: it shows which acquisition differences the pipeline
(localiser, handedness, centring, canonical resampling, slice positions) absorbs and which it does not.
The intensity-level shift of a new scanner (contrast, bias field, noise, blur) is bench_accuracy's; this is
geometry and storage. Results go to ``<out>/acquisition.json``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import STRUCTURES, bench_parser, model_and_cases, structure_summary, write_report  # noqa: E402

from GmmSegLib.evaluation.folders import evaluate_pair  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.io.images import CardiacImage  # noqa: E402

Variation = Callable[[CardiacImage, np.ndarray], tuple[CardiacImage, np.ndarray]]


def _with(
    image: CardiacImage, frames: np.ndarray, spacing_factors: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> CardiacImage:
    spacing = tuple(s * f for s, f in zip(image.geometry.spacing, (*spacing_factors, 1.0), strict=False))
    return replace(
        image, frames=np.ascontiguousarray(frames, np.float32), geometry=replace(image.geometry, spacing=spacing)
    )


def in_plane_zoom(factor: float) -> Variation:
    """Pixels ``factor`` times smaller (a finer matrix over the same field of view) or larger (factor < 1)."""

    def vary(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
        frames = ndimage.zoom(image.frames, (1, 1, factor, factor), order=1)
        return (_with(image, frames, (1 / factor, 1 / factor, 1.0)), ndimage.zoom(truth, (1, factor, factor), order=0))

    return vary


def in_plane_rotation(degrees: float) -> Variation:
    """The short-axis plane planned turned about its normal by ``degrees`` (corners filled with the darkest value)."""

    def vary(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
        frames = ndimage.rotate(
            image.frames, degrees, axes=(2, 3), reshape=False, order=1, cval=float(image.frames.min())
        )
        return _with(image, frames), ndimage.rotate(truth, degrees, axes=(1, 2), reshape=False, order=0)

    return vary


def wide_field_of_view(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
    """60 more pixels of noisy background on every side (a larger field of view)."""
    pad = 60
    frames = np.pad(image.frames, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    border = np.ones(frames.shape[-2:], bool)
    border[pad:-pad, pad:-pad] = False
    noise = np.abs(np.random.default_rng(0).normal(0.0, 0.02 * float(image.frames.max()), frames.shape))
    return _with(image, np.where(border, noise, frames)), np.pad(truth, ((0, 0), (pad, pad), (pad, pad)))


def tight_field_of_view(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
    """A square field of view of 60 % of the shorter side, centred on the heart."""
    rows, columns = truth.shape[1:]
    y, x = (int(round(c)) for c in ndimage.center_of_mass(truth.any(0)))
    half = int(0.3 * min(rows, columns))
    window = (slice(max(y - half, 0), y + half), slice(max(x - half, 0), x + half))
    return _with(image, image.frames[(slice(None), slice(None), *window)]), truth[(slice(None), *window)]


def apex_first(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
    return _with(image, image.frames[:, ::-1]), np.ascontiguousarray(truth[::-1])


def rescaled_intensities(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
    """Another vendor's intensity scale: times 37 plus 2000."""
    return _with(image, image.frames * 37.0 + 2000.0), truth


def every_other_slice(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
    """Twice the slice spacing."""
    return _with(image, image.frames[:, ::2], (1.0, 1.0, 2.0)), np.ascontiguousarray(truth[::2])


def zero_filled_end_slices(image: CardiacImage, truth: np.ndarray) -> tuple[CardiacImage, np.ndarray]:
    """An empty slice before and after the stack, as converters write for positions missing from a series."""
    blank = np.zeros_like(image.frames[:, :1])
    empty = np.zeros_like(truth[:1])
    return (_with(image, np.concatenate([blank, image.frames, blank], 1)), np.concatenate([empty, truth, empty]))


VARIATIONS: dict[str, Variation | None] = {
    "as stored": None,
    "slices stored apex first": apex_first,
    "intensities x37 + 2000": rescaled_intensities,
    "pixels 1.5x finer": in_plane_zoom(1.5),
    "pixels 1.4x coarser": in_plane_zoom(0.7),
    "field of view +60 px each side": wide_field_of_view,
    "field of view 60% around the heart": tight_field_of_view,
    "plane turned 30 deg": in_plane_rotation(30.0),
    "plane turned 75 deg": in_plane_rotation(75.0),
    "every other slice": every_other_slice,
    "zero-filled slice at each end": zero_filled_end_slices,
}


def mean_dice(row: dict) -> float:
    return float(np.mean([row[f"{name}_dice"] for name in STRUCTURES]))


def main() -> int:
    parser = bench_parser(__doc__, "runs/acquisition", selection_split="auxiliary")
    arguments = parser.parse_args()
    model, entry, root, cases = model_and_cases(arguments)
    rows: dict[str, list[dict]] = {name: [] for name in VARIATIONS}
    for case in cases:
        stored = acdc.load_case(root, case)
        for name, vary in VARIATIONS.items():
            image, truth = stored if vary is None else vary(*stored)
            result = segment(image, model, "cpu")
            rows[name].append(evaluate_pair(result.labels[0], truth, image.spacing_xyz))
        print(case.patient, case.phase, {name: round(mean_dice(rows[name][-1]), 3) for name in VARIATIONS}, flush=True)
    accuracy = {}
    for name, found in rows.items():
        accuracy[name] = structure_summary(found)
        accuracy[name]["worst_volume_mean_dice"] = min(mean_dice(row) for row in found)
    report = {"model": entry.id, "split": arguments.split, "volumes": len(cases), "accuracy": accuracy}
    write_report(arguments.out, "acquisition", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
