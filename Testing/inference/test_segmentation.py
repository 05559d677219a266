"""Inference with the shipped model: the prior acts at inference, heads, uncertainty, localisation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.inference.cavity_pieces import without_stray_cavity_pieces
from GmmSegLib.inference.localisation import locate_from_ground_truth, locate_heart
from GmmSegLib.inference.segmentation import segment
from GmmSegLib.inference.stage_clock import STAGES, StageClock
from GmmSegLib.io.images import CardiacImage
from GmmSegLib.model.bundle import GmmSegModel
from GmmSegLib.model.phi import Phi


def test_reapplying_the_automatic_phi_reproduces_the_output(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    again = segment(phantom_volume, model, "cpu", phi=automatic.phi)
    np.testing.assert_array_equal(again.labels, automatic.labels)
    np.testing.assert_allclose(again.probabilities, automatic.probabilities, atol=1e-5)


def test_a_far_off_phi_changes_the_result_through_the_model(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    far = Phi.from_parameters(0.6, 25.0, -25.0, 25.0)
    moved = segment(phantom_volume, model, "cpu", phi=far)
    changed = (moved.labels != automatic.labels).mean()
    assert changed > 0.001
    assert not np.allclose(moved.prior, automatic.prior, atol=1e-3)
    # the uncertainty maps come from d_hat, which sees the prior: they change too
    assert np.abs(moved.uncertainty["total"] - automatic.uncertainty["total"]).max() > 0.05


def test_readouts_share_uncertainty_but_not_labels(shipped_model, phantom_volume, automatic):
    """The baseline's readout takes other class probabilities from the same prediction: the uncertainty maps are
    the product's, the labels are not."""
    from readouts import BASELINE

    model, _ = shipped_model
    baseline = segment(phantom_volume, model, "cpu", readout=BASELINE)
    np.testing.assert_allclose(baseline.uncertainty["total"], automatic.uncertainty["total"], atol=1e-6)
    assert (baseline.labels != automatic.labels).any()


def test_invalid_phi_is_refused(shipped_model, phantom_volume):
    model, _ = shipped_model
    with pytest.raises(GmmSegError, match="given for 2 frames; the image has 1"):
        segment(phantom_volume, model, "cpu", phi=[Phi(), Phi()])
    with pytest.raises(GmmSegError, match="NaN"):
        segment(phantom_volume, model, "cpu", phi=Phi.from_array([np.nan, 0, 0, 0]))


def test_outputs_are_consistent(automatic, phantom_volume):
    assert automatic.labels.shape == phantom_volume.frames.shape
    np.testing.assert_allclose(automatic.probabilities.sum(1), 1.0, atol=1e-4)
    # the labels are the most probable class, each cavity kept to its largest piece
    most_probable = automatic.probabilities[0].argmax(0).astype(np.uint8)
    np.testing.assert_array_equal(automatic.labels[0], without_stray_cavity_pieces(most_probable))
    assert automatic.slice_uncertainty.shape == (1, phantom_volume.frames.shape[1])
    assert np.all((automatic.slice_uncertainty >= 0) & (automatic.slice_uncertainty <= 1))
    timings = automatic.timings  # every stage of a segmentation, in order, then the total
    assert list(timings) == [f"{stage}_s" for stage in STAGES] + ["total_s"]
    # a 3D volume's one frame is segmented by the centring's pass: none is left for the predict stage
    assert timings["predict_s"] == 0 and all(timings[f"{stage}_s"] > 0 for stage in STAGES if stage != "predict")
    assert sum(timings[f"{stage}_s"] for stage in STAGES) <= timings["total_s"]


def test_a_cine_is_timed_by_stage_its_frames_predicted_one_by_one(shipped_model, small_phantom):
    model, _ = shipped_model
    timings = segment(small_phantom.image, model, "cpu").timings
    assert timings["predict_s"] > 0 and timings["native_grid_s"] > 0
    assert sum(timings[f"{stage}_s"] for stage in STAGES) <= timings["total_s"]


def test_a_stage_a_segmentation_does_not_have_is_refused():
    with pytest.raises(ValueError, match="not a stage"):
        with StageClock().stage("localise"):
            pass


def test_localiser_finds_the_phantom_heart(shipped_model, phantom_volume, small_phantom):
    model, _ = shipped_model
    truth = locate_from_ground_truth(small_phantom.labels[0], phantom_volume.spacing_xyz)
    found = locate_heart(model.localiser, phantom_volume.frames[0], phantom_volume.spacing_xyz)
    error_mm = np.hypot(*((found.lv_centre_xy - truth.lv_centre_xy) * 1.5))
    assert error_mm < 6.0
    assert abs(math.remainder(found.angle - truth.angle, 2 * math.pi)) < math.radians(20)


def test_blank_slices_are_left_out_and_labelled_background(shipped_model, phantom_volume, automatic):
    """Zero-filled and constant slices around the stack change nothing on the others and get no heart.

    Without this the networks draw a heart into a flat crop (hundreds of pixels of each structure).
    """
    model, _ = shipped_model
    frames = phantom_volume.frames
    padded = np.concatenate([np.zeros_like(frames[:, :1]), frames, np.full_like(frames[:, :1], frames.mean())], 1)
    image = CardiacImage(padded, phantom_volume.geometry, "padded")
    result = segment(image, model, "cpu")
    assert result.blank_slices == [0, padded.shape[1] - 1]
    np.testing.assert_array_equal(result.labels[:, 1:-1], automatic.labels)
    np.testing.assert_allclose(result.probabilities[:, :, 1:-1], automatic.probabilities, atol=1e-6)
    assert not result.labels[:, [0, -1]].any()
    np.testing.assert_array_equal(result.probabilities[:, 0, [0, -1]], 1.0)
    for maps in result.uncertainty.values():
        assert not maps[:, [0, -1]].any()
    assert result.slice_uncertainty.shape == (1, padded.shape[1])
    assert len(result.location.positions) == padded.shape[1]
    np.testing.assert_allclose(result.location.positions[1:-1], automatic.location.positions)
    # the returned location re-runs the same segmentation (as re-registration does)
    again = segment(image, model, "cpu", location=result.location, phi=result.phi)
    np.testing.assert_array_equal(again.labels, result.labels)


def test_a_model_with_slice_context_reads_a_stack_the_same_way_in_either_storage_order(shipped_model, phantom_volume):
    """Neighbouring slices reach the feature U-Net in base-to-apex order: the stack stored the other way
    round gets the same outputs, slice for slice (a context model with fresh, untrained feature weights,
    whose input channels are anything but interchangeable)."""
    shipped, _ = shipped_model
    torch.manual_seed(0)
    model = GmmSegModel(context_slices=1)
    model.load_weights(
        {k: v for k, v in shipped.state_dict().items() if not k.startswith(("features.", "heads."))},
        optional_prefixes=("features.", "heads."),
    )
    model.eval()
    stored = segment(phantom_volume, model, "cpu")
    reversed_stack = CardiacImage(
        np.ascontiguousarray(phantom_volume.frames[:, ::-1]), phantom_volume.geometry, "reversed"
    )
    location = replace(stored.location, positions=stored.location.positions[::-1].copy())
    assert stored.location.base_first != location.base_first
    turned = segment(reversed_stack, model, "cpu", phi=stored.phi, location=location)
    np.testing.assert_allclose(turned.probabilities[:, :, ::-1], stored.probabilities, atol=1e-5)
    np.testing.assert_allclose(turned.uncertainty["total"][:, ::-1], stored.uncertainty["total"], atol=1e-5)


def test_a_model_prepared_for_inference_on_the_cpu_segments_as_before(phantom_volume, automatic):
    """Channels-last weights (faster convolutions on the CPU) change the outputs by float rounding only."""
    from GmmSegLib.model.registry import load_registered

    model, _ = load_registered()
    assert model.prepared_for_inference("cpu") is model
    assert model.features.down[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    prepared = segment(phantom_volume, model, "cpu")
    np.testing.assert_allclose(prepared.probabilities, automatic.probabilities, atol=1e-3)
    assert (prepared.labels != automatic.labels).mean() < 1e-4
