"""Segmentation metrics per structure: Dice and the 95th-percentile Hausdorff distance (HD95) in mm.

HD95 is computed as MONAI's ``compute_hausdorff_distance(percentile=95)`` computes it (symmetric, the default),
and ``Testing/evaluation/test_metrics.py`` checks it against MONAI's. medpy's ``hd95`` finds the same surfaces
and distances but takes one percentile of the two directed sets pooled, which can be lower:

1. The surface of a mask is its voxels that the binary erosion with the 3D cross (6-connectivity,
   ``scipy.ndimage.generate_binary_structure(3, 1)``, outside the array counting as background) removes: the
   in-plane border of every slice, and the whole of its first and last slices.
2. For every surface voxel of one mask, the Euclidean distance in mm (voxel centres, with the voxel spacing)
   to the nearest surface voxel of the other: the two directed sets of surface distances.
3. The 95th percentile of each set (linear interpolation, ``numpy.percentile``); HD95 is the larger of the two.

A structure absent from both maps scores Dice 1 and HD95 0; absent from only one, Dice 0 and HD95 NaN
(undefined; averages skip it and report how many were skipped).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.labels import STRUCTURES


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty)."""
    prediction, truth = prediction.astype(bool), truth.astype(bool)
    total = prediction.sum() + truth.sum()
    if total == 0:
        return 1.0
    return float(2.0 * np.logical_and(prediction, truth).sum() / total)


def mean_structure_dice(labels: np.ndarray, truth: np.ndarray) -> float:
    """Mean Dice of LV, MYO and RV for two product-convention label maps (a structure absent from both counts 1)."""
    return float(np.mean([dice(labels == value, truth == value) for value in STRUCTURES.values()]))


def surface(mask: np.ndarray) -> np.ndarray:
    """The voxels of a boolean mask that erosion with the cross structuring element removes."""
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))


def hd95(prediction: np.ndarray, truth: np.ndarray, spacing_zyx: tuple[float, ...]) -> float:
    """The 95th-percentile Hausdorff distance in mm between boolean masks (Z, Y, X), as the module says."""
    prediction, truth = prediction.astype(bool), truth.astype(bool)
    if not prediction.any() and not truth.any():
        return 0.0
    if not prediction.any() or not truth.any():
        return float("nan")
    surface_p, surface_t = surface(prediction), surface(truth)
    to_truth = ndimage.distance_transform_edt(~surface_t, sampling=spacing_zyx)[surface_p]
    to_prediction = ndimage.distance_transform_edt(~surface_p, sampling=spacing_zyx)[surface_t]
    return float(max(np.percentile(to_truth, 95), np.percentile(to_prediction, 95)))


def structure_metrics(prediction: np.ndarray, truth: np.ndarray, spacing_zyx: tuple[float, ...]) -> dict[str, float]:
    """{'LV_dice', 'LV_hd95', 'MYO_dice', ...} for product-convention label maps (Z, Y, X)."""
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {truth.shape} differ in shape")
    result: dict[str, float] = {}
    for name, value in STRUCTURES.items():
        result[f"{name}_dice"] = dice(prediction == value, truth == value)
        result[f"{name}_hd95"] = hd95(prediction == value, truth == value, spacing_zyx)
    return result


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean over volumes of every metric (NaN-skipping) plus the mean Dice / HD95 over the structures."""
    summary: dict[str, float] = {}
    for key in rows[0]:
        values = np.array([row[key] for row in rows], dtype=np.float64)
        summary[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        if key.endswith("_hd95"):
            summary[key.replace("_hd95", "_hd95_undefined")] = int(np.isnan(values).sum())
    summary["mean_dice"] = float(np.mean([summary[f"{n}_dice"] for n in STRUCTURES]))
    summary["mean_hd95"] = float(np.nanmean([summary[f"{n}_hd95"] for n in STRUCTURES]))
    return summary
