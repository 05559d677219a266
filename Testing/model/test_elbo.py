"""The ELBO terms against torch.distributions and Monte-Carlo estimates."""

import math

import pytest
import torch
from torch.distributions import Dirichlet, Normal, kl_divergence

from GmmSegLib.model.elbo import (
    ElboWeights,
    assignment_term,
    dirichlet_kl,
    expected_log_weights,
    gaussian_log_likelihood,
    negative_elbo,
    pooled_gaussians,
    prior_weight,
)


def seeded_dirichlet_samples(concentration: torch.Tensor, count: int = 400_000) -> torch.Tensor:
    """Draws from Dir(concentration) in double precision, the same draws on every run."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return Dirichlet(concentration.double()).sample((count,))


def test_dirichlet_kl_along_a_middle_dim_in_float32_equals_the_double_precision_value():
    generator = torch.Generator().manual_seed(0)
    alpha = torch.rand(6, 4, 3, 5, generator=generator) * 20 + 0.05
    beta = torch.rand(6, 4, 3, 5, generator=generator) * 20 + 0.05
    ours = dirichlet_kl(alpha, beta, dim=1)
    reference = kl_divergence(Dirichlet(alpha.movedim(1, -1).double()), Dirichlet(beta.movedim(1, -1).double()))
    torch.testing.assert_close(ours.double(), reference, rtol=1e-4, atol=1e-4)


def test_dirichlet_kl_matches_monte_carlo():
    """Within five standard errors of the Monte-Carlo mean."""
    alpha, beta = torch.tensor([2.0, 5.0, 0.7, 1.5]), torch.tensor([1.0, 1.0, 3.0, 2.0])
    samples = seeded_dirichlet_samples(alpha)
    log_ratio = Dirichlet(alpha.double()).log_prob(samples) - Dirichlet(beta.double()).log_prob(samples)
    standard_error = float(log_ratio.std()) / math.sqrt(len(log_ratio))
    ours = float(dirichlet_kl(alpha[:, None], beta[:, None], dim=0))
    assert ours == pytest.approx(float(log_ratio.mean()), abs=5 * standard_error)


def test_dirichlet_kl_is_zero_for_equal_and_never_negative():
    alpha = torch.full((4, 1000), 300.0) + torch.rand(4, 1000)
    assert torch.all(dirichlet_kl(alpha, alpha, dim=0) == 0)
    assert torch.all(dirichlet_kl(alpha, alpha * 1.0001, dim=0) >= 0)


def test_dirichlet_kl_is_finite_in_half_precision_inputs():
    alpha = (torch.rand(4, 64) * 200 + 0.01).half()
    beta = (torch.rand(4, 64) * 10 + 0.1).half()
    kl = dirichlet_kl(alpha, beta, dim=0)
    assert kl.dtype == torch.float32 and torch.isfinite(kl).all()


def test_expected_log_weights_match_monte_carlo():
    d = torch.tensor([3.0, 1.0, 0.5, 6.0])
    log_samples = torch.log(seeded_dirichlet_samples(d))
    standard_errors = log_samples.std(0) / math.sqrt(len(log_samples))
    torch.testing.assert_close(
        expected_log_weights(d[:, None], dim=0)[:, 0].double(),
        log_samples.mean(0),
        atol=float(5 * standard_errors.max()),
        rtol=0,
    )


def test_assignment_term_is_minimised_by_exp_expected_log_weights():
    d = torch.tensor([[4.0], [1.0], [2.0], [0.5]])[None, :, :, None]  # (1, K, 1, 1)
    optimum = torch.softmax(expected_log_weights(d), dim=1)
    best = assignment_term(optimum, d)
    for _ in range(20):
        other = torch.softmax(torch.randn(1, 4, 1, 1), dim=1)
        assert assignment_term(other, d) >= best - 1e-6
    assert float(best) == pytest.approx(-float(torch.logsumexp(expected_log_weights(d), dim=1)), abs=1e-5)


def test_gaussian_log_likelihood_matches_normal():
    features = torch.randn(2, 4, 5, 6)
    mean, log_variance = torch.randn(2, 3, 4), torch.randn(2, 3, 4).clamp(-2, 1)
    ours = gaussian_log_likelihood(features, mean, log_variance)
    reference = (
        Normal(mean[..., None, None], torch.exp(0.5 * log_variance)[..., None, None]).log_prob(features[:, None]).sum(2)
    )
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_pooled_gaussians_weight_pixels_by_responsibility():
    responsibilities = torch.zeros(1, 2, 2, 2)
    responsibilities[0, 0, 0, :] = 1
    responsibilities[0, 1, 1, :] = 1
    means = torch.arange(8.0).view(1, 2, 1, 2, 2)  # class 0: [[0, 1], [2, 3]]; class 1: [[4, 5], [6, 7]]
    mean, _ = pooled_gaussians(responsibilities, means, torch.zeros_like(means))
    assert mean[0, 0, 0] == pytest.approx((0 + 1) / 2)  # class 0, top row of its map
    assert mean[0, 1, 0] == pytest.approx((6 + 7) / 2)  # class 1, bottom row of its map


def test_prior_weight_cosine_decay():
    assert prior_weight(0, 10, 1.0, 0.01) == pytest.approx(1.0)
    assert prior_weight(9, 10, 1.0, 0.01) == pytest.approx(0.01)
    assert prior_weight(4, 9, 1.0, 0.0) == pytest.approx(0.5)
    values = [prior_weight(e, 10, 1.0, 0.01) for e in range(10)]
    assert values == sorted(values, reverse=True)


def test_negative_elbo_combines_weighted_terms():
    torch.manual_seed(0)
    features = torch.randn(2, 4, 8, 8)
    pi = torch.softmax(torch.randn(2, 4, 8, 8), 1)
    means, log_variances = torch.randn(2, 4, 4, 8, 8), torch.zeros(2, 4, 4, 8, 8)
    d_hat, d = torch.rand(2, 4, 8, 8) * 5 + 0.1, torch.rand(2, 4, 8, 8) * 5 + 0.1
    weights = ElboWeights(reconstruction=0.5, assignment=2.0, prior=0.3, mean_regulariser=0.0)
    terms = negative_elbo(features, pi, means, log_variances, d_hat, d, weights)
    expected = 0.5 * terms["l1"] + 2.0 * terms["l2"] + 0.3 * terms["l3"]
    assert float(terms["total"]) == pytest.approx(float(expected), rel=1e-6)
    assert math.isfinite(float(terms["total"]))
