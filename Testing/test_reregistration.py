"""Atlas re-registration: displaced priors come back, manual phi changes the result, bad phi refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from GmmSegLib.alignment import to_canonical, zscore
from GmmSegLib.atlas import prior_at, warp_prior
from GmmSegLib.errors import GmmSegError
from GmmSegLib.inference import register_prior
from GmmSegLib.reregistration import phi_from_parameters, reinfer


def test_registration_net_brings_a_displaced_prior_back(shipped_model, phantom_volume, automatic):
    """Move the posterior by a known phi; the net's phi for the moved posterior should move the prior alike."""
    model, _ = shipped_model
    frame = automatic.frame
    canonical = torch.stack([zscore(s) for s in to_canonical(torch.from_numpy(phantom_volume.frames[0]), frame)])
    prior = prior_at(model.atlas, automatic.location.positions)
    with torch.no_grad():
        pi = torch.softmax(model.heads.responsibilities_logits(model.features(canonical[:, None])), 1)
    heart = slice(2, 6)  # mid-ventricular slices, where the registration matters
    applied = torch.tensor([math.log(1.15), 8.0, -6.0, 0.0])
    before = register_prior(model, pi[heart], prior[heart]).median(0).values
    after = register_prior(model, warp_prior(pi[heart], applied.expand(4, -1)), prior[heart]).median(0).values
    residual_mm = float(torch.hypot(after[1] - before[1] - applied[1], after[2] - before[2] - applied[2]))
    assert residual_mm < 5.0
    assert float(after[0] - before[0]) == pytest.approx(math.log(1.15), abs=0.1)


def test_far_phi_changes_and_automatic_phi_restores(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    far = phi_from_parameters(0.6, 25.0, -25.0, 25.0)
    moved = reinfer(phantom_volume, model, automatic, far)
    assert moved.changed_voxels > 0 and moved.changed_fraction_of_heart > 0.01
    restored = reinfer(phantom_volume, model, moved.result, automatic.phi[0])
    np.testing.assert_array_equal(restored.result.labels, automatic.labels)


def test_one_slice_only(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    moved = reinfer(phantom_volume, model, automatic, phi_from_parameters(0.6, 25.0, -25.0, 25.0), slice_index=3)
    unchanged = [z for z in range(phantom_volume.frames.shape[1]) if z != 3]
    np.testing.assert_array_equal(moved.result.labels[:, unchanged], automatic.labels[:, unchanged])


def test_invalid_phi_or_target_is_refused(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    for scale in (0.0, -1.0):
        with pytest.raises(GmmSegError, match="positive"):
            phi_from_parameters(scale, 0, 0, 0)
    with pytest.raises(GmmSegError, match="finite"):
        phi_from_parameters(1.0, float("nan"), 0, 0)
    with pytest.raises(GmmSegError, match="frame 3 does not exist"):
        reinfer(phantom_volume, model, automatic, automatic.phi[0], frame=3)
    with pytest.raises(GmmSegError, match="slice 40 does not exist"):
        reinfer(phantom_volume, model, automatic, automatic.phi[0], slice_index=40)
