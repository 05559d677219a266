"""The end-systolic cavity correction (GmmSegLib.inference.end_systole): the LV cavity of a contracted heart drawn
smaller by the model's fitted offset, in proportion to how much of its end-diastolic cavity it has ejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import requires_torch
from GmmSegLib.core.errors import ModelError
from GmmSegLib.core.labels import LV
from GmmSegLib.inference.end_systole import ejected, frame_corrections, lv_log_offset_of


def test_a_frame_is_corrected_by_the_part_of_the_end_diastolic_cavity_it_has_ejected():
    np.testing.assert_allclose(ejected([120.0, 90.0, 48.0, 120.0]), [0.0, 0.25, 0.6, 0.0])
    corrections = frame_corrections([120.0, 90.0, 48.0, 120.0], -1.4)
    assert sorted(corrections) == [1, 2]  # end-diastole (both frames at the largest cavity) is left alone
    assert corrections[2][LV] == pytest.approx(-1.4 * 0.6) and corrections[1][LV] == pytest.approx(-1.4 * 0.25)
    assert torch.count_nonzero(corrections[2]) == 1  # only the cavity's weight changes
    # nothing to correct: one frame, no cavity, no offset
    assert frame_corrections([120.0], -1.4) == {} and frame_corrections([0.0, 0.0], -1.4) == {}
    assert frame_corrections([120.0, 48.0], 0.0) == {}


def test_the_offset_is_the_models_own_and_absent_without_an_entry():
    assert lv_log_offset_of({"end_systolic_correction": {"lv_log_offset": -1.4, "fitted_on": "folds"}}) == -1.4
    assert lv_log_offset_of({"id": "trained here, no correction fitted"}) == 0.0
    assert lv_log_offset_of(None) == 0.0
    for damaged in (float("nan"), "-1.4", None, True):  # a tampered description: the model's error, in one line
        with pytest.raises(ModelError, match="lv_log_offset: a finite number expected"):
            lv_log_offset_of({"end_systolic_correction": {"lv_log_offset": damaged}})


@pytest.mark.slow
@requires_torch
def test_a_cine_is_segmented_with_its_end_systolic_cavity_corrected_and_its_end_diastole_untouched(
    shipped_model, small_phantom
):
    from GmmSegLib.inference.end_systole import lv_log_offset_of
    from GmmSegLib.inference.segmentation import segment

    model, entry = shipped_model
    offset = lv_log_offset_of(entry.record)
    assert offset < 0  # the shipped model has one (its registry entry)
    image = small_phantom.image
    plain = segment(image, model, "cpu")
    corrected = segment(image, model, "cpu", end_systolic_lv_offset=offset)
    ed = int(np.argmax([v["LV"] for v in plain.volumes_ml]))
    es = int(np.argmin([v["LV"] for v in plain.volumes_ml]))
    np.testing.assert_array_equal(corrected.labels[ed], plain.labels[ed])
    np.testing.assert_array_equal(corrected.probabilities[ed], plain.probabilities[ed])
    assert corrected.volumes_ml[es]["LV"] < plain.volumes_ml[es]["LV"]
    assert (corrected.labels[es] == LV).sum() == pytest.approx(
        corrected.volumes_ml[es]["LV"] / (np.prod(image.spacing_xyz) / 1000)
    )
    np.testing.assert_allclose(corrected.probabilities[es].sum(axis=0), 1.0, atol=1e-5)
    assert (corrected.probabilities[es][LV] <= plain.probabilities[es][LV] + 1e-6).all()
    # the quality check's second pass of end-systole is decided with the same correction
    assert (corrected.second_pass_labels[es] == LV).sum() < (plain.second_pass_labels[es] == LV).sum()
    # a single stack has no phase: the same labels with or without the offset
    volume = image.frame_volume(es)
    np.testing.assert_array_equal(
        segment(volume, model, "cpu", end_systolic_lv_offset=offset).labels, segment(volume, model, "cpu").labels
    )


@pytest.mark.slow
@requires_torch
def test_every_road_to_a_segmentation_applies_the_correction_of_the_model_that_made_it(shipped_model, small_phantom):
    from dataclasses import replace

    from GmmSegLib.inference.case_run import segment_case

    model, entry = shipped_model
    image = small_phantom.image
    with_entry, summary = segment_case(image, model, entry, "cpu")
    uncorrected = replace(entry, record={k: v for k, v in entry.record.items() if k != "end_systolic_correction"})
    without, plain_summary = segment_case(image, model, uncorrected, "cpu")
    es = int(np.argmin([v["LV"] for v in without.volumes_ml]))
    assert with_entry.volumes_ml[es]["LV"] < without.volumes_ml[es]["LV"]
    # the indices come from the corrected labels: a larger ejection fraction; the summary says what was applied
    assert summary.clinical_indices["lv_ef"] > plain_summary.clinical_indices["lv_ef"]
    assert (
        summary.end_systolic_lv_offset == lv_log_offset_of(entry.record) and plain_summary.end_systolic_lv_offset == 0
    )
    assert summary.to_json()["end_systolic_lv_offset"] == summary.end_systolic_lv_offset
    _, stack_summary = segment_case(image.frame_volume(0), model, entry, "cpu")
    assert stack_summary.end_systolic_lv_offset == 0  # a single stack has no phase to correct


@pytest.mark.slow
@requires_torch
def test_a_cine_with_a_blank_slice_is_corrected_as_one_without(shipped_model, small_phantom):
    """Blank slices are segmented around (segmentation._around_blank_slices): the correction reaches the slices that
    hold an image, and the result says which offset its frames were decided with."""
    from dataclasses import replace

    from GmmSegLib.inference.segmentation import segment

    model, entry = shipped_model
    offset = lv_log_offset_of(entry.record)
    frames = small_phantom.image.frames.copy()
    frames[:, -1] = 0.0  # the last slice missing from the series, zero-filled
    image = replace(small_phantom.image, frames=frames)
    corrected = segment(image, model, "cpu", end_systolic_lv_offset=offset)
    plain = segment(image, model, "cpu")
    assert corrected.blank_slices == [frames.shape[1] - 1] and corrected.end_systolic_lv_offset == offset
    assert plain.end_systolic_lv_offset == 0
    es = int(np.argmin([v["LV"] for v in plain.volumes_ml]))
    assert corrected.volumes_ml[es]["LV"] < plain.volumes_ml[es]["LV"]
    assert not (corrected.labels[:, -1] > 0).any()
