"""The error estimate behind the review queue and the stack flag, on constructed probabilities with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from GmmSegLib.clinical.error_estimate import basal_slice, expected_errors, softened
from GmmSegLib.clinical.review import slice_scores


def _probabilities(labels: np.ndarray, certainty: float) -> np.ndarray:
    """(K, Z, Y, X): each pixel's label has ``certainty``, the other classes share the rest."""
    one_hot = np.stack([labels == k for k in range(4)]).astype(np.float32)
    return one_hot * certainty + (1.0 - one_hot) * (1.0 - certainty) / 3


def _stack() -> np.ndarray:
    labels = np.zeros((3, 40, 40), np.uint8)
    labels[:, 10:30, 10:30] = 3
    labels[:, 12:24, 12:24] = 2
    labels[:, 14:22, 14:22] = 1
    labels[0, 10:30, 25:30] = 0  # slice 0 smaller than slice 2: the basal end is slice 2
    return labels


def test_sure_and_right_labels_expect_no_error_and_a_dice_of_one():
    labels = _stack()
    estimate = expected_errors(_probabilities(labels, 1.0), labels)
    np.testing.assert_allclose(estimate.wrong, 0.0, atol=1e-6)
    np.testing.assert_allclose(estimate.unsure, 0.0)
    np.testing.assert_allclose(estimate.slice_dice(), 1.0)
    assert estimate.stack_dice() == pytest.approx(1.0)


def test_expected_dice_follows_the_formula_at_temperature_one():
    """LV labelled on 64 pixels with probability 0.8, the rest of its probability on the other classes:
    Dice = 2 * 0.8 * 64 / (64 + 0.8 * 64 + 0.2 / 3 * (1600 - 64)) on each slice."""
    labels = np.zeros((2, 40, 40), np.uint8)
    labels[:, 14:22, 14:22] = 1
    estimate = expected_errors(_probabilities(labels, 0.8), labels, temperature=1.0)
    expected = 2 * 0.8 * 64 / (64 + 0.8 * 64 + 0.2 / 3 * (1600 - 64))
    assert estimate.slice_dice()[0] == pytest.approx([expected] * 2, rel=1e-4)
    np.testing.assert_allclose(estimate.slice_dice()[1:], 0.0)  # MYO, RV: labelled nowhere, expected on 107 px each
    assert estimate.stack_dice() == pytest.approx(expected / 3, rel=1e-4)
    np.testing.assert_allclose(estimate.wrong, 0.2 * 1600, rtol=1e-4)
    assert estimate.mean_slice_dice() == pytest.approx([expected] * 2, rel=1e-4)


def test_softening_leaves_sure_pixels_and_makes_unsure_ones_less_sure():
    p = np.array([[1.0, 0.9, 0.5], [0.0, 0.1, 0.5]], np.float32)
    q = softened(p, 2.0)
    np.testing.assert_allclose(q[:, 0], [1.0, 0.0])
    np.testing.assert_allclose(q[:, 2], [0.5, 0.5])
    assert q[0, 1] == pytest.approx(0.75, abs=1e-6)  # sqrt(0.9) / (sqrt(0.9) + sqrt(0.1))
    np.testing.assert_allclose(softened(p, 1.0), p)


def test_the_basal_slice_is_weighted_in_the_queue_but_not_in_the_expected_errors_or_the_dice():
    labels = _stack()
    probabilities = _probabilities(labels, 0.4)
    assert basal_slice(labels) == 2 and basal_slice(np.zeros_like(labels)) is None
    estimate = expected_errors(probabilities, labels, temperature=1.0)
    np.testing.assert_allclose(slice_scores(estimate.unsure, None, labels, 3.0), estimate.unsure * [1, 1, 3])
    # the slices the quality check saw labelled otherwise by its second pass come first, the basal one weighted too
    moved = [0, 40, 10]
    np.testing.assert_allclose(slice_scores(estimate.unsure, moved, labels, 3.0), (estimate.unsure + moved) * [1, 1, 3])


def test_unsure_pixels_are_those_whose_label_is_more_likely_wrong_than_right():
    """The queue counts pixels, not probability: a slice where a patch is held at 0.4 comes before one where every
    pixel keeps 0.6, though the second's expected errors are larger."""
    labels = np.zeros((2, 40, 40), np.uint8)
    labels[:, 10:30, 10:30] = 1
    probabilities = _probabilities(labels, 1.0)
    probabilities[:, 0, 10:30, 10:30] = _probabilities(labels[:1, 10:30, 10:30], 0.6)[:, 0]
    probabilities[:, 1, 10:15, 10:15] = _probabilities(labels[1:, 10:15, 10:15], 0.4)[:, 0]
    estimate = expected_errors(probabilities, labels, temperature=1.0)
    np.testing.assert_allclose(estimate.unsure, [0, 25])
    np.testing.assert_allclose(estimate.wrong, [0.4 * 400, 0.6 * 25], rtol=1e-5)


def test_pixels_far_from_the_labels_count_when_the_model_is_unsure_there():
    """The estimate looks only inside the box of what is not certain background: an unsure pixel anywhere widens it."""
    labels = _stack()
    probabilities = _probabilities(labels, 1.0)
    alone = expected_errors(probabilities, labels, temperature=1.0).wrong
    probabilities[:, 1, 0, 39] = [0.7, 0.3, 0.0, 0.0]
    assert expected_errors(probabilities, labels, temperature=1.0).wrong - alone == pytest.approx([0, 0.3, 0], abs=1e-5)


def test_a_stack_without_heart_has_nothing_to_estimate():
    labels = np.zeros((2, 10, 10), np.uint8)
    estimate = expected_errors(_probabilities(labels, 1.0), labels)
    assert estimate.stack_dice() == 1.0 and np.isnan(estimate.mean_slice_dice()).all()
