"""``gmmseg evaluate``: per-volume Dice and HD95 (mm) of predicted label maps against ground truth.

Voxels are compared at the same place in the body: a prediction is taken onto the ground truth's voxels when
both sample the same points (a file stored mirrored or transposed), and refused on any other grid.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.file_names import SEGMENTATION, case_file
from ..core.labels import convention_warning, to_product_labels
from ..io.grids import grid_difference, on_reference_grid
from ..io.images import Geometry, image_files, image_stem, read_label_volume
from .metrics import structure_metrics, summarise

LOGGER = logging.getLogger("gmmseg")


def _prediction_for(stem: str, prediction_dir: Path) -> Path | None:
    names = (case_file(stem, SEGMENTATION), case_file(stem, SEGMENTATION, ".nrrd"), f"{stem}.nii.gz", f"{stem}.nrrd")
    for name in names:
        if (prediction_dir / name).is_file():
            return prediction_dir / name
    return None


def evaluate_pair(
    prediction: np.ndarray, truth: np.ndarray, spacing_xyz: tuple[float, float, float]
) -> dict[str, float]:
    """Metrics of one (Z, Y, X) product-convention pair."""
    sx, sy, sz = spacing_xyz
    return structure_metrics(prediction, truth, (sz, sy, sx))


def _pair(truth_path: Path, prediction_path: Path, convention: str) -> tuple[np.ndarray, np.ndarray, Geometry]:
    """Ground truth and prediction in product labels on the ground truth's voxels, and its grid."""
    truth, truth_geometry = read_label_volume(truth_path)
    prediction, prediction_geometry = read_label_volume(prediction_path)
    axes, difference = grid_difference(prediction.shape, prediction_geometry, truth.shape, truth_geometry)
    if axes is None:
        raise InputError(
            f"{prediction_path}: not on the grid of {truth_path} ({difference}); evaluate compares "
            "voxels at the same place in the body: resample the prediction onto the ground truth"
        )
    truth = to_product_labels(truth, convention)
    prediction = to_product_labels(on_reference_grid(prediction, axes), "product")
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
        frames = (
            [(None, prediction, truth)]
            if truth.ndim == 3
            else [(t, prediction[t], truth[t]) for t in range(truth.shape[0])]
        )
        for frame, p, g in frames:
            row = {
                "case": stem,
                "frame": "" if frame is None else frame,
                "spacing_mm": "x".join(f"{s:g}" for s in spacing),
            }
            row.update({k: round(v, 5) for k, v in evaluate_pair(p, g, spacing).items()})
            rows.append(row)
    if not rows:
        raise InputError(
            f"{prediction_dir}: no prediction for any of the {len(truth_files)} ground-truth files "
            f"(looked for <stem>_seg.nii.gz, e.g. {missing[0]}_seg.nii.gz)"
        )
    if missing:
        LOGGER.warning(
            f"{prediction_dir}: no prediction for {len(missing)} of {len(truth_files)} ground-truth "
            f"files, left out of the scores: {', '.join(missing)}"
        )
    metric_rows = [{k: v for k, v in row.items() if k.endswith(("_dice", "_hd95"))} for row in rows]
    return rows, summarise(metric_rows)
