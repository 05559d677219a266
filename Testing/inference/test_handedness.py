"""Mirrored stacks: recognised by the shipped model's handedness net and segmented as if stored the usual way."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import gmmseg
from GmmSegLib.inference import handedness
from GmmSegLib.inference.handedness import locate_and_orient, mirror_logit, storage_orders, unmirror
from GmmSegLib.inference.localisation import HeartLocation, locate_heart
from GmmSegLib.inference.segmentation import segment
from GmmSegLib.io.images import to_sitk
from GmmSegLib.model.bundle import CHECKPOINT_FORMAT, GmmSegModel, atomic_torch_save, load_model
from GmmSegLib.training.config import TrainConfig
from GmmSegLib.training.trainer import Trainer


def mirrored(image):
    """The same stack stored with its columns reversed (the other handedness)."""
    return replace(image, frames=np.ascontiguousarray(image.frames[..., ::-1]))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def test_storage_orders_are_the_four_turns_kept_and_the_four_turns_mirrored():
    """Turns keep the handedness (orientation-preserving), a column reversal flips it; spacing follows the axes."""
    stack = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    orders = storage_orders(stack, (1.0, 2.0, 8.0))
    assert [mirrored for *_, mirrored in orders] == [False] * 4 + [True] * 4
    np.testing.assert_array_equal(orders[0][0], stack)
    np.testing.assert_array_equal(orders[4][0], stack[..., ::-1])
    np.testing.assert_array_equal(orders[6][0], stack[..., ::-1, :])  # two turns of the reversal: rows reversed
    np.testing.assert_array_equal(orders[5][0], stack.swapaxes(-1, -2))  # the transposed stack is a mirror
    for slices, spacing, _ in orders:
        assert slices.shape[-2:] == ((3, 4) if spacing[:2] == (1.0, 2.0) else (4, 3))
    assert len({slices.tobytes() for slices, _, _ in orders}) == 8  # eight distinct storage orders


def test_the_shipped_model_recognises_a_mirrored_stack(shipped_model, phantom_volume):
    model, _ = shipped_model
    assert model.handedness is not None
    spacing = phantom_volume.spacing_xyz
    as_stored = locate_and_orient(model, phantom_volume.frames[0], spacing)
    flipped = locate_and_orient(model, mirrored(phantom_volume).frames[0], spacing)
    assert not as_stored.mirrored and flipped.mirrored
    # the mirrored stack's location, mapped back, is the stored stack's (LV centre within a pixel)
    back = unmirror(flipped, phantom_volume.frames.shape[-1])
    assert np.abs(back.lv_centre_xy - as_stored.lv_centre_xy).max() < 1.0
    assert abs(np.angle(np.exp(1j * (back.angle - as_stored.angle)))) < 0.05


def test_the_mirror_image_is_located_only_when_the_handedness_net_is_unsure(shipped_model, phantom_volume, monkeypatch):
    """A stack whose stored crops the net calls mirrored with a probability under ``CONFIDENT_AS_STORED`` costs one
    localisation; one it is less sure of gets both, and so does a mirrored one. The phantom is no real image, so
    how sure a model is of it varies (v9 under 5 %, v10 11 %): the level is set on either side of its probability."""
    model, _ = shipped_model
    spacing = phantom_volume.spacing_xyz
    stored = phantom_volume.frames[0]
    logit = mirror_logit(model, stored, locate_heart(model.localiser, stored, spacing), spacing[:2], "cpu")
    localisations = []
    hook = model.localiser.register_forward_hook(lambda *_: localisations.append(1))
    try:
        for level_logit, expected in ((logit + 1.0, 1), (logit - 1.0, 2)):
            monkeypatch.setattr(handedness, "CONFIDENT_AS_STORED", 1.0 / (1.0 + math.exp(-level_logit)))
            localisations.clear()
            assert not locate_and_orient(model, stored, spacing).mirrored
            assert len(localisations) == expected
        monkeypatch.undo()
        localisations.clear()
        assert locate_and_orient(model, mirrored(phantom_volume).frames[0], spacing).mirrored
        assert len(localisations) == 2
    finally:
        hook.remove()


def test_a_mirrored_stack_is_segmented_like_the_stack_as_stored(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    result = segment(mirrored(phantom_volume), model, "cpu")
    assert result.location.mirrored and result.crop.mirrored
    back = result.labels[..., ::-1]
    for structure in (1, 2, 3):
        assert dice(back == structure, automatic.labels == structure) > 0.9


def test_models_from_before_the_handedness_net_load_and_take_stacks_as_stored(tmp_path, phantom_volume, shipped_model):
    """A checkpoint whose config has no 'handedness' key (gmmseg-acdc-v4 and older) loads without the net.

    Its weights are the shipped model's without the net, so that its localiser finds the phantom's heart (an
    untrained one would find one or not depending on the random state the earlier tests left)."""
    shipped, _ = shipped_model
    state = {name: tensor for name, tensor in shipped.state_dict().items() if not name.startswith("handedness.")}
    path = tmp_path / "old.pt"
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": {"feature_base": shipped.config["feature_base"]},
            "state": state,
            "metadata": {},
        },
        path,
    )
    model, _ = load_model(path)
    assert model.handedness is None
    image = mirrored(phantom_volume)
    location = locate_and_orient(model, image.frames[0], image.spacing_xyz)
    assert not location.mirrored
    np.testing.assert_array_equal(
        location.lv_centre_xy, locate_heart(model.localiser, image.frames[0], image.spacing_xyz).lv_centre_xy
    )


def test_unmirror_maps_points_and_directions_and_is_its_own_inverse():
    location = HeartLocation(np.array([30.0, 40.0]), np.array([10.0, 45.0]), 0.3, np.linspace(0, 1, 5))
    once = unmirror(location, columns=100)
    assert once.lv_centre_xy.tolist() == [69.0, 40.0] and once.rv_centre_xy.tolist() == [89.0, 45.0]
    assert once.mirrored and once.angle == pytest.approx(np.pi - 0.3)
    twice = unmirror(once, columns=100)
    assert twice.lv_centre_xy.tolist() == [30.0, 40.0] and not twice.mirrored
    assert twice.angle == pytest.approx(0.3)


@pytest.mark.parametrize("stages, expected", [(["adapt"], False), (["adapt", "handedness"], True)])
def test_training_from_an_old_model_adds_the_net_only_when_it_trains_it(tmp_path, stages, expected):
    """An untrained handedness net would mirror stacks at random, so the trainer adds one only to train it."""
    path = tmp_path / "old.pt"
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": {"feature_base": 16},
            "state": GmmSegModel(handedness=False).state_dict(),
            "metadata": {},
        },
        path,
    )
    config = TrainConfig(
        out=str(tmp_path / "new.pt"), work=str(tmp_path / "work"), init_model=str(path), stages=stages, device="cpu"
    )
    assert (Trainer(config).model.handedness is not None) is expected


@pytest.mark.slow
def test_the_command_line_says_when_a_stack_was_taken_as_mirrored(tmp_path, phantom_volume):
    flipped = mirrored(phantom_volume)
    path = tmp_path / "flipped.nii.gz"
    sitk.WriteImage(to_sitk(flipped.frames, flipped.geometry), str(path))
    result = gmmseg("segment", path, "--out", tmp_path / "out", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["mirrored_storage"] is True
    assert json.loads((tmp_path / "out" / "flipped.json").read_text())["mirrored_storage"] is True
