"""Simulated scanners and sites: the same ACDC hearts as another vendor, field strength or site would image them.

Each :class:`Site` combines several of the differences that separate real sites (GmmSegLib.training.
scanner_effects: k-space effects applied in k-space), at fixed strengths, with the per-volume randomness (band
position, bias field, noise, slice shifts) seeded by the volume's index, so that every run sees the same images.
Geometric effects (slice misregistration, framing) move the expert labels alike (nearest neighbour). Used by
``Testing/benchmarks/bench_sites.py``; nothing here is used for training (the training augmentation draws its own random
sites, ``scanner_effects.random_site``), and no site is tuned on the validation split.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import ndimage

from GmmSegLib.io.images import CardiacImage
from GmmSegLib.training.augment import bias_field, domain_shift, gamma, rician_noise
from GmmSegLib.training.scanner_effects import (
    ghosting,
    kspace_truncation,
    off_resonance_bands,
    reconstruction_filter,
    tissue_contrast,
)

SliceEffect = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
StackEffect = Callable[
    [np.ndarray, np.ndarray, tuple[float, float, float], np.random.Generator], tuple[np.ndarray, np.ndarray]
]

# monotone intensity curves (values at 0, 0.2, ..., 1 of each slice's range)
BRIGHT_BLOOD = torch.tensor([0.0, 0.08, 0.18, 0.45, 0.8, 1.0])  # 3 T bSSFP: more blood-to-myocardium contrast
FLAT_MID_RANGE = torch.tensor([0.0, 0.3, 0.42, 0.52, 0.62, 1.0])  # a low-contrast sequence: blood near myocardium


@dataclass(frozen=True)
class Site:
    """A simulated site: what it does to each native slice, then to the stack (geometry and labels)."""

    name: str
    description: str
    slice_effect: SliceEffect
    stack_effect: StackEffect | None = None

    def image(self, image: CardiacImage, truth: np.ndarray, seed: int) -> tuple[CardiacImage, np.ndarray]:
        """The first frame of ``image`` with its (Z, Y, X) ``truth`` as this site would give them."""
        generator = torch.Generator().manual_seed(seed)
        slices = torch.from_numpy(np.ascontiguousarray(image.frames[0], dtype=np.float32))
        scale = float(slices.max()) or 1.0
        seen = torch.stack([self.slice_effect(s / scale, generator) for s in slices]).numpy()
        if self.stack_effect is not None:
            seen, truth = self.stack_effect(seen, truth, image.spacing_xyz, np.random.default_rng(seed))
        frames = np.ascontiguousarray((np.clip(seen, 0, None) * 1000.0)[None], dtype=np.float32)
        return replace(image, frames=frames), np.ascontiguousarray(truth)


def misregistered_slices(max_shift_mm: float) -> StackEffect:
    """Each slice moved in plane by up to ``max_shift_mm`` (separate breath-holds), labels alike."""

    def effect(
        slices: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        moved, moved_truth = np.empty_like(slices), np.empty_like(truth)
        for z in range(slices.shape[0]):
            shift = rng.uniform(-max_shift_mm, max_shift_mm, 2) / np.array(spacing[1::-1])  # (rows, columns)
            moved[z] = ndimage.shift(slices[z], shift, order=1, mode="nearest")
            moved_truth[z] = ndimage.shift(truth[z], shift, order=0, mode="constant")
        return moved, moved_truth

    return effect


def thick_slices(neighbour_weight: float) -> StackEffect:
    """Partial volume of a thicker slice profile: each slice takes ``neighbour_weight`` of either neighbour."""

    def effect(
        slices: np.ndarray, truth: np.ndarray, _spacing: tuple[float, float, float], _rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        above = np.concatenate([slices[:1], slices[:-1]])
        below = np.concatenate([slices[1:], slices[-1:]])
        return (1 - 2 * neighbour_weight) * slices + neighbour_weight * (above + below), truth

    return effect


def tight_framing(fraction: float) -> StackEffect:
    """A square field of view of ``fraction`` of the shorter side around the heart, off centre by 10 %."""

    def effect(
        slices: np.ndarray, truth: np.ndarray, _spacing: tuple[float, float, float], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        rows, columns = truth.shape[1:]
        side = int(fraction * min(rows, columns))
        centre = np.array(ndimage.center_of_mass(truth.any(0))) + rng.uniform(-0.1, 0.1, 2) * side
        y0, x0 = (int(np.clip(round(c - side / 2), 0, n - side)) for c, n in zip(centre, (rows, columns), strict=True))
        window = (slice(None), slice(y0, y0 + side), slice(x0, x0 + side))
        return slices[window], truth[window]

    return effect


def _siemens_3t(s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    s = tissue_contrast(s, BRIGHT_BLOOD)
    angle, offset = float(torch.rand((), generator=g)) * math.pi, float(torch.rand((), generator=g))
    s = off_resonance_bands(s, 0.8, 1.5, angle, offset)
    return rician_noise(bias_field(s, 0.5, g), 0.02, g)


def _sharp_low_resolution(s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return gamma(reconstruction_filter(kspace_truncation(s, 0.5, 0.8), 1.2), 0.75)


def _smooth_low_snr(s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return rician_noise(reconstruction_filter(s, -0.8), 0.05, g)


def _flow_ghosts(s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return rician_noise(ghosting(s, 0.5, 1 / 3), 0.02, g)


def _low_contrast(s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return rician_noise(gamma(tissue_contrast(s, FLAT_MID_RANGE), 1.3), 0.02, g)


SITES: tuple[Site, ...] = (
    Site(
        "3T banding",
        "3 T bSSFP: brighter blood, off-resonance bands (80 % deep, 1.5 across), bias field 0.5, noise 2 %",
        _siemens_3t,
    ),
    Site(
        "sharp low-res",
        "phase-encode resolution 50 % and read 80 % (k-space truncation, Gibbs ringing), "
        "sharpening filter +1.2, gamma 0.75",
        _sharp_low_resolution,
    ),
    Site(
        "smooth low-SNR tight",
        "smoothing reconstruction filter -0.8, Rician noise 5 %, field of view 60 % of "
        "the shorter side around the heart",
        _smooth_low_snr,
        tight_framing(0.6),
    ),
    Site(
        "flow and breathing",
        "flow ghosts at 1/3 of the field of view (amplitude 0.5), slices misregistered by up to 4 mm, noise 2 %",
        _flow_ghosts,
        misregistered_slices(4.0),
    ),
    Site(
        "thick low-contrast",
        "blood near myocardium (flat mid-range curve), gamma 1.3, slice profile taking 20 % "
        "of each neighbour, noise 2 %",
        _low_contrast,
        thick_slices(0.2),
    ),
    Site(
        "gamma-bias-noise",
        "the earlier synthetic scanner (augment.domain_shift: gamma 1.5, bias 0.4, 1.5x coarser, noise 4 %)",
        lambda s, g: domain_shift(s, g),
    ),
)
