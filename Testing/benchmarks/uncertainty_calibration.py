"""How well uncertainty predicts errors: AUROC, expected calibration error, review-queue payoff.

Used by the uncertainty benchmark on the validation split; the functions take plain arrays so that they
can be tested on constructed cases with known answers.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for detecting ``positives`` (Mann-Whitney U, ties averaged)."""
    scores, positives = np.asarray(scores, np.float64).ravel(), np.asarray(positives, bool).ravel()
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float(stats.mannwhitneyu(scores[positives], scores[~positives]).statistic / (n_pos * n_neg))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over equal-width bins."""
    confidence, correct = np.asarray(confidence, np.float64).ravel(), np.asarray(correct, bool).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(total)


def review_payoff(
    scores: np.ndarray, errors: np.ndarray, fractions: tuple[float, ...] = (0.1, 0.2, 0.3), seed: int = 0
) -> dict[str, dict[str, float]]:
    """Share of all wrong voxels removed when the top fraction of slices is corrected.

    ``scores`` and ``errors`` are per slice (the queue's score and the slice's number of wrong voxels).
    Compared with the oracle order (most errors first) and a random order (mean of 100 shuffles).
    """
    scores, errors = np.asarray(scores, np.float64).ravel(), np.asarray(errors, np.float64).ravel()
    total = errors.sum()
    rng = np.random.default_rng(seed)
    result: dict[str, dict[str, float]] = {}
    for fraction in fractions:
        count = int(round(fraction * errors.size))
        by_queue = errors[np.argsort(-scores, kind="stable")][:count].sum()
        by_oracle = np.sort(errors)[::-1][:count].sum()
        by_random = np.mean([errors[rng.permutation(errors.size)[:count]].sum() for _ in range(100)])
        result[f"top_{int(round(fraction * 100))}%"] = {
            "queue": float(by_queue / total) if total else float("nan"),
            "random": float(by_random / total) if total else float("nan"),
            "oracle": float(by_oracle / total) if total else float("nan"),
        }
    return result
