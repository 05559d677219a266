"""The anatomical Dirichlet prior: an atlas of class frequencies and its registration transform T_phi.

The atlas p~ holds, for a few positions between base and apex, the frequency of each class (background,
LV, MYO, RV) at every canonical pixel over the aligned labelled slices, smoothed and floored away from
0 and 1 so that the Dirichlet prior d = lambda * T_phi(p~) stays well defined. ``phi`` (numbers in the layout
:meth:`GmmSegLib.model.phi.Phi.array` spells) moves it onto the current image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..core.labels import NUM_CLASSES
from .canonical_crop import CANONICAL_SIZE, CANONICAL_SPACING_MM

POSITION_BINS = 5
PRIOR_FLOOR = 0.01
PRIOR_STRENGTH = 10.0  # lambda
SMOOTHING_PX = 2.0


def _gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur (.., H, W) maps in-plane with a Gaussian of ``sigma`` pixels (3 sigma wide, edges replicated)."""
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(
        maps.numpy(), sigma=(0,) * (maps.ndim - 2) + (sigma, sigma), mode="nearest", truncate=3.0
    )
    return torch.from_numpy(blurred)


def normalise_prior(frequencies: torch.Tensor, floor: float = PRIOR_FLOOR) -> torch.Tensor:
    """Floor class frequencies (.., K, H, W) at ``floor`` and renormalise them to sum to one."""
    floored = frequencies.clamp_min(floor)
    return floored / floored.sum(dim=-3, keepdim=True)


def build_atlas(
    labels: np.ndarray, positions: np.ndarray, bins: int = POSITION_BINS, smoothing: float = SMOOTHING_PX
) -> torch.Tensor:
    """Atlas (bins, K, N, N) from aligned canonical label slices (S, N, N) and their base-apex positions.

    Each slice contributes to the two nearest position bins with linear weights, so neighbouring bins
    share data and no bin is empty when the positions cover [0, 1].
    """
    labels_t = torch.as_tensor(labels, dtype=torch.long)
    one_hot = F.one_hot(labels_t, NUM_CLASSES).permute(0, 3, 1, 2).float()
    weights = _bin_weights(torch.as_tensor(positions, dtype=torch.float32), bins)  # S, bins
    sums = torch.einsum("sb,skhw->bkhw", weights, one_hot)
    counts = weights.sum(0).clamp_min(1e-6).view(-1, 1, 1, 1)
    frequencies = sums / counts
    empty = weights.sum(0) < 1e-6
    frequencies[empty] = one_hot.mean(0)
    return normalise_prior(_gaussian_blur(frequencies, smoothing))


def _bin_weights(positions: torch.Tensor, bins: int) -> torch.Tensor:
    """Linear-interpolation weights (S, bins) of positions in [0, 1] onto equally spaced bin centres."""
    scaled = positions.clamp(0, 1) * (bins - 1)
    lower = scaled.floor().long().clamp(max=bins - 1)
    upper = (lower + 1).clamp(max=bins - 1)
    frac = scaled - lower.float()
    weights = torch.zeros(positions.shape[0], bins)
    weights.scatter_add_(1, lower[:, None], (1 - frac)[:, None])
    weights.scatter_add_(1, upper[:, None], frac[:, None])
    return weights


def prior_at(atlas: torch.Tensor, positions: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Atlas probabilities (S, K, N, N) for slices at the given base-apex positions (linear in position)."""
    positions = torch.as_tensor(np.asarray(positions), dtype=torch.float32)
    weights = _bin_weights(positions, atlas.shape[0]).to(atlas.device)
    return torch.einsum("sb,bkhw->skhw", weights, atlas)


def phi_to_affine(phi: torch.Tensor, size: int = CANONICAL_SIZE, spacing: float = CANONICAL_SPACING_MM) -> torch.Tensor:
    """affine_grid matrices (B, 2, 3) that sample the prior at R(-r) (u - t) / s for output pixel u; ``phi`` (B, 4)
    in :meth:`GmmSegLib.model.phi.Phi.array`'s layout."""
    log_scale, tx, ty, rotation = phi.unbind(-1)
    scale = torch.exp(log_scale)
    half_width_mm = size * spacing / 2.0
    cos, sin = torch.cos(rotation), torch.sin(rotation)
    # inverse rotation divided by the scale
    a00, a01, a10, a11 = cos / scale, sin / scale, -sin / scale, cos / scale
    tx_n, ty_n = tx / half_width_mm, ty / half_width_mm
    b0 = -(a00 * tx_n + a01 * ty_n)
    b1 = -(a10 * tx_n + a11 * ty_n)
    return torch.stack([torch.stack([a00, a01, b0], -1), torch.stack([a10, a11, b1], -1)], -2)


def warp_prior(prior: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """T_phi(p~): the prior (B, K, N, N) scaled, rotated and shifted by phi (B, 4); stays a distribution."""
    grid = F.affine_grid(phi_to_affine(phi.float(), prior.shape[-1]), list(prior.shape), align_corners=False)
    warped = F.grid_sample(prior.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return normalise_prior(warped)


def identity_phi(count: int = 1, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.zeros(count, 4, device=device)
