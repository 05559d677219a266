"""The review-queue benchmark (Testing/benchmarks/bench_review_queue.py) reports the product's whole review flag,
every reason of ``review_advised``, where the stored predictions hold the quality check's second pass."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the benchmarks import the segmentation (torch)")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_review_queue import _applied, _stack_flag, report, stack_record  # noqa: E402
from oof_predictions import CasePrediction  # noqa: E402

from GmmSegLib.io.acdc import AcdcCase  # noqa: E402

SURE = {"temperature": 1.0, "basal_weight": 1.0, "review_dice": 0.5, "unreliable_share_limit": 0.1}


def ring_heart() -> np.ndarray:
    """Labels (Z, Y, X) of a plausible short-axis stack: an LV disc, a myocardial ring, an RV beside them."""
    yy, xx = np.mgrid[:48, :48]
    radius = np.hypot(yy - 24, xx - 20)
    frame = np.zeros((48, 48), np.uint8)
    frame[(np.abs(yy - 24) < 8) & (xx >= 32) & (xx < 40)] = 3
    frame[radius < 9] = 2
    frame[radius < 6] = 1
    return np.repeat(frame[None], 6, axis=0)


def prediction(name: str, labels: np.ndarray, truth: np.ndarray, second: np.ndarray | None) -> CasePrediction:
    """A stored prediction whose probabilities are sure of ``labels``."""
    probabilities = np.stack([(labels == k).astype(np.float32) for k in range(4)]).clip(1e-4, 1.0)
    return CasePrediction(
        AcdcCase(name, name.split("_")[0], "ED", "NOR"),
        1,
        labels,
        probabilities / probabilities.sum(0),
        truth,
        (1.5, 1.5, 10.0),
        second_pass=second,
    )


def test_a_confident_failure_that_a_second_pass_contradicts_is_advised_for_review():
    truth = ring_heart()
    wrong = np.roll(truth, 6, axis=2)  # shifted by 9 mm: mean Dice far below 0.8, though the model is sure
    good = _applied(stack_record(prediction("patient001_frame01", truth, truth, truth.copy())), SURE)
    failed = _applied(stack_record(prediction("patient002_frame01", wrong, truth, truth.copy())), SURE)
    assert failed["dice"] < 0.8 <= good["dice"]
    assert not failed["low_dice"]  # the estimated Dice alone misses it: every pixel is sure
    assert failed["unreliable"] and failed["flagged"] and failed["review_advised"]
    assert not good["review_advised"]
    flag = report([good, failed])["product_flag"]
    assert flag["review_advised"] == {"failed_flagged": 1, "good_flagged": 0}
    assert flag["estimated_dice"] == {"failed_flagged": 0, "good_flagged": 0}
    assert flag["advised_failed"] == ["patient002_frame01"]


def test_predictions_stored_before_the_second_pass_report_no_product_flag():
    truth = ring_heart()
    stacks = [
        _applied(stack_record(prediction(f"patient00{n}_frame01", np.roll(truth, n, axis=2), truth, None)), SURE)
        for n in (1, 2)
    ]
    assert all("review_advised" not in stack for stack in stacks)
    assert "product_flag" not in report(stacks)


def test_the_stack_flag_takes_the_cuts_that_catch_the_most_failures_within_one_false_flag_in_ten():
    # ten good stacks, two failed: one only the share sees (sure but unstable), one only the estimate sees
    estimates = np.array([0.90, 0.91, 0.89, 0.92, 0.88, 0.90, 0.93, 0.90, 0.91, 0.86, 0.90, 0.70])
    shares = np.array([0.02, 0.03, 0.02, 0.04, 0.03, 0.05, 0.02, 0.03, 0.09, 0.03, 0.20, 0.04])
    failed = np.array([False] * 10 + [True, True])
    flag = _stack_flag(estimates, shares, failed)
    flagged = (estimates < flag["review_dice"]) | (shares > flag["unreliable_share_limit"])
    assert flagged[failed].all() and flagged[~failed].sum() <= 1
    # the quietest cuts that do it: nothing good flagged, the Dice cut just above the failure it must catch
    assert not flagged[~failed].any()
    assert 0.70 < flag["review_dice"] <= 0.78 and 0.09 <= flag["unreliable_share_limit"] < 0.20
