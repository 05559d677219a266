"""Review queue and the error-prediction measures on constructed cases with known answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from uncertainty_calibration import auroc, expected_calibration_error, review_payoff

from GmmSegLib.clinical.error_estimate import BASAL_WEIGHT, REVIEW_DICE, ReviewCalibration
from GmmSegLib.clinical.quality import pass_agreement
from GmmSegLib.clinical.review import (
    label_review_queue,
    review_queue,
    slice_mean_uncertainty,
    stack_estimated_dice,
    whole_stack_warning,
)
from GmmSegLib.core.errors import ModelError
from GmmSegLib.core.probability_steps import as_kept
from GmmSegLib.inference.case_files import summarise_case


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


def _confident(labels: np.ndarray, certainty: float = 1.0) -> np.ndarray:
    """Class probabilities (T, K, Z, Y, X) that give each pixel's label ``certainty``, the rest spread evenly."""
    one_hot = np.stack([labels == k for k in range(4)], axis=1).astype(np.float32)
    return one_hot * certainty + (1.0 - one_hot) * (1.0 - certainty) / 3


def test_review_queue_puts_the_slice_with_the_most_expected_errors_first_not_the_most_uncertain_one():
    """Slice 1: a small heart that the model is entirely unsure of (the highest mean uncertainty, first in the old
    order); slice 2: a large heart, half of it labelled with probability 0.6: many more pixels are expected wrong."""
    labels = np.zeros((1, 4, 60, 60), np.uint8)
    labels[0, 0, 20:30, 20:30] = 1  # slice 0: the basal end (the larger end area), sure
    labels[0, 1, 28:32, 28:33] = 1  # slice 1: 20 pixels
    labels[0, 2, 10:50, 10:50] = 1  # slice 2: 1600 pixels
    labels[0, 3, 25:30, 25:30] = 1  # slice 3: the apical end, sure
    probabilities = _confident(labels)
    probabilities[0, :, 1, 28:32, 28:33] = _confident(labels[:, 1:2, 28:32, 28:33], 0.4)[0, :, 0]
    probabilities[0, :, 2, 10:30, 10:50] = _confident(labels[:, 2:3, 10:30, 10:50], 0.6)[0, :, 0]
    uncertainty = -(probabilities * np.log(np.clip(probabilities, 1e-12, 1))).sum(axis=1) / np.log(4)
    old = slice_mean_uncertainty(uncertainty, labels)[0]
    assert old[1] > old[2]  # the old score put the small unsure slice first
    queue = review_queue(uncertainty, probabilities, labels, (1.5, 1.5, 8.0))
    assert [item.slice for item in queue][:2] == [2, 1]
    first = queue[0]
    assert first.slice_score > 10 * queue[-1].slice_score >= 0  # mm^2 of expected errors
    assert 0.5 < first.estimated_dice < 1.0
    assert {item.slice: item.estimated_dice for item in queue}[0] == pytest.approx(1.0)  # sure and right
    assert set(first.to_dict()) >= {"slice_score", "estimated_dice", "bbox", "structure"}


def test_a_sure_slice_that_the_second_pass_labels_otherwise_comes_first_on_the_checked_frame():
    """A confident error shows in no probability; it shows in the quality check's second pass, which labels the
    slice otherwise when the crop moves. Frames without a second pass keep their unsure pixels alone."""
    labels = np.zeros((2, 3, 40, 40), np.uint8)
    labels[:, 0, 15:25, 15:25] = 1  # the apical end, 100 pixels
    labels[:, 1:, 10:30, 10:30] = 1  # slice 2, the larger end, is the basal one
    probabilities = _confident(labels)
    probabilities[:, :, 1, 10:15, 10:30] = _confident(labels[:, 1:2, 10:15, 10:30], 0.4)[:, :, 0]  # 100 unsure
    uncertainty = np.zeros(labels.shape, np.float32)
    pixel_mm2 = 1.5 * 1.5
    plain = review_queue(uncertainty, probabilities, labels, (1.5, 1.5, 8.0), calibration=ReviewCalibration())
    assert [(item.frame, item.slice) for item in plain[:2]] == [(0, 1), (1, 1)]
    checked = review_queue(
        uncertainty,
        probabilities,
        labels,
        (1.5, 1.5, 8.0),
        calibration=ReviewCalibration(),
        disagreement={1: [0, 0, 150]},
    )
    scores = {(item.frame, item.slice): item.slice_score for item in checked}
    assert (checked[0].frame, checked[0].slice) == (1, 2)
    assert scores[(1, 2)] == pytest.approx(150 * BASAL_WEIGHT * pixel_mm2)  # the basal slice, weighted
    assert scores[(0, 2)] == 0.0 and scores[(1, 1)] == scores[(0, 1)] == pytest.approx(100 * pixel_mm2)


def test_review_queue_reads_the_probabilities_frame_by_frame():
    """The scene hands the probabilities as a sequence of frames (K, Z, Y, X), read on first use."""
    labels = np.zeros((2, 2, 20, 20), np.uint8)
    labels[:, :, 5:15, 5:15] = 1
    probabilities = _confident(labels, 0.9)
    uncertainty = np.zeros(labels.shape, np.float32)
    as_array = review_queue(uncertainty, probabilities, labels, (1.5, 1.5, 8.0))
    as_frames = review_queue(uncertainty, list(probabilities), labels, (1.5, 1.5, 8.0))
    assert [item.to_dict() for item in as_array] == [item.to_dict() for item in as_frames]


def test_a_segmentation_with_a_poor_estimated_dice_is_flagged_for_review(automatic, phantom_volume):
    calm = summarise_case(automatic, phantom_volume, None)
    assert not calm.review_advised and min(calm.estimated_dice) > REVIEW_DICE
    heart = automatic.labels > 0
    blurred = np.where(heart[:, None], 0.25, automatic.probabilities)  # the model as unsure as it can be in the heart
    unsure = replace(automatic, probabilities=blurred)
    record = summarise_case(unsure, phantom_volume, None)
    assert record.review_advised and record.estimated_dice[0] < REVIEW_DICE
    # the JSON's estimate is made from the probabilities as a result keeps them, as the module's is; on the frame
    # the quality check segmented twice, with the two passes' agreement
    from_probabilities = stack_estimated_dice(map(as_kept, blurred), automatic.labels)
    checked = dict.fromkeys(range(len(from_probabilities)), None) | {
        t: pass_agreement(automatic.labels[t], second) for t, second in automatic.second_pass_labels.items()
    }
    assert checked[0] is not None
    expected = [
        estimate if agreement is None else ReviewCalibration().checked_dice(estimate, agreement)
        for estimate, agreement in zip(from_probabilities, checked.values(), strict=True)
    ]
    assert record.estimated_dice == pytest.approx(expected, abs=1e-4)
    assert whole_stack_warning(calm.estimated_dice) is None
    assert "probably poor (estimated mean Dice 0.52" in whole_stack_warning([0.91, 0.52])


def test_without_uncertainty_the_queue_puts_the_key_frames_and_their_end_slices_first():
    labels = np.zeros((3, 7, 20, 20), np.uint8)
    labels[:, 1:6, 5:15, 5:15] = 1  # heart on slices 1..5 of every frame
    labels[:, 3, 5:15, 5:15] = 2
    queue = label_review_queue(labels, (1.5, 1.5, 8.0), key_frames=(2, 0))
    assert [(item.frame, item.slice) for item in queue[:5]] == [(2, 1), (2, 5), (2, 2), (2, 4), (2, 3)]
    assert [item.frame for item in queue[5:10]] == [0] * 5 and [item.frame for item in queue[10:]] == [1] * 5
    assert queue[0].slice_score is None and queue[0].score == 1.0 and queue[4].structure == "MYO"
    assert queue[0].bbox == (5, 5, 14, 14) and queue[0].area_mm2 == 100 * 1.5 * 1.5


def test_the_review_estimate_takes_the_constants_of_the_model_that_made_the_result(
    automatic, phantom_volume, shipped_model
):
    """A model's registry entry carries its calibration; the shipped model's equals the code's defaults; another
    model's applies to its results (here a flag threshold no stack passes)."""
    _, entry = shipped_model
    assert ReviewCalibration.of_model(entry.record) == ReviewCalibration()
    assert ReviewCalibration.of_model({"id": "adapted, no calibration"}) == ReviewCalibration()
    assert not summarise_case(automatic, phantom_volume, entry).review_advised
    strict = replace(
        entry,
        record={**entry.record, "review_calibration": {**entry.record["review_calibration"], "review_dice": 0.999}},
    )
    record = summarise_case(automatic, phantom_volume, strict)
    assert record.review_advised and any("probably poor" in reason for reason in record.review_reasons)


def test_a_checked_frame_whose_second_pass_disagrees_gets_a_lower_estimated_dice(
    automatic, phantom_volume, shipped_model
):
    """The stack estimate of a frame segmented twice weighs the two passes' agreement: a second pass that labels the
    heart elsewhere (a confident failure that does not hold still) lowers it, and flags the stack, although the
    probabilities are as sure as before."""
    _, entry = shipped_model
    steady = summarise_case(automatic, phantom_volume, entry)
    moved = {t: np.roll(second, 8, axis=-1) for t, second in automatic.second_pass_labels.items()}
    unsteady = summarise_case(replace(automatic, second_pass_labels=moved), phantom_volume, entry)
    assert unsteady.estimated_dice[0] < steady.estimated_dice[0] - 0.1
    assert unsteady.review_advised and any("probably poor" in reason for reason in unsteady.review_reasons)
    # a model calibrated before the agreement counted keeps the probabilities' estimate
    old = ReviewCalibration.of_model({"review_calibration": {"temperature": 2.1, "review_dice": 0.85}})
    assert old.checked_dice(0.87, 0.2) == 0.87 and old.review_dice == 0.85
    # a damaged or tampered description is the model's error, said in one line
    for damaged, message in (
        ({"checked_dice_weights": [1.0, 2.0]}, "three numbers"),
        ({"checked_dice_weights": None}, "three numbers"),
        ({"checked_dice_weights": [1.0, float("nan"), 0.0]}, "finite number"),
        ({"review_dice": "high"}, "finite number"),
        ({"temperature": float("inf")}, "finite number"),
    ):
        with pytest.raises(ModelError, match=message):
            ReviewCalibration.of_model({"review_calibration": damaged})


def test_the_stack_flag_judges_the_frames_the_quality_check_segmented_twice(automatic, phantom_volume, shipped_model):
    """The flag's cut was fitted on frames segmented twice (a stack's one, ED and ES of a cine), whose estimate
    weighs the passes' agreement. A cine's other frames are estimated from the probabilities alone, which reads lower:
    a doubtful one of those is shown in ``estimated_dice`` but does not raise "probably poor"; a doubtful checked
    frame does."""
    _, entry = shipped_model

    def two_frames(first, second):
        return np.concatenate([first, second])

    heart = automatic.labels > 0
    unsure = np.where(heart[:, None], 0.25, automatic.probabilities)
    cine_image = replace(phantom_volume, frames=two_frames(phantom_volume.frames, phantom_volume.frames))

    def cine(probabilities_of_frame_1):
        return replace(
            automatic,
            labels=two_frames(automatic.labels, automatic.labels),
            probabilities=two_frames(automatic.probabilities, probabilities_of_frame_1),
            uncertainty={kind: two_frames(maps, maps) for kind, maps in automatic.uncertainty.items()},
            prior=two_frames(automatic.prior, automatic.prior),
            phi=automatic.phi * 2,
            slice_uncertainty=two_frames(automatic.slice_uncertainty, automatic.slice_uncertainty),
            volumes_ml=automatic.volumes_ml * 2,
        )

    unchecked_doubt = summarise_case(cine(unsure), cine_image, entry)
    assert sorted(automatic.second_pass_labels) == [0]  # frame 1 is not checked
    assert unchecked_doubt.estimated_dice[1] < REVIEW_DICE < unchecked_doubt.estimated_dice[0]
    assert not any("probably poor" in reason for reason in unchecked_doubt.review_reasons)
    doubtful_checked = summarise_case(
        replace(cine(unsure), second_pass_labels={1: automatic.second_pass_labels[0]}), cine_image, entry
    )
    assert any("probably poor" in reason for reason in doubtful_checked.review_reasons)
