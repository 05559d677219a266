"""Review queue and the error-prediction measures on constructed cases with known answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from uncertainty_calibration import auroc, expected_calibration_error, review_payoff

from GmmSegLib.clinical.review import (
    UNSURE_STACK_SCORE,
    label_review_queue,
    review_queue,
    slice_mean_uncertainty,
    stack_uncertainty,
    whole_stack_warning,
)
from GmmSegLib.inference.case_files import summary_record


def test_auroc_known_values():
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([0, 0])))


def test_ece_of_perfect_and_overconfident_predictions():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 200_000)
    assert expected_calibration_error(confidence, rng.uniform(size=confidence.size) < confidence) < 0.01
    assert expected_calibration_error(np.full(1000, 0.9), np.arange(1000) < 600) == pytest.approx(0.3)


def test_review_payoff_orders():
    errors = np.array([0, 0, 10, 0, 90, 0, 0, 0, 0, 0], float)
    payoff = review_payoff(errors + 0.5, errors)  # a queue that knows the errors equals the oracle
    assert payoff["top_10%"]["queue"] == payoff["top_10%"]["oracle"] == pytest.approx(0.9)
    assert payoff["top_20%"]["queue"] == pytest.approx(1.0)
    assert payoff["top_10%"]["random"] == pytest.approx(0.1, abs=0.05)


def test_review_queue_puts_the_most_uncertain_slice_first():
    uncertainty = np.zeros((1, 3, 40, 40), np.float32)
    labels = np.zeros((1, 3, 40, 40), np.uint8)
    labels[0, :, 10:30, 10:30] = 1
    labels[0, :, 15:25, 15:25] = 2
    uncertainty[0, 1, 5:12, 20:30] = 0.8  # a patch on slice 1 along the LV border
    uncertainty[0, 2, 20:22, 20:22] = 0.9  # too small to be a region
    uncertainty[0, 0, 12:18, 12:18] = 0.5  # slice 0: a larger but milder patch inside the heart
    uncertainty[0, 0, 0:3, 0:3] = 0.4  # outside the heart: a region, but no weight in the slice's score
    queue = review_queue(uncertainty, labels, (1.5, 1.5, 8.0))
    first = queue[0]
    assert (first.frame, first.slice) == (0, 0)
    assert first.slice_score == pytest.approx(36 * 0.5 / 400)
    assert first.bbox == (12, 12, 17, 17) and first.structure == "LV"
    assert first.score == pytest.approx(36 * 0.5 * 2.25) and first.area_mm2 == pytest.approx(36 * 2.25)
    assert (queue[1].slice, queue[1].bbox) == (0, (0, 0, 2, 2))  # slice 0's other region, smaller mass
    second = queue[2]  # then slice 1
    assert (second.frame, second.slice) == (0, 1) and second.bbox == (20, 5, 29, 11)
    assert second.slice_score == pytest.approx(20 * 0.8 / 400)  # 2 of the patch's 7 rows lie in the heart
    assert {(item.frame, item.slice) for item in queue} == {(0, 0), (0, 1), (0, 2)}
    scores = slice_mean_uncertainty(uncertainty, labels)
    assert scores[0, 2] == pytest.approx(4 * 0.9 / 400)
    labels[0, 2] = 0
    assert slice_mean_uncertainty(uncertainty, labels)[0, 2] == 0.0  # no heart, no score


def test_stack_uncertainty_is_the_median_over_the_slices_with_heart():
    labels = np.zeros((2, 4, 3, 3), np.uint8)
    labels[0, 1:, 1, 1] = 1  # frame 0: heart on slices 1-3; frame 1: none
    scores = np.array([[0.9, 0.05, 0.2, 0.06], [0.5, 0.5, 0.5, 0.5]])
    np.testing.assert_allclose(stack_uncertainty(scores, labels), [0.06, 0.0])


def test_a_segmentation_the_model_is_unsure_about_throughout_is_flagged_for_review(automatic, phantom_volume):
    calm = summary_record(automatic, phantom_volume, None)
    assert not calm["review_advised"] and max(calm["stack_uncertainty"]) < UNSURE_STACK_SCORE
    unsure = replace(automatic, slice_uncertainty=np.full_like(automatic.slice_uncertainty, 0.15))
    assert summary_record(unsure, phantom_volume, None)["review_advised"]
    assert whole_stack_warning(calm["stack_uncertainty"]) is None
    assert "unsure about the whole stack (median slice uncertainty 0.15" in whole_stack_warning([0.05, 0.15])


def test_without_uncertainty_the_queue_puts_the_key_frames_and_their_end_slices_first():
    labels = np.zeros((3, 7, 20, 20), np.uint8)
    labels[:, 1:6, 5:15, 5:15] = 1  # heart on slices 1..5 of every frame
    labels[:, 3, 5:15, 5:15] = 2
    queue = label_review_queue(labels, (1.5, 1.5, 8.0), key_frames=(2, 0))
    assert [(item.frame, item.slice) for item in queue[:5]] == [(2, 1), (2, 5), (2, 2), (2, 4), (2, 3)]
    assert [item.frame for item in queue[5:10]] == [0] * 5 and [item.frame for item in queue[10:]] == [1] * 5
    assert queue[0].slice_score is None and queue[0].score == 1.0 and queue[4].structure == "MYO"
    assert queue[0].bbox == (5, 5, 14, 14) and queue[0].area_mm2 == 100 * 1.5 * 1.5
