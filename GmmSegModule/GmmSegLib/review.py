"""Uncertainty-guided review: which slices and regions a clinician should look at first.

A slice's score is its uncertainty mass: the total uncertainty summed over the slice in mm^2, i.e. the
expected area of disagreement, which grows with both how unsure the model is and over how much tissue.
Regions are the connected patches of high uncertainty inside a slice; each becomes a review item with
its bounding box, score and the structure it mostly concerns. The queue lists items most uncertain first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from .labels import STRUCTURES

REGION_THRESHOLD = 0.3
MIN_REGION_AREA_MM2 = 10.0


@dataclass
class ReviewItem:
    """One place to review: frame, slice, bounding box in native pixels (x0, y0, x1, y1 inclusive)."""

    frame: int
    slice: int
    bbox: tuple[int, int, int, int]
    score: float  # uncertainty mass in mm^2
    structure: str  # LV, MYO or RV: the structure most of the region is labelled (or borders)
    area_mm2: float

    def to_dict(self) -> dict:
        return asdict(self)


def slice_uncertainty_mass(uncertainty: np.ndarray, spacing_xyz: tuple[float, float, float]) -> np.ndarray:
    """Per-slice uncertainty mass (mm^2) of maps (T, Z, Y, X) -> (T, Z)."""
    return uncertainty.sum(axis=(-2, -1)) * spacing_xyz[0] * spacing_xyz[1]


def slice_expected_error_area(probabilities: np.ndarray, spacing_xyz: tuple[float, float, float]) -> np.ndarray:
    """Expected mislabelled area per slice (mm^2) under the Dirichlet mean: sum of 1 - max_k p_k.

    probabilities (T, K, Z, Y, X) -> (T, Z). With calibrated probabilities this is the expected number
    of wrong pixels, the quantity a review should remove first.
    """
    return (1.0 - probabilities.max(axis=1)).sum(axis=(-2, -1)) * spacing_xyz[0] * spacing_xyz[1]


def _dominant_structure(labels: np.ndarray, region: np.ndarray) -> str:
    grown = ndimage.binary_dilation(region, iterations=2)
    counts = {name: int((labels[grown] == value).sum()) for name, value in STRUCTURES.items()}
    return max(counts, key=counts.get)


def review_queue(uncertainty: np.ndarray, labels: np.ndarray, spacing_xyz: tuple[float, float, float],
                 threshold: float = REGION_THRESHOLD, min_area_mm2: float = MIN_REGION_AREA_MM2) -> list[ReviewItem]:
    """Review items (regions of uncertainty above ``threshold``) of maps and labels (T, Z, Y, X), most uncertain first.

    A slice with uncertainty but no region above the threshold still appears once, with its whole heart
    bounding box, so that every slice can be reached from the queue.
    """
    pixel_mm2 = spacing_xyz[0] * spacing_xyz[1]
    items: list[ReviewItem] = []
    for t in range(uncertainty.shape[0]):
        for z in range(uncertainty.shape[1]):
            maps, slice_labels = uncertainty[t, z], labels[t, z]
            components, count = ndimage.label(maps > threshold)
            found = False
            for index, box in enumerate(ndimage.find_objects(components), start=1):
                region = components == index
                area = float(region.sum() * pixel_mm2)
                if area < min_area_mm2:
                    continue
                ys, xs = box
                items.append(ReviewItem(t, z, (xs.start, ys.start, xs.stop - 1, ys.stop - 1),
                                        float(maps[region].sum() * pixel_mm2),
                                        _dominant_structure(slice_labels, region), area))
                found = True
            heart = slice_labels > 0
            if not found and heart.any():
                ys, xs = np.nonzero(heart)
                items.append(ReviewItem(t, z, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
                                        float(maps.sum() * pixel_mm2), _dominant_structure(slice_labels, heart),
                                        float(heart.sum() * pixel_mm2)))
    return sorted(items, key=lambda item: item.score, reverse=True)
