"""The class-prior correction of the label posterior: the decision it makes, its choice, and the model buffer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from GmmSegLib.core.errors import ModelError
from GmmSegLib.core.labels import LV, MYO, RV
from GmmSegLib.inference.cavity_pieces import without_stray_cavity_pieces
from GmmSegLib.inference.segmentation import segment
from GmmSegLib.model.bundle import CHECKPOINT_FORMAT, GmmSegModel, atomic_torch_save, load_model
from GmmSegLib.model.class_prior import OFFSET_GRID, left_ventricle_offsets, offset_labels
from GmmSegLib.training.calibration import choose_delta, offset_scores


def pixel(*probabilities: float) -> np.ndarray:
    """Class probabilities of one pixel as (K, 1, 1, 1)."""
    return np.array(probabilities, np.float32).reshape(-1, 1, 1, 1)


def test_the_offsets_move_the_lv_and_its_wall_against_background_and_rv_only():
    assert left_ventricle_offsets(0.5).tolist() == [0.0, -0.5, -0.5, 0.0]
    wall_or_background = pixel(0.4, 0.0, 0.6, 0.0)  # log odds MYO : background = 0.41
    wall_or_cavity = pixel(0.0, 0.4, 0.6, 0.0)
    wall_or_rv = pixel(0.0, 0.0, 0.6, 0.4)
    assert offset_labels(wall_or_background, 0.0).item() == MYO
    assert offset_labels(wall_or_background, 0.5).item() == 0
    assert offset_labels(wall_or_rv, 0.5).item() == RV
    for delta in OFFSET_GRID:  # the endocardial contour, and with it the ejection fraction, does not move
        assert offset_labels(wall_or_cavity, delta).item() == MYO
        assert offset_labels(pixel(0.0, 0.6, 0.4, 0.0), delta).item() == LV


def test_the_scores_and_the_choice_of_delta():
    truth = np.zeros((1, 4, 4), np.uint8)
    truth[0, 1:3, 1:3] = MYO
    probabilities = np.zeros((4, 1, 4, 4), np.float32)
    probabilities[0] = 1.0
    probabilities[:, 0, 1:3, 1:3] = pixel(0.0, 0.0, 1.0, 0.0)[:, 0]
    probabilities[:, 0, 0, 1:3] = pixel(0.3, 0.0, 0.7, 0.0)[:, 0, 0]  # a wall drawn one row too thick
    scores = offset_scores(probabilities, truth)
    # MYO Dice 8/10 while the extra row stays (log odds 0.85), 1 once delta is past it; LV and RV absent: 1
    np.testing.assert_allclose(scores, [(1 + 1 + 0.8) / 3] * 4 + [1.0] * 3, rtol=1e-6)
    assert choose_delta(scores[None]) == 1.0
    assert choose_delta(np.ones((3, len(OFFSET_GRID)))) == 0.0  # a tie: the smallest correction
    assert choose_delta(np.empty((0, len(OFFSET_GRID)))) == 0.0


def test_inference_decides_as_the_calibration_stage_measured(shipped_model, phantom_volume):
    """The labels under a correction are those the calibration stage scores for it on the uncorrected output."""
    model, _ = shipped_model
    stored = model.class_log_offsets.clone()
    try:
        model.class_log_offsets.zero_()
        uncorrected = segment(phantom_volume, model, "cpu")
        model.class_log_offsets.copy_(left_ventricle_offsets(1.5))
        corrected = segment(phantom_volume, model, "cpu", location=uncorrected.location)
    finally:
        model.class_log_offsets.copy_(stored)
    decided = without_stray_cavity_pieces(offset_labels(uncorrected.probabilities[0], 1.5))
    np.testing.assert_array_equal(corrected.labels[0], decided)
    assert (corrected.labels == MYO).sum() < (uncorrected.labels == MYO).sum()
    np.testing.assert_allclose(corrected.probabilities.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(
        corrected.labels[0], without_stray_cavity_pieces(corrected.probabilities[0].argmax(0))
    )
    # the uncertainty maps come from the model's own posterior: the correction only decides the labels
    np.testing.assert_array_equal(corrected.uncertainty["total"], uncorrected.uncertainty["total"])


def test_checkpoints_from_before_the_correction_load_with_none(tmp_path):
    state = GmmSegModel().state_dict()
    del state["class_log_offsets"]
    path = tmp_path / "v5.pt"
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": {"feature_base": 16, "handedness": True},
            "state": state,
            "metadata": {},
        },
        path,
    )
    model, _ = load_model(path)
    assert torch.equal(model.class_log_offsets, torch.zeros(4))


@pytest.mark.parametrize("change", ["extra key", "missing network"])
def test_weights_that_do_not_fit_are_refused(tmp_path, change):
    state = GmmSegModel().state_dict()
    if change == "extra key":
        state["unknown.weight"] = torch.zeros(1)
    else:
        del state[next(key for key in state if key.startswith("features."))]
    path = tmp_path / "other.pt"
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": {"feature_base": 16, "handedness": True},
            "state": state,
            "metadata": {},
        },
        path,
    )
    with pytest.raises(ModelError, match="do not fit"):
        load_model(path)
