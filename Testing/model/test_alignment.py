"""Canonical alignment: exact round trips, orientation convention, base-apex positions."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from GmmSegLib.core.labels import LV, RV
from GmmSegLib.inference.localisation import locate_from_ground_truth
from GmmSegLib.model.alignment import (
    CanonicalCrop,
    canonical_input,
    context_indices,
    lv_to_rv_angle,
    percentile,
    relative_slice_positions,
    to_canonical,
    to_native,
    zscore,
)


@pytest.mark.parametrize("mirrored", [False, True])
def test_point_maps_are_inverse(mirrored):
    crop = CanonicalCrop(100.3, 80.7, 0.7, 1.3, 1.4, 200, 220, mirrored=mirrored)
    points = np.random.default_rng(0).uniform(0, 127, size=(50, 2))
    back = crop.native_to_canonical_points(crop.canonical_to_native_points(points))
    np.testing.assert_allclose(back, points, atol=1e-9)


def test_a_mirrored_frame_reverses_canonical_v_and_keeps_lv_to_rv(phantom_volume, small_phantom):
    """Mirroring swaps anterior and posterior in the crop; the LV stays centred and the RV left."""
    labels = small_phantom.labels[0]
    location = locate_from_ground_truth(labels, phantom_volume.spacing_xyz)
    crop = location.canonical_crop(*phantom_volume.spacing_xyz[:2], *labels.shape[-2:])
    one_hot = F.one_hot(torch.from_numpy(labels).long(), 4).permute(0, 3, 1, 2).float()
    plain = to_canonical(one_hot, crop)
    mirrored = to_canonical(one_hot, replace(crop, mirrored=True))
    torch.testing.assert_close(mirrored, plain.flip(-2), atol=1e-5, rtol=0)
    back = to_native(mirrored, replace(crop, mirrored=True), torch.tensor([1.0, 0, 0, 0])).argmax(1).numpy()
    assert (back != labels).sum() <= 0.002 * (labels > 0).sum()


def test_label_round_trip_is_exact_for_the_heart(phantom_volume, small_phantom):
    labels = small_phantom.labels[0]
    location = locate_from_ground_truth(labels, phantom_volume.spacing_xyz)
    crop = location.canonical_crop(*phantom_volume.spacing_xyz[:2], *labels.shape[-2:])
    one_hot = F.one_hot(torch.from_numpy(labels).long(), 4).permute(0, 3, 1, 2).float()
    back = to_native(to_canonical(one_hot, crop), crop, torch.tensor([1.0, 0, 0, 0])).argmax(1).numpy()
    assert (back != labels).sum() <= 0.002 * (labels > 0).sum()


def test_canonical_frame_puts_lv_at_centre_and_rv_left(phantom_volume, small_phantom):
    labels = small_phantom.labels[0]
    location = locate_from_ground_truth(labels, phantom_volume.spacing_xyz)
    crop = location.canonical_crop(*phantom_volume.spacing_xyz[:2], *labels.shape[-2:])
    one_hot = F.one_hot(torch.from_numpy(labels).long(), 4).permute(0, 3, 1, 2).float()
    canonical = to_canonical(one_hot, crop).argmax(1).numpy()
    z = 2
    lv_y, lv_x = np.argwhere(np.isin(canonical[z], (LV, 2))).mean(0)
    rv_y, rv_x = np.argwhere(canonical[z] == RV).mean(0)
    assert abs(lv_x - 63.5) < 3 and abs(lv_y - 63.5) < 3
    assert rv_x < lv_x - 10 and abs(rv_y - lv_y) < 6


def test_outside_the_crop_is_background():
    crop = CanonicalCrop(50.0, 50.0, 0.0, 1.0, 1.0, 400, 400)
    maps = torch.zeros(1, 4, 128, 128)
    maps[:, 1] = 1.0
    back = to_native(maps, crop, torch.tensor([1.0, 0, 0, 0]))
    assert torch.allclose(back[0, :, 390, 390], torch.tensor([1.0, 0, 0, 0]))
    assert torch.allclose(back[0, :, 50, 50], torch.tensor([0.0, 1, 0, 0]))


@pytest.mark.parametrize("direction, expected", [((-1, 0), 0.0), ((0, -1), math.pi / 2), ((1, 0), math.pi)])
def test_lv_to_rv_angle_maps_minus_x_to_rv(direction, expected):
    angle = lv_to_rv_angle(np.zeros(2), np.array(direction, dtype=float))
    assert math.isclose(math.cos(angle), math.cos(expected), abs_tol=1e-9)
    assert math.isclose(math.sin(angle), math.sin(expected), abs_tol=1e-9)


def test_relative_positions_follow_the_base():
    areas = np.array([0, 50, 40, 30, 10, 0], dtype=float)
    positions = relative_slice_positions(areas)
    np.testing.assert_allclose(positions, [0, 0, 1 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(relative_slice_positions(areas[::-1]), positions[::-1])
    assert relative_slice_positions(np.array([5.0])).tolist() == [0.5]


def test_zscore_is_robust_to_outliers():
    image = torch.randn(64, 64)
    image[0, 0] = 1e6
    normalised = zscore(image)
    assert abs(float(normalised.mean())) < 1e-4 and abs(float(normalised.std()) - 1) < 1e-3
    assert float(normalised.max()) < 10


@pytest.mark.parametrize("count", [1, 2, 7, 16384, 200_001])
def test_percentile_is_torch_quantile(count):
    # in float64: for large tensors torch.quantile's own float32 rank is off by a fraction of an order statistic
    values = torch.randn(count, dtype=torch.float64)
    for q in (0.0, 0.5, 37.3, 50.0, 99.5, 100.0):
        assert float(percentile(values, q)) == pytest.approx(float(torch.quantile(values, q / 100.0)), abs=1e-12)


def test_context_indices_order_neighbours_from_base_to_apex_and_repeat_the_end_slices():
    assert context_indices(4, 0).tolist() == [[0], [1], [2], [3]]
    # column 0 the slice, then the neighbour towards the base, then the one towards the apex
    assert context_indices(4, 1).tolist() == [[0, 0, 1], [1, 0, 2], [2, 1, 3], [3, 2, 3]]
    assert context_indices(4, 1, base_first=False).tolist() == [[0, 1, 0], [1, 2, 0], [2, 3, 1], [3, 3, 2]]
    assert context_indices(3, 2)[1].tolist() == [1, 0, 2, 0, 2]
    assert context_indices(1, 1).tolist() == [[0, 0, 0]]


def test_canonical_input_with_context_stacks_each_slice_with_its_neighbours(phantom_volume, small_phantom):
    location = locate_from_ground_truth(small_phantom.labels[0], phantom_volume.spacing_xyz)
    crop = location.canonical_crop(*phantom_volume.spacing_xyz[:2], *phantom_volume.frames.shape[-2:])
    native = torch.from_numpy(phantom_volume.frames[0])
    alone = canonical_input(native, crop)
    with_neighbours = canonical_input(native, crop, context=1)
    assert alone.shape == (8, 1, 128, 128) and with_neighbours.shape == (8, 3, 128, 128)
    torch.testing.assert_close(with_neighbours[:, 0], alone[:, 0])
    torch.testing.assert_close(with_neighbours[1:, 1], alone[:-1, 0])  # the slice before, towards the base
    torch.testing.assert_close(with_neighbours[:-1, 2], alone[1:, 0])  # the slice after, towards the apex
    torch.testing.assert_close(with_neighbours[0, 1], alone[0, 0])  # the base slice has none before it
