"""Atlas construction, prior warping by phi, and the registration net's training target."""

import math

import numpy as np
import pytest
import torch

from GmmSegLib.model.atlas import PRIOR_FLOOR, build_atlas, identity_phi, prior_at, warp_prior
from GmmSegLib.training.losses import registration_target


def _disc_labels(radius: float, centre=(64.0, 64.0), size=128) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return (((x - centre[0]) ** 2 + (y - centre[1]) ** 2) <= radius**2).astype(np.int64)


def test_atlas_is_a_floored_distribution_per_position():
    labels = np.stack([_disc_labels(20), _disc_labels(10), _disc_labels(5)])
    atlas = build_atlas(labels, np.array([0.0, 0.5, 1.0]), bins=3)
    assert atlas.shape == (3, 4, 128, 128)
    torch.testing.assert_close(atlas.sum(1), torch.ones(3, 128, 128))
    assert float(atlas.min()) >= PRIOR_FLOOR / 1.1
    # the LV disc shrinks from base to apex
    lv_mass = (atlas[:, 1] > 0.5).sum(dim=(-2, -1))
    assert lv_mass[0] > lv_mass[1] > lv_mass[2]
    middle = prior_at(atlas, [0.25])
    torch.testing.assert_close(middle[0], 0.5 * (atlas[0] + atlas[1]))


def test_identity_phi_leaves_the_prior_unchanged():
    atlas = build_atlas(np.stack([_disc_labels(20)]), np.array([0.5]), bins=1)
    torch.testing.assert_close(warp_prior(atlas, identity_phi(1)), atlas, atol=2e-3, rtol=0)


def test_phi_scales_and_shifts_in_mm():
    atlas = build_atlas(np.stack([_disc_labels(20)]), np.array([0.5]), bins=1, smoothing=0.5)
    phi = torch.tensor([[math.log(1.5), 15.0, 0.0, 0.0]])  # scale 1.5 then 15 mm (10 px) to +x
    warped = warp_prior(atlas, phi)[0, 1] > 0.5
    ys, xs = np.nonzero(warped.numpy())
    assert xs.mean() == pytest.approx(63.5 + 10, abs=1.0)
    assert math.sqrt(warped.sum().item() / math.pi) == pytest.approx(30, abs=1.5)


def test_registration_target_recovers_an_applied_transform():
    labels = torch.from_numpy(_disc_labels(20))[None]
    prior = build_atlas(labels.numpy(), np.array([0.5]), bins=1, smoothing=0.5)
    applied = torch.tensor([[math.log(1.2), 6.0, -9.0, 0.0]])
    target = registration_target(labels, prior, applied, 1.5)
    # the labels already match the prior, so the target is the applied transform itself
    torch.testing.assert_close(target, applied, atol=0.3, rtol=0.05)
    bigger = torch.from_numpy(_disc_labels(24))[None]  # a larger heart needs the prior scaled up too
    target = registration_target(bigger, prior, torch.zeros(1, 4), 1.5)
    assert float(target[0, 0]) == pytest.approx(math.log(24 / 20), abs=0.03)
    assert float(target[0, 1:3].abs().max()) < 0.5
