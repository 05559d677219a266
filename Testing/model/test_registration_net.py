"""The registration net (GmmSegLib.model.networks, through GmmSegModel.place_prior): a displaced prior comes back.

A clinician's phi re-runs the whole segmentation (``segment(phi=..., location=...)``; see test_segmentation); an
impossible phi is refused (test_phi)."""

from __future__ import annotations

import math

import numpy as np
from bench_reregistration import registration_residual


def test_registration_net_brings_a_displaced_prior_back(shipped_model, phantom_volume, automatic):
    """Move the anatomy by a known phi; the net's phi should move the prior alike."""
    model, _ = shipped_model
    applied = np.array([math.log(1.15), 8.0, -6.0, 0.0], np.float32)
    residual = registration_residual(model, phantom_volume, automatic, applied)
    assert residual["shift_residual_mm"] < 5.0
    assert abs(residual["log_scale_error"]) < 0.1
