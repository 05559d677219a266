"""Per-pixel uncertainty from the predicted Dirichlet concentrations d_hat (README, "Method", item 6).

With S = sum_k d_k and expected class probabilities p = d / S:
- total     = H[p], the entropy of the expected categorical;
- aleatoric = E_Dir[H[omega]] = -sum_k p_k (digamma(d_k + 1) - digamma(S + 1)), the expected entropy;
- epistemic = total - aleatoric, the mutual information between label and omega (>= 0).
All three are divided by log K so that they lie in [0, 1].

Which Dirichlet: ``d_hat`` itself, or (:func:`posterior_dirichlet`) the Dirichlet with d_hat's strength S
whose mean is the label posterior q(z) after the variational update. The second keeps the evidence
(S: how much the model has seen at this pixel) but centres the maps on the labels actually produced,
so that total uncertainty is the entropy of q(z). ``Testing/benchmarks/bench_uncertainty.py --split
auxiliary-shifted`` compares the two on the labelled training patients under domain shift.
"""

from __future__ import annotations

import math

import torch

from ..core.labels import UNCERTAINTY_KINDS


def dirichlet_uncertainty(concentrations: torch.Tensor, dim: int = 1) -> dict[str, torch.Tensor]:
    """Total, aleatoric and epistemic uncertainty maps (normalised to [0, 1]) from d_hat.

    In float32: on a frame's canonical slices the maps come within 1e-6 of float64's (epistemic, a difference of
    two entropies, the furthest) in 0.6 of the time (BENCHMARKS.md, "Speed and memory").
    """
    d = concentrations.float()
    classes = d.shape[dim]
    strength = d.sum(dim, keepdim=True)
    p = d / strength
    total = -(p * torch.log(p.clamp_min(1e-12))).sum(dim)
    aleatoric = -(p * (torch.digamma(d + 1) - torch.digamma(strength + 1))).sum(dim)
    norm = math.log(classes)
    total, aleatoric = total / norm, aleatoric / norm
    epistemic = (total - aleatoric).clamp_min(0.0)
    maps = dict(zip(UNCERTAINTY_KINDS, (total, aleatoric, epistemic), strict=True))
    return {kind: value.clamp(0, 1) for kind, value in maps.items()}


def posterior_dirichlet(concentrations: torch.Tensor, posterior: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """S * q(z): the predicted Dirichlet's strength S = sum_k d_hat_k with its mean moved to the posterior."""
    strength = concentrations.sum(dim, keepdim=True)
    return (strength * posterior.clamp_min(1e-6)).clamp_min(1e-6)
