"""Atlas re-registration: a displaced prior comes back through the registration net; impossible phi refused.

A clinician's phi re-runs the whole segmentation (``segment(phi=..., location=...)``; see test_inference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench_reregistration import registration_residual

from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.model.phi import Phi


def test_registration_net_brings_a_displaced_prior_back(shipped_model, phantom_volume, automatic):
    """Move the anatomy by a known phi; the net's phi should move the prior alike."""
    model, _ = shipped_model
    applied = np.array([math.log(1.15), 8.0, -6.0, 0.0], np.float32)
    residual = registration_residual(model, phantom_volume, automatic, applied)
    assert residual["shift_residual_mm"] < 5.0
    assert abs(residual["log_scale_error"]) < 0.1


def test_an_impossible_phi_is_refused():
    for scale in (0.0, -1.0):
        with pytest.raises(GmmSegError, match="positive"):
            Phi.from_parameters(scale, 0, 0, 0)
    with pytest.raises(GmmSegError, match="finite"):
        Phi.from_parameters(1.0, float("nan"), 0, 0)
