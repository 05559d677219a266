"""``gmmseg evaluate``: per-volume Dice and HD95 (mm) of predicted label maps against ground truth.

Voxels are compared at the same place in the body: a prediction is taken onto the ground truth's voxels when
both sample the same points (a file stored mirrored or transposed), and refused on any other grid.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.labels import convention_warning, to_product_labels
from ..io.images import Geometry, image_files, image_stem, read_label_volume
from .metrics import structure_metrics, summarise

LOGGER = logging.getLogger("gmmseg")


def _prediction_for(stem: str, prediction_dir: Path) -> Path | None:
    for name in (f"{stem}_seg.nii.gz", f"{stem}_seg.nrrd", f"{stem}.nii.gz", f"{stem}.nrrd"):
        if (prediction_dir / name).is_file():
            return prediction_dir / name
    return None


def evaluate_pair(prediction: np.ndarray, truth: np.ndarray,
                  spacing_xyz: tuple[float, float, float]) -> dict[str, float]:
    """Metrics of one (Z, Y, X) product-convention pair."""
    sx, sy, sz = spacing_xyz
    return structure_metrics(prediction, truth, (sz, sy, sx))


def _spatial(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y, z) part of a grid: index-to-physical matrix (direction times spacing) and origin."""
    size = geometry.dimension
    direction = np.reshape(geometry.direction, (size, size))[:3, :3]
    return direction @ np.diag(geometry.spacing[:3]), np.asarray(geometry.origin[:3], dtype=float)


def grid_difference(prediction: tuple[int, ...], prediction_grid: Geometry, truth: tuple[int, ...],
                    truth_grid: Geometry) -> tuple[np.ndarray | None, str]:
    """The ground truth's voxel axes (x, y, z) as signed prediction axes (+-1 .. +-3) when both arrays sample the
    same points in space (another storage order or direction: a mirrored or transposed file), else None and how
    the grids differ. Shapes are (T,) Z, Y, X."""
    truth_matrix, truth_origin = _spatial(truth_grid)
    matrix, origin = _spatial(prediction_grid)
    to_prediction = np.linalg.solve(matrix, truth_matrix)  # truth index steps in prediction index steps
    signed = np.round(to_prediction)
    span = max(truth[-3:])
    if np.abs(to_prediction - signed).max() * span > 0.05 or not np.array_equal(np.abs(signed) @ np.abs(signed).T,
                                                                                 np.eye(3)):
        sizes = [" x ".join(f"{v:g}" for v in sorted(grid.spacing[:3])) for grid in (prediction_grid, truth_grid)]
        if sizes[0] != sizes[1]:
            return None, f"voxels of {sizes[0]} mm where the ground truth's are {sizes[1]} mm"
        return None, "its axes turned against the ground truth's by other than quarter turns"
    truth_size = np.array(truth[::-1][:3])
    if prediction[:-3] != truth[:-3] or not np.array_equal(np.abs(signed) @ truth_size, prediction[::-1][:3]):
        return None, f"shape {prediction} where the ground truth's is {truth}"
    centres = [m @ (np.array(shape[::-1][:3]) - 1) / 2 + o
               for m, o, shape in ((matrix, origin, prediction), (truth_matrix, truth_origin, truth))]
    shift = float(np.linalg.norm(centres[0] - centres[1]))
    if shift > 0.05 * min(prediction_grid.spacing[:3]):
        return None, f"its field of view {shift:.1f} mm away from the ground truth's"
    rows = np.argmax(np.abs(signed), axis=0)
    return (rows + 1) * signed[rows, np.arange(3)].astype(int), ""


def on_truth_grid(prediction: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """The prediction's array reordered onto the ground truth's voxels (``axes`` from :func:`grid_difference`)."""
    lead = prediction.ndim - 3
    # array axis of index axis a is lead + 2 - a; the truth's array axes (z, y, x) are its index axes 2, 1, 0
    source = [lead + 2 - (abs(int(axes[axis])) - 1) for axis in (2, 1, 0)]
    moved = np.transpose(prediction, list(range(lead)) + source)
    flipped = [lead + position for position, axis in enumerate((2, 1, 0)) if axes[axis] < 0]
    return np.flip(moved, flipped) if flipped else moved


def _pair(truth_path: Path, prediction_path: Path, convention: str) -> tuple[np.ndarray, np.ndarray, Geometry]:
    """Ground truth and prediction in product labels on the ground truth's voxels, and its grid."""
    truth, truth_geometry = read_label_volume(truth_path)
    prediction, prediction_geometry = read_label_volume(prediction_path)
    axes, difference = grid_difference(prediction.shape, prediction_geometry, truth.shape, truth_geometry)
    if axes is None:
        raise InputError(f"{prediction_path}: not on the grid of {truth_path} ({difference}); evaluate compares "
                         "voxels at the same place in the body: resample the prediction onto the ground truth")
    truth = to_product_labels(truth, convention)
    prediction = to_product_labels(on_truth_grid(prediction, axes), "product")
    for path, labels, named in ((truth_path, truth, convention), (prediction_path, prediction, "product")):
        warning = convention_warning(labels, named)
        if warning:
            LOGGER.warning(f"{path}: {warning}")
    return truth, prediction, truth_geometry


def evaluate_folders(prediction_dir: Path, truth_dir: Path, convention: str = "product") -> tuple[list[dict], dict]:
    """Rows per volume (per frame for 4D) and their summary, for the ground-truth files that have a prediction;
    those that have none are named in one warning, and none at all is refused."""
    truth_files = image_files(truth_dir)
    if not truth_files:
        raise InputError(f"{truth_dir}: no label images found")
    rows, missing = [], []
    for truth_path in truth_files:
        stem = image_stem(truth_path).removesuffix("_gt")
        prediction_path = _prediction_for(stem, prediction_dir)
        if prediction_path is None:
            missing.append(stem)
            continue
        truth, prediction, grid = _pair(truth_path, prediction_path, convention)
        spacing = tuple(float(s) for s in grid.spacing[:3])
        frames = [(None, prediction, truth)] if truth.ndim == 3 else [
            (t, prediction[t], truth[t]) for t in range(truth.shape[0])]
        for frame, p, g in frames:
            row = {"case": stem, "frame": "" if frame is None else frame,
                   "spacing_mm": "x".join(f"{s:g}" for s in spacing)}
            row.update({k: round(v, 5) for k, v in evaluate_pair(p, g, spacing).items()})
            rows.append(row)
    if not rows:
        raise InputError(f"{prediction_dir}: no prediction for any of the {len(truth_files)} ground-truth files "
                         f"(looked for <stem>_seg.nii.gz, e.g. {missing[0]}_seg.nii.gz)")
    if missing:
        LOGGER.warning(f"{prediction_dir}: no prediction for {len(missing)} of {len(truth_files)} ground-truth "
                       f"files, left out of the scores: {', '.join(missing)}")
    metric_rows = [{k: v for k, v in row.items() if k.endswith(("_dice", "_hd95"))} for row in rows]
    return rows, summarise(metric_rows)
