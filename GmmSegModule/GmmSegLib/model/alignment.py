"""Canonical alignment of short-axis slices and its exact inverse.

The network sees every slice in one canonical crop: 128 x 128 pixels of 1.5 mm, centred on the LV,
rotated so that the LV-to-RV direction points to the left (-x), and mirrored when the stack is stored
with the other handedness than the training images (see :mod:`GmmSegLib.inference.handedness`). The crop
of one volume is a :class:`~GmmSegLib.model.canonical_crop.CanonicalCrop` (its coordinates are described
there), so that
``to_canonical`` and ``to_native`` are each other's inverse up to interpolation: outputs computed in
the canonical crop land on the input's native grid exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .canonical_crop import CanonicalCrop


def _normalised(points: np.ndarray, width: int, height: int) -> torch.Tensor:
    """Pixel coordinates (x, y) -> grid_sample coordinates in [-1, 1] (align_corners=True)."""
    grid = np.empty_like(points)
    grid[..., 0] = points[..., 0] / max(width - 1, 1) * 2 - 1
    grid[..., 1] = points[..., 1] / max(height - 1, 1) * 2 - 1
    return torch.from_numpy(grid.astype(np.float32))


def _pixel_grid(rows: int, columns: int) -> np.ndarray:
    v, u = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(columns, dtype=np.float64), indexing="ij")
    return np.stack([u, v], axis=-1)


def to_canonical(slices: torch.Tensor, crop: CanonicalCrop, mode: str = "bilinear") -> torch.Tensor:
    """Resample native slices (Z, C, Y, X) or (Z, Y, X) into the canonical crop (Z, [C,] N, N)."""
    squeeze = slices.dim() == 3
    batch = slices[:, None] if squeeze else slices
    native_xy = crop.canonical_to_native_points(_pixel_grid(crop.size, crop.size))
    grid = _normalised(native_xy, crop.native_columns, crop.native_rows).to(batch.device)
    grid = grid[None].expand(batch.shape[0], -1, -1, -1)
    out = F.grid_sample(batch.float(), grid, mode=mode, padding_mode="border", align_corners=True)
    return out[:, 0] if squeeze else out


def to_native(
    maps: torch.Tensor, crop: CanonicalCrop, outside: torch.Tensor | None = None, mode: str = "bilinear"
) -> torch.Tensor:
    """Resample canonical maps (Z, C, N, N) back onto the native grid (Z, C, Y, X).

    Native pixels outside the canonical crop take ``outside`` (a value per channel, default 0), e.g.
    probability 1 for background and 0 for the heart structures.
    """
    canonical_uv = crop.native_to_canonical_points(_pixel_grid(crop.native_rows, crop.native_columns))
    grid = _normalised(canonical_uv, crop.size, crop.size).to(maps.device)
    grid = grid[None].expand(maps.shape[0], -1, -1, -1)
    sampled = F.grid_sample(maps.float(), grid, mode=mode, padding_mode="zeros", align_corners=True)
    if outside is None:
        return sampled
    inside = F.grid_sample(
        torch.ones_like(maps[:, :1]).float(), grid, mode=mode, padding_mode="zeros", align_corners=True
    )
    fill = outside.to(maps.device, torch.float32).view(1, -1, 1, 1)
    return sampled + (1 - inside) * fill


def resample_square(
    slices: torch.Tensor, spacing_x: float, spacing_y: float, size: int, spacing: float
) -> torch.Tensor:
    """A centred, unrotated square view of native slices (Z, Y, X) at ``spacing`` mm: the localiser's input."""
    rows, columns = slices.shape[-2:]
    crop = CanonicalCrop(
        (columns - 1) / 2.0, (rows - 1) / 2.0, 0.0, spacing_x, spacing_y, rows, columns, size=size, spacing=spacing
    )
    return to_canonical(slices, crop)


def percentile(values: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q``-th percentile of a 1D tensor, interpolated linearly between order statistics.

    What ``torch.quantile`` computes, from the two order statistics around the rank (``kthvalue``) rather
    than a full sort: about twenty times faster, and the z-scoring of every slice asks for two percentiles.
    """
    rank = q / 100.0 * (values.numel() - 1)
    below = math.floor(rank)
    low = values.kthvalue(below + 1).values
    if rank == below:
        return low
    return torch.lerp(low, values.kthvalue(below + 2).values, rank - below)


def zscore(volume: torch.Tensor, low: float = 0.5, high: float = 99.5) -> torch.Tensor:
    """Clip to the given percentiles and normalise to zero mean, unit variance over the whole tensor."""
    flat = volume.reshape(-1).float()
    sample = flat[:: max(1, flat.numel() // 200_000)]
    lo, hi = percentile(sample, low), percentile(sample, high)
    clipped = volume.float().clamp(lo, hi)
    return (clipped - clipped.mean()) / clipped.std().clamp_min(1e-6)


def zscore_slices(slices: torch.Tensor) -> torch.Tensor:
    """:func:`zscore` of every slice (..., N, N) on its own, as the networks see each one."""
    return torch.stack([zscore(s) for s in slices.reshape(-1, *slices.shape[-2:])]).reshape(slices.shape)


def context_indices(slices: int, context: int, base_first: bool = True) -> torch.Tensor:
    """Each slice of a stack and its ``context`` neighbours on either side, as indices (Z, 1 + 2 context).

    Column 0 is the slice itself, then for k = 1 .. context the slice k steps towards the base and the one
    k steps towards the apex; past an end of the stack the end slice stands in. ``base_first`` says that
    index 0 is the base: the order of the columns is anatomical, whichever way a stack is stored.
    """
    index = torch.arange(slices)
    towards_apex = 1 if base_first else -1
    columns = [index]
    for k in range(1, context + 1):
        columns += [index - k * towards_apex, index + k * towards_apex]
    return torch.stack(columns, dim=1).clamp(0, slices - 1)


def canonical_input(
    native: torch.Tensor, crop: CanonicalCrop, context: int = 0, base_first: bool = True
) -> torch.Tensor:
    """Native slices (Z, Y, X) as the networks take them: the canonical crops, each z-scored, (Z, 1, N, N).

    With ``context`` > 0, each slice comes with its neighbours as further channels (Z, 1 + 2 context, N, N),
    ordered as :func:`context_indices` orders them.
    """
    crops = zscore_slices(to_canonical(native, crop))
    return crops[context_indices(crops.shape[0], context, base_first)]


def relative_slice_positions(heart_area: np.ndarray, base_area: np.ndarray | None = None) -> np.ndarray:
    """Position of each slice between base (0) and apex (1) from per-slice heart areas.

    The heart's extent is the run of slices with a non-negligible area. The base is the end where the
    ventricles are larger (``base_area``, typically the RV + LV cavity area, falls towards the apex).
    Slices outside the heart are clamped to 0 or 1; a single-slice heart sits at 0.5.
    """
    heart_area = np.asarray(heart_area, dtype=np.float64)
    slices = heart_area.size
    present = np.flatnonzero(heart_area > 0.05 * max(heart_area.max(), 1e-9))
    if present.size == 0 or slices == 1:
        return np.full(slices, 0.5)
    first, last = int(present[0]), int(present[-1])
    if first == last:
        return np.full(slices, 0.5)
    weights = heart_area if base_area is None else np.asarray(base_area, dtype=np.float64)
    middle = (first + last) / 2.0
    index = np.arange(slices)
    upper, lower = weights[(index >= first) & (index < middle)].sum(), weights[(index > middle) & (index <= last)].sum()
    base_first = upper >= lower
    positions = (index - first) / (last - first)
    if not base_first:
        positions = 1.0 - positions
    return np.clip(positions, 0.0, 1.0)


def turn_between_deg(angle_a: float, angle_b: float) -> float:
    """The smaller angle (degrees, 0..180) between two in-plane directions given in radians."""
    return abs(math.degrees(math.remainder(angle_a - angle_b, 2 * math.pi)))


def lv_to_rv_angle(lv_centre_mm: np.ndarray, rv_centre_mm: np.ndarray) -> float:
    """Rotation that maps the canonical -x axis onto the LV->RV direction (both points in native mm)."""
    direction = np.asarray(rv_centre_mm, dtype=np.float64) - np.asarray(lv_centre_mm, dtype=np.float64)
    if np.linalg.norm(direction) < 1e-6:
        return 0.0
    return math.atan2(-direction[1], -direction[0])
