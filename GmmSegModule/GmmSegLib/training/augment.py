"""Intensity and resolution augmentation, also used to simulate a new scanner (domain shift).

The same transforms serve two purposes: during training they make the networks robust to scanners
they never saw; in the domain-shift benchmark they create a shifted copy of the validation images.
All functions take and return float tensors (..., H, W) and draw from the given generator.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _unit_range(image: torch.Tensor) -> torch.Tensor:
    low, high = image.amin(dim=(-2, -1), keepdim=True), image.amax(dim=(-2, -1), keepdim=True)
    return (image - low) / (high - low).clamp_min(1e-6)


def gamma(image: torch.Tensor, value: float) -> torch.Tensor:
    """Contrast change: intensities mapped to [0, 1] and raised to ``value``."""
    return _unit_range(image) ** value


def bias_field(image: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Multiply by a smooth random field exp(strength * quadratic polynomial) (coil sensitivity)."""
    h, w = image.shape[-2:]
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    coefficients = torch.randn(5, generator=generator)
    terms = torch.stack([x, y, x * y, x**2, y**2])
    field = (coefficients.view(-1, 1, 1) * terms).sum(0)
    field = field / field.abs().max().clamp_min(1e-6)
    return image * torch.exp(strength * field)


def rician_noise(image: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Rician noise of standard deviation ``sigma`` (relative to the image's range), as in magnitude MR."""
    scale = sigma * (image.amax() - image.amin()).clamp_min(1e-6)
    real = image + scale * torch.randn(image.shape, generator=generator)
    imaginary = scale * torch.randn(image.shape, generator=generator)
    return torch.sqrt(real**2 + imaginary**2)


def coarser_resolution(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Blur to a ``factor`` times coarser in-plane resolution and back to the same grid."""
    if factor <= 1.0:
        return image
    h, w = image.shape[-2:]
    batch = image.reshape(-1, 1, h, w)
    small = F.interpolate(batch, size=(max(2, round(h / factor)), max(2, round(w / factor))), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).reshape(image.shape)


def random_appearance(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Training-time augmentation: random gamma, bias field, resolution and noise, each with its own chance.

    All four together come in 7 % of the crops (0.8 x 0.6 x 0.3 x 0.5): the chances the shipped model was trained
    with (higher ones made the networks no more robust; BENCHMARKS.md, "Accuracy").
    """
    if torch.rand((), generator=generator) < 0.8:
        image = gamma(image, math.exp(_uniform(generator, math.log(0.6), math.log(1.7))))
    if torch.rand((), generator=generator) < 0.6:
        image = bias_field(_unit_range(image), _uniform(generator, 0.1, 0.6), generator)
    if torch.rand((), generator=generator) < 0.3:
        image = coarser_resolution(image, _uniform(generator, 1.0, 2.0))
    if torch.rand((), generator=generator) < 0.5:
        image = rician_noise(_unit_range(image), _uniform(generator, 0.0, 0.06), generator)
    return image


def domain_shift(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The fixed synthetic 'new scanner' of the benchmark: gamma 1.5, bias field, noise, 1.5x coarser."""
    shifted = gamma(image, 1.5)
    shifted = bias_field(shifted, 0.4, generator)
    shifted = coarser_resolution(shifted, 1.5)
    return rician_noise(_unit_range(shifted), 0.04, generator)


# Seeds of the benchmarks' shifted copies (plus the volume's index in its split): the validation images
# (bench_accuracy), and the labelled training patients where design choices are made (the selection split).
VALIDATION_SHIFT_SEED = 1000
SELECTION_SHIFT_SEED = 2000


def shifted_stack(slices: np.ndarray, seed: int) -> np.ndarray:
    """A stack (Z, Y, X) seen through the benchmarks' synthetic new scanner (:func:`domain_shift`, one
    generator seeded with ``seed`` for the whole stack), as non-negative float32 of about 0..1000 (Rician noise
    goes a little beyond), like a scanner's values."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))
    return (torch.stack([domain_shift(s, generator) for s in frames]) * 1000.0).numpy()
