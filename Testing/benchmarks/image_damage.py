"""Images the model cannot read through, made from good ones: the damage the whole-stack quality flag must catch.

Three kinds, as real cine MRI shows them (issue 25): a bright ghosting band over the LV wall (the moving heart's
signal replicated along the phase-encoding direction), Rician noise heavy enough to break the result (a low-field or
badly shimmed acquisition), and a strong multiplicative bias field (a surface coil's sensitivity). Each takes a stack
or cine (T, Z, Y, X) and returns a damaged float32 copy; the band needs the LV cavity's labels to lie over its wall.
For the tests (Testing/clinical/test_quality.py) and the calibration of the flag (Testing/benchmarks/bench_quality.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from GmmSegLib.core.labels import LV
from GmmSegLib.io.images import CardiacImage
from GmmSegLib.training.augment import rician_noise


def ghost_band(frames: np.ndarray, labels: np.ndarray, brightness: float = 1.0) -> np.ndarray:
    """A horizontal band, as bright as ``brightness`` times the LV blood, over the lower wall of the LV cavity.

    ``labels`` (Z, Y, X) place it: the band spans every column, from the cavity's centre row to one cavity radius
    below its lower edge, on every slice (as a ghost of the beating heart is), with soft edges.
    """
    cavity = labels == LV
    rows = np.flatnonzero(cavity.any(axis=(0, 2)))
    centre, bottom = float(np.median(np.nonzero(cavity)[1])), float(rows.max())
    radius = max(bottom - centre, 2.0)
    row = np.arange(frames.shape[-2], dtype=np.float64)
    profile = np.clip(np.minimum(row - centre, bottom + radius - row) / 2.0 + 0.5, 0.0, 1.0)
    blood = float(np.median(frames[:, cavity]))
    return (frames + brightness * blood * profile[:, None]).astype(np.float32)


def noisy(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Rician noise of standard deviation ``sigma`` times each slice's intensity range."""
    generator = torch.Generator().manual_seed(seed)
    slices = torch.from_numpy(np.ascontiguousarray(frames, np.float32)).reshape(-1, *frames.shape[-2:])
    return torch.stack([rician_noise(s, sigma, generator) for s in slices]).reshape(frames.shape).numpy()


def biased(frames: np.ndarray, strength: float, angle_deg: float = 60.0) -> np.ndarray:
    """A multiplicative field exp(``strength`` x a ramp from -1 to 1 across the slice), falling along ``angle_deg``
    (from the columns' direction), as a surface coil's sensitivity falls away from the chest wall."""
    rows, columns = frames.shape[-2:]
    y, x = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, columns), indexing="ij")
    angle = np.radians(angle_deg)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    return (frames * np.exp(strength * ramp / np.abs(ramp).max())).astype(np.float32)


def damaged(image: CardiacImage, frames: np.ndarray) -> CardiacImage:
    """``image`` with its voxels replaced by ``frames`` (same geometry)."""
    return replace(image, frames=np.ascontiguousarray(frames, np.float32), source=f"{image.source} (damaged)")
