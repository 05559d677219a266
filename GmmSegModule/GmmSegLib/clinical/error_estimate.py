"""How wrong is a segmentation, estimated from its own class probabilities: per slice and per stack.

With class probabilities q and labels l, a pixel is mislabelled with probability 1 - q[l], so a slice's expected number
of mislabelled pixels is the sum of 1 - q[l] over it, and a structure S's expected Dice is about 2 sum(q_S [l == S]) /
(sum [l == S] + sum q_S). A model's probabilities are usually overconfident (on its out-of-fold predictions v7 made 2.3
times as many errors as its probabilities expect), so they are first softened by a temperature, q ~ p ** (1 /
TEMPERATURE), the model's own (v7's 2.4, v8's 1.4, v9's 2.1, v10's 2.5). The review queue orders slices by their unsure
pixels, those whose label's softened probability is below one half (more likely wrong than right), plus the pixels the
quality check's second pass labels otherwise where there is one (review.slice_scores). One kind of error no probability
foresees: where the expert stops the ventricles at the base (the atria and outflow tracts above look like ventricles),
which makes the basal slice of a stack the most often confidently wrong one; the queue multiplies its score by
``BASAL_WEIGHT``. The slices' Dice estimates come from the softened probabilities alone; a stack's, on a frame the
quality check segmented twice, from them and how well the two passes agree (:meth:`ReviewCalibration.checked_dice`). The
basal slice is the end of the labelled heart range with the larger heart area.

The constants were chosen by cross-validation over patients on out-of-fold predictions only, of the ACDC images
as stored and seen through the benchmarks' synthetic new scanner (``python Testing/benchmarks/bench_review_queue.py
--pooled --predictions runs/s47/eval/oof_clean runs/s47/eval/oof_f0_shifted runs/s47/eval/oof_f1_shifted``;
BENCHMARKS.md, trial "pretrain 120").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import ModelError, described_number
from ..core.labels import STRUCTURES

# The shipped model v10's, which its registry entry also holds (``review_calibration``; a test keeps the two equal);
# a model whose entry or description has none gets these (ReviewCalibration). All of them fitted on the out-of-fold
# predictions of v10's recipe (the 50 labelled patients, ED and ES, each segmented by the cross-validation model that
# never saw it, as stored and through the synthetic new scanner), with the probabilities as a result keeps them
# (GmmSegLib.core.probability_steps), by the rules of Testing/benchmarks/bench_review_queue.py --pooled. They belong to
# that model: another model's probabilities are calibrated otherwise (v7's needed 2.4, v8's 1.4, v9's 2.1).
# Softening of the class probabilities, q ~ p ** (1 / T): the expected number of mislabelled pixels then equals the
# actual one.
TEMPERATURE = 2.5
# The basal slice's queue score (its unsure pixels and those the quality check's passes disagree on, review.
# slice_scores) is multiplied by this: the weight that removes the most errors at the top 20 % of slices. Held out,
# the queue's top 20 % of slices then removes 0.84 (as stored) and 0.80 (new scanner) of what the best order removes.
BASAL_WEIGHT = 2.5
# A frame the quality check segmented twice (GmmSegLib.clinical.quality) has its estimated mean Dice from both the
# softened probabilities and how well the two passes agree (quality.pass_agreement):
#     intercept + weight * probabilities' estimate + weight * agreement, clipped to [0, 1],
# the least-squares fit of the actual mean Dice. The agreement is the stronger sign: a confident failure holds
# still in the probabilities but not when the crop moves. A model calibrated without them keeps the probabilities'
# estimate (weights 0, 1, 0).
CHECKED_DICE_WEIGHTS = (-1.654, 0.8954, 1.8048)
# A stack whose estimated mean Dice (LV, MYO, RV) is below this is flagged for review: the highest cut that flags at
# most 1 in 10 good stacks of the fit. With the share's alarm below, held out it flags 13 of 15 failed stacks (mean
# Dice under 0.8) and 19 of 185 good ones (10.3 %).
REVIEW_DICE = 0.848
# A stack whose unreliable share (GmmSegLib.clinical.quality: the part of the heart that a second pass with the crop
# moved labels otherwise, or that is unsure) is above this is flagged too, with the reason in words: a share no good
# stack reached, so it alarms only on images the model plainly cannot read.
UNRELIABLE_SHARE_LIMIT = 0.1137
# A pixel whose label's softened probability is below this is unsure: more likely wrong than right.
UNSURE = 0.5
# a structure expected to cover less than this many pixels of a slice and labelled in none is absent there
_ABSENT = 0.5


@dataclass(frozen=True)
class ReviewCalibration:
    """The estimator's constants for one model's probabilities: they belong to the model that made a result.

    A model's registry entry or description holds them (``review_calibration``, fitted by
    ``Testing/benchmarks/bench_review_queue.py`` on its out-of-fold predictions); a model without them gets the
    shipped model's (the module constants above).
    """

    temperature: float = TEMPERATURE
    basal_weight: float = BASAL_WEIGHT
    review_dice: float = REVIEW_DICE
    unreliable_share_limit: float = UNRELIABLE_SHARE_LIMIT
    checked_dice_weights: tuple[float, float, float] = CHECKED_DICE_WEIGHTS

    @classmethod
    def of_model(cls, record: dict | None) -> ReviewCalibration:
        """From a model's registry entry or description; the defaults for what it does not give. A model calibrated
        before the weights existed keeps the probabilities' estimate (weights 0, 1, 0), as its review Dice was fitted
        on that."""
        given = (record or {}).get("review_calibration") or {}
        constants = {
            name: described_number(given[name], f"review_calibration.{name}")
            for name in CALIBRATION_CONSTANTS
            if name in given
        }
        weights = given.get("checked_dice_weights", (0.0, 1.0, 0.0) if given else CHECKED_DICE_WEIGHTS)
        if not isinstance(weights, list | tuple) or len(weights) != 3:
            raise ModelError(f"review_calibration.checked_dice_weights: three numbers expected, got {weights!r}")
        return cls(
            **constants,
            checked_dice_weights=tuple(described_number(w, "review_calibration.checked_dice_weights") for w in weights),
        )

    def checked_dice(self, estimated_dice: float, agreement: float) -> float:
        """The estimated mean Dice of a frame segmented twice, from the probabilities' ``estimated_dice`` and the
        passes' ``agreement`` (quality.pass_agreement)."""
        intercept, from_probabilities, from_agreement = self.checked_dice_weights
        return float(np.clip(intercept + from_probabilities * estimated_dice + from_agreement * agreement, 0.0, 1.0))


# the single constants a model's ``review_calibration`` may hold, as ReviewCalibration names them (besides
# ``checked_dice_weights``)
CALIBRATION_CONSTANTS = ("temperature", "basal_weight", "review_dice", "unreliable_share_limit")


@dataclass(frozen=True)
class ExpectedErrors:
    """The expected errors of one stack, per slice: arrays (Z,) and, per structure (LV, MYO, RV), (3, Z)."""

    wrong: np.ndarray  # expected mislabelled pixels of each slice
    unsure: np.ndarray  # unsure pixels of each slice: the review queue's order (review.slice_scores)
    labelled: np.ndarray  # pixels labelled as the structure
    overlap: np.ndarray  # sum of q_S over the pixels labelled S: the expected true positives
    mass: np.ndarray  # sum of q_S over the slice: the expected size of the structure

    def slice_dice(self) -> np.ndarray:
        """(3, Z): each structure's expected Dice on each slice; NaN where it is neither labelled nor expected."""
        return _dice(self.labelled, self.overlap, self.mass)

    def mean_slice_dice(self) -> np.ndarray:
        """(Z,): the mean expected Dice of the structures labelled on each slice; NaN on slices with no heart."""
        dice = np.where(self.labelled > 0, self.slice_dice(), np.nan)
        counted = (self.labelled > 0).sum(axis=0)
        return np.where(counted > 0, np.nansum(dice, axis=0) / np.maximum(counted, 1), np.nan)

    def stack_dice(self) -> float:
        """The mean over LV, MYO and RV of each one's expected Dice over the whole stack (1 with no heart at all);
        a structure absent from the labels and the probabilities alike does not count."""
        dice = _dice(self.labelled.sum(axis=1), self.overlap.sum(axis=1), self.mass.sum(axis=1))
        present = ~np.isnan(dice)
        return float(dice[present].mean()) if present.any() else 1.0


def softened(probabilities: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """Class probabilities (K, ...) raised to 1 / ``temperature`` and normalised again over the classes (axis 0)."""
    q = np.power(np.clip(np.asarray(probabilities, np.float32), 0.0, 1.0), np.float32(1.0 / temperature))
    return q / np.maximum(q.sum(axis=0, keepdims=True), np.float32(1e-12))


def basal_slice(labels: np.ndarray) -> int | None:
    """The slice of labels (Z, Y, X) at the end of the heart range with the larger heart area; None without heart."""
    area = (labels > 0).sum(axis=(1, 2))
    present = np.flatnonzero(area)
    if not present.size:
        return None
    first, last = int(present[0]), int(present[-1])
    return first if area[first] >= area[last] else last


def expected_errors(probabilities: np.ndarray, labels: np.ndarray, temperature: float = TEMPERATURE) -> ExpectedErrors:
    """The expected errors of one stack from its class probabilities (K, Z, Y, X) and labels (Z, Y, X)."""
    window = _uncertain_window(probabilities, labels)
    q = softened(probabilities[(slice(None), slice(None), *window)], temperature)
    labels = np.asarray(labels)[(slice(None), *window)]
    chosen = np.take_along_axis(q, labels[None].astype(np.intp), axis=0)[0]
    unsure = (chosen < UNSURE).sum(axis=(1, 2)).astype(np.float64)
    values = list(STRUCTURES.values())
    masks = np.stack([labels == value for value in values])
    return ExpectedErrors(
        (1.0 - chosen).sum(axis=(1, 2), dtype=np.float64),
        unsure,
        masks.sum(axis=(2, 3)).astype(np.float64),
        np.where(masks, q[values], 0.0).sum(axis=(2, 3), dtype=np.float64),
        q[values].sum(axis=(2, 3), dtype=np.float64),
    )


def _uncertain_window(probabilities: np.ndarray, labels: np.ndarray) -> tuple[slice, slice]:
    """The in-plane box (rows, columns) around every pixel that is not certain background on some slice: outside
    the model's crop the probabilities are exactly background, which adds nothing to any estimate."""
    rows, columns = np.nonzero(((probabilities[0] < 1.0) | (labels > 0)).any(axis=0))
    if not rows.size:
        return slice(0, 0), slice(0, 0)
    return slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1)


def _dice(labelled: np.ndarray, overlap: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """2 overlap / (labelled + mass), NaN where the structure is neither labelled nor expected."""
    total = labelled + mass
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((labelled > 0) | (mass >= _ABSENT), 2.0 * overlap / np.maximum(total, 1e-12), np.nan)
