"""Uncertainty decomposition from Dirichlet concentrations."""

import math

import pytest
import torch

from GmmSegLib.model.uncertainty import dirichlet_uncertainty


def test_total_is_aleatoric_plus_epistemic_and_bounded():
    d = torch.rand(3, 4, 16, 16) * 50 + 0.05
    maps = dirichlet_uncertainty(d)
    torch.testing.assert_close(maps["total"], maps["aleatoric"] + maps["epistemic"], atol=1e-5, rtol=0)
    for value in maps.values():
        assert float(value.min()) >= 0 and float(value.max()) <= 1


def test_confident_pixel_has_no_uncertainty():
    maps = dirichlet_uncertainty(torch.tensor([1000.0, 0.05, 0.05, 0.05])[None, :, None, None])
    assert float(maps["total"]) < 0.01 and float(maps["epistemic"]) < 0.01


def test_strong_flat_dirichlet_is_aleatoric():
    maps = dirichlet_uncertainty(torch.full((1, 4, 1, 1), 1e4))
    assert float(maps["total"]) == pytest.approx(1.0, abs=1e-6)
    assert float(maps["aleatoric"]) == pytest.approx(1.0, abs=1e-3)
    assert float(maps["epistemic"]) < 1e-3


def test_weak_flat_dirichlet_is_largely_epistemic():
    weak = dirichlet_uncertainty(torch.full((1, 4, 1, 1), 0.1))
    strong = dirichlet_uncertainty(torch.full((1, 4, 1, 1), 10.0))
    assert float(weak["epistemic"]) > float(strong["epistemic"]) > 0
    assert float(weak["epistemic"]) > 0.3


def test_known_two_class_value():
    # K = 2, d = (1, 1): p = (1/2, 1/2); aleatoric = -(digamma(2) - digamma(3)) = 1/2 nats
    maps = dirichlet_uncertainty(torch.tensor([1.0, 1.0])[None, :])
    assert float(maps["total"]) == pytest.approx(1.0)
    assert float(maps["aleatoric"]) == pytest.approx(0.5 / math.log(2), rel=1e-5)


def test_float32_maps_are_within_a_millionth_of_float64():
    """The maps are computed in float32 for speed; concentrations over five decades, as the model gives them."""
    generator = torch.Generator().manual_seed(0)
    d = torch.exp(torch.randn(2, 4, 32, 32, generator=generator, dtype=torch.float64) * 2.0) + 0.05
    strength = d.sum(1, keepdim=True)
    p = d / strength
    reference_total = -(p * torch.log(p)).sum(1) / math.log(4)
    reference_aleatoric = -(p * (torch.digamma(d + 1) - torch.digamma(strength + 1))).sum(1) / math.log(4)
    maps = dirichlet_uncertainty(d.float())
    assert maps["total"].dtype == torch.float32
    torch.testing.assert_close(maps["total"].double(), reference_total, atol=1e-6, rtol=0)
    torch.testing.assert_close(maps["aleatoric"].double(), reference_aleatoric, atol=1e-6, rtol=0)
    reference_epistemic = (reference_total - reference_aleatoric).clamp_min(0)
    torch.testing.assert_close(maps["epistemic"].double(), reference_epistemic, atol=1e-6, rtol=0)
