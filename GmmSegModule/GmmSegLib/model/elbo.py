"""The negative ELBO of GmmSeg and its three terms (README, "Method", item 4).

All terms are averaged over pixels (not summed) so that their balance does not depend on image size.
Dirichlet quantities are computed in float32 with autocast off: the closed-form KL is a difference of
large log-gamma values and cancels badly in half precision.

- L1 = -sum_k pi_ik log N(x_i | mu_k, sigma_k): image-global Gaussians per class in feature space.
- L2 = sum_k pi_ik [log pi_ik - (digamma(d_hat_ik) - digamma(sum_k d_hat_ik))].
- L3 = KL(Dir(d_hat_i) || Dir(d_i)) with d = lambda * T_phi(prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Dirichlet, kl_divergence

LOG_2PI = math.log(2 * math.pi)


def dirichlet_kl(alpha: torch.Tensor, beta: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """KL(Dir(alpha) || Dir(beta)) along ``dim`` (torch.distributions' closed form), clamped at 0 against rounding."""
    with torch.autocast(device_type=alpha.device.type, enabled=False):
        alpha, beta = (t.float().movedim(dim, -1) for t in (alpha, beta))
        kl = kl_divergence(Dirichlet(alpha, validate_args=False), Dirichlet(beta, validate_args=False))
        return kl.clamp_min(0.0)


def expected_log_weights(concentrations: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """E_Dir(d)[log omega_k] = digamma(d_k) - digamma(sum_k d_k)."""
    with torch.autocast(device_type=concentrations.device.type, enabled=False):
        d = concentrations.float()
        return torch.digamma(d) - torch.digamma(d.sum(dim, keepdim=True))


def pooled_gaussians(
    responsibilities: torch.Tensor, means: torch.Tensor, log_variances: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool per-pixel class Gaussians (B, K, C, H, W) into one Gaussian per class per image (B, K, C).

    Pixels are weighted by their responsibility for the class; one Gaussian per class and image keeps
    the likelihood from being fit trivially pixel by pixel.
    """
    weights = responsibilities.unsqueeze(2)  # B, K, 1, H, W
    total = weights.sum(dim=(-2, -1)).clamp_min(1e-6)
    mean = (weights * means).sum(dim=(-2, -1)) / total
    log_variance = (weights * log_variances).sum(dim=(-2, -1)) / total
    return mean, log_variance


def gaussian_log_likelihood(features: torch.Tensor, mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """log N(x_i | mu_k, sigma_k) for every pixel and class: features (B, C, H, W), mean (B, K, C) -> (B, K, H, W)."""
    x = features.unsqueeze(1)  # B, 1, C, H, W
    mu, log_var = mean[..., None, None], log_variance[..., None, None]
    per_channel = -0.5 * ((x - mu) ** 2 * torch.exp(-log_var) + log_var + LOG_2PI)
    return per_channel.sum(dim=2)


def reconstruction_term(responsibilities: torch.Tensor, log_likelihood: torch.Tensor) -> torch.Tensor:
    """L1, averaged over pixels and images."""
    return -(responsibilities * log_likelihood).sum(1).mean()


def assignment_term(responsibilities: torch.Tensor, concentrations: torch.Tensor) -> torch.Tensor:
    """L2: E_q(omega)[KL(q(z) || p(z | omega))], averaged over pixels and images."""
    log_pi = torch.log(responsibilities.float().clamp_min(1e-8))
    return (responsibilities.float() * (log_pi - expected_log_weights(concentrations))).sum(1).mean()


def prior_term(concentrations: torch.Tensor, prior_concentrations: torch.Tensor) -> torch.Tensor:
    """L3: KL(Dir(d_hat) || Dir(d)), averaged over pixels and images."""
    return dirichlet_kl(concentrations, prior_concentrations).mean()


def prior_weight(epoch: int, epochs: int, start: float, end: float) -> float:
    """Cosine decay of the L3 weight from ``start`` (epoch 0) to ``end`` (last epoch)."""
    if epochs <= 1:
        return start
    progress = min(max(epoch / (epochs - 1), 0.0), 1.0)
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * progress))


@dataclass
class ElboWeights:
    """Weights of the negative ELBO's terms (l3 is the current, decayed value)."""

    reconstruction: float = 1.0
    assignment: float = 1.0
    prior: float = 1.0
    mean_regulariser: float = 1e-3


def negative_elbo(
    features: torch.Tensor,
    responsibilities: torch.Tensor,
    means: torch.Tensor,
    log_variances: torch.Tensor,
    concentrations: torch.Tensor,
    prior_concentrations: torch.Tensor,
    weights: ElboWeights,
) -> dict[str, torch.Tensor]:
    """All terms of the weighted negative ELBO; ``total`` is the one to minimise."""
    mean, log_variance = pooled_gaussians(responsibilities, means, log_variances)
    l1 = reconstruction_term(responsibilities, gaussian_log_likelihood(features, mean, log_variance))
    l2 = assignment_term(responsibilities, concentrations)
    l3 = prior_term(concentrations, prior_concentrations)
    regulariser = (mean**2).mean()
    total = (
        weights.reconstruction * l1
        + weights.assignment * l2
        + weights.prior * l3
        + weights.mean_regulariser * regulariser
    )
    return {"total": total, "l1": l1, "l2": l2, "l3": l3, "mean_reg": regulariser}
