"""The trainer's calibration stage: choosing the class-prior correction by the Dice of the labelled stacks.

No training: every candidate correction of :data:`~GmmSegLib.model.class_prior.OFFSET_GRID` is applied to the
labelled stacks' class probabilities exactly as inference applies it (:mod:`GmmSegLib.model.class_prior`), and
the one with the best mean Dice is kept.
"""

from __future__ import annotations

import numpy as np

from ..core.labels import STRUCTURES
from ..evaluation.metrics import dice
from ..model.class_prior import OFFSET_GRID, offset_labels


def mean_structure_dice(labels: np.ndarray, truth: np.ndarray) -> float:
    """Mean Dice of LV, MYO and RV for two product-convention label maps."""
    return float(np.mean([dice(labels == value, truth == value) for value in STRUCTURES.values()]))


def offset_scores(probabilities: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean structure Dice of one volume (K, Z, Y, X) against ``truth`` at every delta of the grid."""
    return np.array([mean_structure_dice(offset_labels(probabilities, delta), truth) for delta in OFFSET_GRID])


def choose_delta(scores: np.ndarray) -> float:
    """The delta whose mean score over volumes (V, len(OFFSET_GRID)) is highest; on a tie the smallest
    correction, and none without volumes."""
    if len(scores) == 0:
        return 0.0
    means = np.asarray(scores).mean(axis=0).round(6)
    return OFFSET_GRID[int(np.argmax(means))]
