"""Error-guided review: which slices and regions a clinician should look at first.

A slice's score is its unsure area in mm^2 (:mod:`GmmSegLib.clinical.error_estimate`: where the label's softened
class probability is below one half), plus, on the frames the quality check segmented twice, the area where its two
passes disagree (:func:`GmmSegLib.clinical.quality.slice_disagreement`: the confident errors that no probability
shows tend not to hold still when the crop moves), the basal slice weighted; each item carries the slice's
estimated Dice.
On the out-of-fold predictions of v10's recipe (``Testing/benchmarks/bench_review_queue.py``; BENCHMARKS.md, trial
"pretrain 120") correcting the top 20 % of slices in this order removes 0.84 of the mislabelled voxels that the best
possible order removes on the stored images, 0.80 through a synthetic new scanner.
Regions are the connected patches of high uncertainty inside a slice; each becomes a review item with
its bounding box, area, uncertainty mass and the structure it mostly concerns. The queue lists the
items of the slice with the largest estimated error first, and within a slice the largest uncertainty mass first.
A whole stack is flagged when its estimated mean Dice is below the model's ``review_dice``
(:class:`~GmmSegLib.clinical.error_estimate.ReviewCalibration`; on the frames the quality check segmented twice the
estimate also weighs how well the passes agree), or when its unreliable share is above the model's limit
(:mod:`GmmSegLib.clinical.quality`), an alarm set where no good stack of the out-of-fold predictions reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..core.labels import STRUCTURES
from .error_estimate import REVIEW_DICE, ReviewCalibration, basal_slice, expected_errors

REGION_THRESHOLD = 0.3
MIN_REGION_AREA_MM2 = 10.0


@dataclass
class ReviewItem:
    """One place to review: frame, slice, bounding box in native pixels (x0, y0, x1, y1 inclusive)."""

    frame: int
    slice: int
    bbox: tuple[int, int, int, int]
    slice_score: float | None  # unsure area of the slice in mm^2: the queue's order; None without model
    score: float  # uncertainty mass of the region in mm^2: the order within a slice
    structure: str  # LV, MYO or RV: the structure most of the region is labelled (or borders)
    area_mm2: float
    estimated_dice: float | None = None  # the slice's mean estimated Dice over the structures it labels

    def to_dict(self) -> dict:
        return asdict(self)


def slice_mean_uncertainty(uncertainty: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean uncertainty over each slice's heart pixels (labels > 0) of maps (T, Z, Y, X) -> (T, Z); 0 without heart."""
    heart = labels > 0
    counts = heart.sum(axis=(-2, -1))
    sums = np.where(heart, uncertainty, 0.0).sum(axis=(-2, -1))
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def stack_estimated_dice(
    probabilities: Iterable[np.ndarray], labels: np.ndarray, calibration: ReviewCalibration = ReviewCalibration()
) -> list[float]:
    """Per frame of class probabilities (K, Z, Y, X each) and labels (T, Z, Y, X), the stack's estimated mean Dice
    (with the ``calibration`` of the model that made them)."""
    return [
        expected_errors(frame, frame_labels, calibration.temperature).stack_dice()
        for frame, frame_labels in zip(probabilities, labels, strict=True)
    ]


def whole_stack_warning(estimated_dice: list[float] | np.ndarray, review_dice: float = REVIEW_DICE) -> str | None:
    """What to tell the clinician when some frame's estimated Dice is below ``review_dice`` (the model's
    calibration); None otherwise."""
    worst = min(estimated_dice, default=1.0)
    if worst >= review_dice:
        return None
    return (
        f"the segmentation is probably poor (estimated mean Dice {worst:.2f}, typically about 0.9): the model is "
        "unsure of much of the heart, or its labels change when the image moves by 1.5 mm; check that it is a "
        "short-axis cine and review the result slice by slice"
    )


def _dominant_structure(labels: np.ndarray, region: np.ndarray) -> str:
    grown = ndimage.binary_dilation(region, iterations=2)
    counts = {name: int((labels[grown] == value).sum()) for name, value in STRUCTURES.items()}
    return max(counts, key=counts.get)


def review_queue(
    uncertainty: np.ndarray,
    probabilities: np.ndarray | Sequence[np.ndarray],
    labels: np.ndarray,
    spacing_xyz: tuple[float, float, float],
    threshold: float = REGION_THRESHOLD,
    min_area_mm2: float = MIN_REGION_AREA_MM2,
    calibration: ReviewCalibration = ReviewCalibration(),
    disagreement: Mapping[int, Sequence[float]] | None = None,
) -> list[ReviewItem]:
    """Review items of maps and labels (T, Z, Y, X) and class probabilities (T of (K, Z, Y, X)): the regions of
    uncertainty above ``threshold``, the slice with the largest estimated error first. ``disagreement`` holds, per
    frame the quality check segmented twice, each slice's pixels where its passes disagree (the summary's
    ``slice_disagreement``).

    A slice with heart labels but no region above the threshold still appears once, with its whole heart
    bounding box, so that every slice can be reached from the queue.
    """
    pixel_mm2 = spacing_xyz[0] * spacing_xyz[1]
    items: list[ReviewItem] = []
    for t in range(uncertainty.shape[0]):
        estimate = expected_errors(probabilities[t], labels[t], calibration.temperature)
        dice = estimate.mean_slice_dice()
        scores = slice_scores(estimate.unsure, (disagreement or {}).get(t), labels[t], calibration.basal_weight)
        for z in range(uncertainty.shape[1]):
            slice_items = _slice_items(uncertainty[t, z], labels[t, z], pixel_mm2, threshold, min_area_mm2)
            items += [
                ReviewItem(
                    t,
                    z,
                    bbox,
                    float(scores[z] * pixel_mm2),
                    mass,
                    structure,
                    area,
                    None if np.isnan(dice[z]) else round(float(dice[z]), 4),
                )
                for bbox, mass, structure, area in slice_items
            ]
    return sorted(items, key=lambda item: (item.slice_score, item.score), reverse=True)


def slice_scores(
    unsure: np.ndarray, disagreement: Sequence[float] | None, labels: np.ndarray, basal_weight: float
) -> np.ndarray:
    """The queue's score of each slice of one frame (Z,): its unsure pixels plus, where the frame was segmented twice,
    those its passes disagree on, the basal slice's multiplied by ``basal_weight``."""
    scores = np.asarray(unsure, np.float64) + (0.0 if disagreement is None else np.asarray(disagreement, np.float64))
    base = basal_slice(labels)
    if base is not None:
        scores[base] *= basal_weight
    return scores


def _slice_items(
    maps: np.ndarray, labels: np.ndarray, pixel_mm2: float, threshold: float, min_area_mm2: float
) -> list[tuple[tuple[int, int, int, int], float, str, float]]:
    """(bbox, uncertainty mass, structure, area) of each region of one slice; its whole heart when none is found."""
    components, _ = ndimage.label(maps > threshold)
    found = []
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        region = components == index
        area = float(region.sum() * pixel_mm2)
        if area >= min_area_mm2:
            ys, xs = box
            found.append(
                (
                    (xs.start, ys.start, xs.stop - 1, ys.stop - 1),
                    float(maps[region].sum() * pixel_mm2),
                    _dominant_structure(labels, region),
                    area,
                )
            )
    heart = labels > 0
    if not found and heart.any():
        ys, xs = np.nonzero(heart)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        found.append(
            (
                bbox,
                float(maps[heart].sum() * pixel_mm2),
                _dominant_structure(labels, heart),
                float(heart.sum() * pixel_mm2),
            )
        )
    return found


def label_review_queue(
    labels: np.ndarray, spacing_xyz: tuple[float, float, float], key_frames: tuple[int, ...] = ()
) -> list[ReviewItem]:
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
            items.append(
                ReviewItem(
                    t,
                    int(z),
                    (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
                    None,
                    float(abs(z - middle) / half),
                    _dominant_structure(frame[z], heart),
                    float(heart.sum() * pixel_mm2),
                )
            )
    rank = {frame: position for position, frame in enumerate(key_frames)}
    return sorted(items, key=lambda item: (rank.get(item.frame, len(rank)), -item.score, item.frame, item.slice))
