"""Uncertainty-guided review: which slices and regions a clinician should look at first.

A slice's score is the mean total uncertainty (0..1) over the pixels it labels as heart: how unsure the
model is about that slice's structures, whatever their size. It was chosen over the uncertainty mass
(the same map summed over the slice in mm^2) on the labelled training patients seen through a synthetic
new scanner (``Testing/bench_uncertainty.py --split auxiliary-shifted``): correcting the top 20 % of slices
by mean removed 27 % of the wrong voxels, by mass 20 %, no more than a random order (20 %). The mass
favours large mid-ventricular slices, whose errors are thin boundary rims; the mean brings forward the
basal and apical slices where whole structures are wrong.
Regions are the connected patches of high uncertainty inside a slice; each becomes a review item with
its bounding box, area, uncertainty mass and the structure it mostly concerns. The queue lists the
items of the most uncertain slice first, and within a slice the largest uncertainty mass first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..core.labels import STRUCTURES

REGION_THRESHOLD = 0.3
MIN_REGION_AREA_MM2 = 10.0
# A whole stack is flagged for review when the median score of its heart slices exceeds this: chosen on the
# labelled training patients, as stored and through the synthetic new scanner, between the stacks the model
# segmented well and those it failed on (BENCHMARKS.md, "Uncertainty").
UNSURE_STACK_SCORE = 0.09


@dataclass
class ReviewItem:
    """One place to review: frame, slice, bounding box in native pixels (x0, y0, x1, y1 inclusive)."""

    frame: int
    slice: int
    bbox: tuple[int, int, int, int]
    slice_score: float | None  # mean uncertainty of the slice's heart (0..1): the queue's order; None without maps
    score: float  # uncertainty mass of the region in mm^2: the order within a slice
    structure: str  # LV, MYO or RV: the structure most of the region is labelled (or borders)
    area_mm2: float

    def to_dict(self) -> dict:
        return asdict(self)


def slice_mean_uncertainty(uncertainty: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean uncertainty over each slice's heart pixels (labels > 0) of maps (T, Z, Y, X) -> (T, Z); 0 without heart."""
    heart = labels > 0
    counts = heart.sum(axis=(-2, -1))
    sums = np.where(heart, uncertainty, 0.0).sum(axis=(-2, -1))
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def stack_uncertainty(slice_scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per frame, the median slice score (T, Z) over the slices that hold heart (labels (T, Z, Y, X)); 0 without.

    High when the model is unsure about the whole stack rather than about its end slices: a failed
    localisation, a series that is not a short-axis cine, an image too degraded to read.
    """
    heart = (labels > 0).any(axis=(-2, -1))
    return np.array([float(np.median(scores[present])) if present.any() else 0.0
                     for scores, present in zip(slice_scores, heart, strict=True)])


def whole_stack_warning(stack_scores: list[float] | np.ndarray) -> str | None:
    """What to tell the clinician when some frame's stack score exceeds ``UNSURE_STACK_SCORE``; None otherwise."""
    worst = max(stack_scores, default=0.0)
    if worst <= UNSURE_STACK_SCORE:
        return None
    return (f"the model is unsure about the whole stack (median slice uncertainty {worst:.2f}, typically about "
            "0.05); check that it is a short-axis cine and review the result slice by slice")


def _dominant_structure(labels: np.ndarray, region: np.ndarray) -> str:
    grown = ndimage.binary_dilation(region, iterations=2)
    counts = {name: int((labels[grown] == value).sum()) for name, value in STRUCTURES.items()}
    return max(counts, key=counts.get)


def review_queue(uncertainty: np.ndarray, labels: np.ndarray, spacing_xyz: tuple[float, float, float],
                 threshold: float = REGION_THRESHOLD, min_area_mm2: float = MIN_REGION_AREA_MM2) -> list[ReviewItem]:
    """Review items (regions of uncertainty above ``threshold``) of maps and labels (T, Z, Y, X), most uncertain first.

    A slice with heart labels but no region above the threshold still appears once, with its whole heart
    bounding box, so that every slice can be reached from the queue.
    """
    pixel_mm2 = spacing_xyz[0] * spacing_xyz[1]
    slice_scores = slice_mean_uncertainty(uncertainty, labels)
    items: list[ReviewItem] = []
    for t in range(uncertainty.shape[0]):
        for z in range(uncertainty.shape[1]):
            maps, slice_labels, slice_score = uncertainty[t, z], labels[t, z], float(slice_scores[t, z])
            components, count = ndimage.label(maps > threshold)
            found = False
            for index, box in enumerate(ndimage.find_objects(components), start=1):
                region = components == index
                area = float(region.sum() * pixel_mm2)
                if area < min_area_mm2:
                    continue
                ys, xs = box
                items.append(ReviewItem(t, z, (xs.start, ys.start, xs.stop - 1, ys.stop - 1), slice_score,
                                        float(maps[region].sum() * pixel_mm2),
                                        _dominant_structure(slice_labels, region), area))
                found = True
            heart = slice_labels > 0
            if not found and heart.any():
                ys, xs = np.nonzero(heart)
                items.append(ReviewItem(t, z, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
                                        slice_score, float(maps[heart].sum() * pixel_mm2),
                                        _dominant_structure(slice_labels, heart), float(heart.sum() * pixel_mm2)))
    return sorted(items, key=lambda item: (item.slice_score, item.score), reverse=True)


def label_review_queue(labels: np.ndarray, spacing_xyz: tuple[float, float, float],
                       key_frames: tuple[int, ...] = ()) -> list[ReviewItem]:
    """Review items of labels (T, Z, Y, X) that come without uncertainty maps (a segmentation GmmSeg did not make):
    one per slice that holds heart, the frames of ``key_frames`` first (ED and ES, on which the indices rest), and
    within a frame the end slices first, base and apex, where whole structures are most often wrong (see the
    module's docstring), then towards the middle. ``score`` is how far the slice lies from the heart's middle slice
    (1 at the ends, 0 in the middle); ``slice_score`` is None, as there is no uncertainty to show."""
    pixel_mm2 = spacing_xyz[0] * spacing_xyz[1]
    items: list[ReviewItem] = []
    for t, frame in enumerate(labels):
        present = np.flatnonzero((frame > 0).any(axis=(1, 2)))
        if not present.size:
            continue
        middle, half = (present[0] + present[-1]) / 2, max((present[-1] - present[0]) / 2, 1.0)
        for z in present:
            heart = frame[z] > 0
            ys, xs = np.nonzero(heart)
            items.append(ReviewItem(t, int(z), (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())), None,
                                    float(abs(z - middle) / half), _dominant_structure(frame[z], heart),
                                    float(heart.sum() * pixel_mm2)))
    rank = {frame: position for position, frame in enumerate(key_frames)}
    return sorted(items, key=lambda item: (rank.get(item.frame, len(rank)), -item.score, item.frame, item.slice))
