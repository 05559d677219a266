"""Can the result be trusted? A label-free estimate of how much of the heart the model cannot vouch for.

The stack's estimated Dice (review.py) catches a model that is unsure everywhere, the plausibility findings a
result that is no heart; neither catches an image the model cannot read through but still labels with confidence: a
ghosting band over the LV wall, heavy noise, a strong bias field (issue 25). What does catch them is that such a
result does not hold still: segmented a second time with the crop moved by one canonical pixel (1.5 mm), a
well-read image gets the same labels back up to a thin rim, a badly read one does not. The estimate is the
*unreliable share* of the heart: of the pixels either pass labels as heart, the share where the two passes
disagree or the model is unsure of its label, in the review estimate's sense (GmmSegLib.clinical.error_estimate:
the label's probability, softened by the model's own temperature, under a half). One number per checked frame,
comparable across cases and across models, so that a review queue of cases can sort on it.

Calibration (``Testing/benchmarks/bench_quality.py``; clean volumes, and every fifth volume broken by a ghosting
band, Rician noise or a bias field so that a structure's Dice is under 0.5): the shipped model v7 on the 50 ACDC
development-validation volumes, clean 0.057 at most, broken 0.12 and above; the model of fold 0 of the
cross-validation (site augmentation, softer probabilities) on the 50 it never saw, clean 0.083 at most, broken
from 0.075 (BENCHMARKS.md, "The unreliable share"). The model's own temperature is what makes the share comparable
across models: a fixed threshold on the total uncertainty calls a third of the heart unsure on the clean volumes of a
better calibrated model. The limit above which a result is flagged belongs to the model too (its review calibration,
``ReviewCalibration.unreliable_share_limit``): above every good stack's share in the out-of-fold predictions. The
two passes' agreement (:func:`pass_agreement`) also enters the stack's estimated Dice, where it finds the near
misses a share limit cannot tell from good stacks.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.labels import LV, MYO, STRUCTURES
from .error_estimate import UNSURE, softened

# Below this blood-to-myocardium contrast-to-noise ratio a poor result is the image's doing: on the simulated sites the
# Dice lost rises steeply below 2 and most volumes under 1 fail outright, while 92 of ACDC's 100 labelled volumes read
# 4 or more (BENCHMARKS.md, "Simulated sites", where the sites' losses come from). Not a flag of its own: it says why
# a flagged result is poor.
LOW_CONTRAST_TO_NOISE = 2.0
TYPICAL_CONTRAST_TO_NOISE = 6.0  # ACDC's cine, the median of its 100 labelled volumes (6.4)
NOISE_WINDOW_PX = 5  # the in-plane median the pixel noise is measured against


def unreliable_share(
    labels: np.ndarray, second_labels: np.ndarray, probabilities: np.ndarray, temperature: float
) -> float:
    """Of the pixels that ``labels`` or ``second_labels`` (one frame, (Z, Y, X)) call heart, the share where they
    disagree or the label's class probability (``probabilities``, (K, Z, Y, X)), softened by the model's
    ``temperature``, is under a half; 0 when neither found heart."""
    heart = (labels > 0) | (second_labels > 0)
    if not heart.any():
        return 0.0
    labelled = labels[heart]
    chosen = np.take_along_axis(softened(probabilities[:, heart], temperature), labelled[None].astype(np.intp), 0)[0]
    return float(((labelled != second_labels[heart]) | (chosen < UNSURE)).mean())


def pass_agreement(labels: np.ndarray, second_labels: np.ndarray) -> float:
    """The mean over LV, MYO and RV of the Dice between ``labels`` and ``second_labels`` (one frame, (Z, Y, X)):
    how well the two passes agree; a structure neither pass labels does not count, and 1 when neither labels any.
    Where an image is read well it is close to 1; it is the strongest single sign of a failed stack
    (error_estimate.ReviewCalibration.checked_dice)."""
    scores = []
    for value in STRUCTURES.values():
        first, second = labels == value, second_labels == value
        both = int(first.sum()) + int(second.sum())
        if both:
            scores.append(2.0 * int((first & second).sum()) / both)
    return float(np.mean(scores)) if scores else 1.0


def slice_disagreement(labels: np.ndarray, second_labels: np.ndarray) -> np.ndarray:
    """Per slice (Z,), the pixels that ``labels`` or ``second_labels`` (one frame, (Z, Y, X)) call heart where the two
    passes disagree: where a slice's labels do not hold still, the review queue looks first (review.py)."""
    return (((labels > 0) | (second_labels > 0)) & (labels != second_labels)).sum(axis=(1, 2))


def unreliable_warning(shares: dict[int, float], limit: float) -> str | None:
    """What to tell the clinician when some checked frame's unreliable share exceeds the model's ``limit``."""
    frame, worst = max(shares.items(), key=lambda item: item[1], default=(0, 0.0))
    if worst <= limit:
        return None
    where = _named_frame("in", frame, shares)
    return (
        f"the result is unreliable{where}: on {worst:.0%} of the heart it changes when the image moves by 1.5 mm "
        f"or the model is unsure (typically under {limit:.0%}); the image may be too noisy, "
        "ghosted or shaded for the model to read. Review every slice before using the volumes"
    )


def _named_frame(preposition: str, frame: int, by_frame: dict[int, float]) -> str:
    """The words that name ``frame`` in a warning (``preposition`` "in": " in frame 11"); none for a stack's only
    frame, 0."""
    return f" {preposition} frame {frame}" if len(by_frame) > 1 or frame else ""


def checked_frames(lv_volumes_ml: list[float]) -> list[int]:
    """The frames a second pass checks: a stack's one; a cine's end-diastolic and end-systolic frames (largest and
    smallest LV cavity), whose volumes the clinical indices rest on. Two passes, not one per frame: the damage
    this catches is the acquisition's, in every frame alike."""
    return sorted({int(np.argmax(lv_volumes_ml)), int(np.argmin(lv_volumes_ml))})


def blank_slices_inside_heart(blank_slices: list[int], labels: np.ndarray) -> list[int]:
    """The blank slices (indices) that lie between slices with heart in labels (T, Z, Y, X): a gap in the heart."""
    with_heart = np.flatnonzero((labels > 0).any(axis=(0, 2, 3)))
    if with_heart.size == 0:
        return []
    return [z for z in blank_slices if with_heart[0] < z < with_heart[-1]]


def gap_warning(gaps: list[int]) -> str | None:
    """What to tell the clinician when blank slices lie inside the heart: its volumes lack those slices."""
    if not gaps:
        return None
    which, plural = ", ".join(str(z) for z in gaps), len(gaps) > 1
    return (
        f"slice{'s' if plural else ''} {which} {'hold' if plural else 'holds'} no image (zero-filled or "
        f"constant) inside the heart's extent; the volumes and indices lack what {'they' if plural else 'it'} "
        "would hold"
    )


def blood_myocardium_cnr(slices: np.ndarray, labels: np.ndarray) -> float:
    """The LV blood pool's median intensity minus the myocardium's, over the pixel noise in the blood pool.

    ``slices`` and ``labels`` are one frame (Z, Y, X), labels in the product convention (the model's own, or an
    expert's). The noise is the standard deviation, over the blood pool, of the image minus its in-plane median over
    :data:`NOISE_WINDOW_PX` pixels: it takes in trabeculae and flow as well as the scanner's noise, so cine reads lower
    than a phantom measurement would, but the same measure on every image makes scanners comparable. Measured within
    the heart's bounding box (milliseconds a frame). NaN when the labels hold no blood pool or no myocardium.
    """
    blood, myocardium = labels == LV, labels == MYO
    if not blood.any() or not myocardium.any():
        return float("nan")
    box = tuple(
        slice(max(0, int(axis.min()) - margin), int(axis.max()) + margin + 1)
        for axis, margin in zip(np.nonzero(blood | myocardium), (0, NOISE_WINDOW_PX, NOISE_WINDOW_PX), strict=True)
    )
    image, blood, myocardium = slices[box].astype(np.float32), blood[box], myocardium[box]
    smooth = ndimage.median_filter(image, size=(1, NOISE_WINDOW_PX, NOISE_WINDOW_PX))
    noise = float(np.std(image[blood] - smooth[blood]))
    return float((np.median(image[blood]) - np.median(image[myocardium])) / max(noise, 1e-6))


def low_contrast_warning(ratios: dict[int, float]) -> str | None:
    """Why a flagged result is poor when the image is to blame: some checked frame's blood-to-myocardium
    contrast-to-noise (:func:`blood_myocardium_cnr` of its own labels, by frame) under :data:`LOW_CONTRAST_TO_NOISE`."""
    known = {frame: ratio for frame, ratio in ratios.items() if np.isfinite(ratio)}
    frame, worst = min(known.items(), key=lambda item: item[1], default=(0, np.inf))
    if worst >= LOW_CONTRAST_TO_NOISE:
        return None
    where = _named_frame("of", frame, ratios)
    return (
        f"the image{where} shows the blood pool and the myocardium barely apart through its noise (contrast-to-noise "
        f"{worst:.1f}, typically about {TYPICAL_CONTRAST_TO_NOISE:.0f}): it may be too dark or too noisy for the model "
        "or a reader to trace the myocardium; a better acquisition may be needed"
    )
