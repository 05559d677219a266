"""The review-queue benchmark (Testing/benchmarks/bench_review_queue.py) reports the product's whole review flag,
every reason of ``review_advised``, where the stored predictions hold the quality check's second pass."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the benchmarks import the segmentation (torch)")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_review_queue import _applied, fit, report, stack_record  # noqa: E402
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


def test_the_stack_estimate_learns_from_the_passes_agreement_and_the_share_alarms_above_every_good_stack():
    # twelve good stacks and three failed ones; one failure (the last) only its unsteady second pass gives away
    dice = np.array([0.90, 0.91, 0.89, 0.92, 0.88, 0.90, 0.93, 0.90, 0.91, 0.86, 0.88, 0.87, 0.60, 0.70, 0.75])
    estimates = np.array([0.90, 0.90, 0.89, 0.91, 0.89, 0.90, 0.92, 0.90, 0.90, 0.87, 0.88, 0.88, 0.70, 0.76, 0.90])
    agreements = np.array([0.97, 0.98, 0.96, 0.98, 0.96, 0.97, 0.99, 0.97, 0.98, 0.95, 0.96, 0.95, 0.85, 0.90, 0.88])
    shares = np.array([0.03, 0.02, 0.04, 0.02, 0.05, 0.03, 0.02, 0.03, 0.02, 0.06, 0.04, 0.05, 0.30, 0.10, 0.12])
    truth = ring_heart()
    stacks = []
    for n, (actual, estimate, agreement, share) in enumerate(zip(dice, estimates, agreements, shares, strict=True)):
        stack = stack_record(prediction(f"patient{n:03d}_frame01", truth, truth, truth.copy()))
        stacks.append(
            {
                **stack,
                "dice": actual,
                "stack_dice": np.full(len(stack["stack_dice"]), estimate),
                "agreement": agreement,
                "unreliable_share": np.full(len(stack["stack_dice"]), share),
            }
        )
    constants = fit(stacks)
    intercept, from_probabilities, from_agreement = constants["checked_dice_weights"]
    assert from_agreement > 0  # the agreement carries what the probabilities miss
    checked = intercept + from_probabilities * estimates + from_agreement * agreements
    np.testing.assert_allclose(checked.mean(), dice.mean(), atol=1e-3)  # a least-squares fit with an intercept
    flagged = checked < constants["review_dice"]
    assert flagged[12:].all() and flagged[:12].sum() <= 1  # the goal's 1 false flag in 10 (of 12: 1)
    assert not (estimates < constants["review_dice"])[14]  # the probabilities alone would have passed the last
    # the share's alarm sits midway between the largest good share (0.06) and the next larger one (0.10)
    assert constants["unreliable_share_limit"] == pytest.approx(0.08)
    held = [_applied(stack, constants) for stack in stacks]
    assert [stack["flagged"] for stack in held] == list(flagged | (shares > 0.08))
