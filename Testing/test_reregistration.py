"""Atlas re-registration: displaced priors come back, manual phi changes the result, bad phi refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench_reregistration import registration_residual

from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.inference.reregistration import reinfer
from GmmSegLib.model.phi import Phi


def test_registration_net_brings_a_displaced_prior_back(shipped_model, phantom_volume, automatic):
    """Move the anatomy by a known phi; the net's phi should move the prior alike."""
    model, _ = shipped_model
    applied = np.array([math.log(1.15), 8.0, -6.0, 0.0], np.float32)
    residual = registration_residual(model, phantom_volume, automatic, applied)
    assert residual["shift_residual_mm"] < 5.0
    assert abs(residual["log_scale_error"]) < 0.1


def test_far_phi_changes_and_automatic_phi_restores(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    far = Phi.from_parameters(0.6, 25.0, -25.0, 25.0)
    moved = reinfer(phantom_volume, model, automatic, far)
    assert moved.changed_voxels > 0 and moved.changed_fraction_of_heart > 0.01
    restored = reinfer(phantom_volume, model, moved.result, Phi.from_array(automatic.phi[0]))
    np.testing.assert_array_equal(restored.result.labels, automatic.labels)


def test_one_slice_only(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    moved = reinfer(phantom_volume, model, automatic, Phi.from_parameters(0.6, 25.0, -25.0, 25.0), slice_index=3)
    unchanged = [z for z in range(phantom_volume.frames.shape[1]) if z != 3]
    np.testing.assert_array_equal(moved.result.labels[:, unchanged], automatic.labels[:, unchanged])


def test_invalid_phi_or_target_is_refused(shipped_model, phantom_volume, automatic):
    model, _ = shipped_model
    for scale in (0.0, -1.0):
        with pytest.raises(GmmSegError, match="positive"):
            Phi.from_parameters(scale, 0, 0, 0)
    with pytest.raises(GmmSegError, match="finite"):
        Phi.from_parameters(1.0, float("nan"), 0, 0)
    with pytest.raises(GmmSegError, match="frame 3 does not exist"):
        reinfer(phantom_volume, model, automatic, Phi.from_array(automatic.phi[0]), frame=3)
    with pytest.raises(GmmSegError, match="slice 40 does not exist"):
        reinfer(phantom_volume, model, automatic, Phi.from_array(automatic.phi[0]), slice_index=40)
