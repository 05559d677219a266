"""What differs between scanners and sites, as transforms of magnitude images (..., H, W).

Cine bSSFP from another vendor, field strength or site differs from the training images in ways a network must
not depend on. Each function here imitates one of them where it arises: in k-space for what the acquisition and
reconstruction do (resolution and truncation, reconstruction filters, ghosts), in the image for what the physics
of the signal does (tissue contrast, off-resonance banding, partial volume). They serve the training
augmentation (:func:`random_site`) and the simulated-sites benchmark (``Testing/benchmarks/simulated_sites.py``).

The last two dimensions are (rows, columns); the phase-encoding direction is taken along the rows (dimension -2),
where ghosts and the lower resolution of cine acquisitions lie. Inputs may be in any scale; outputs are
non-negative magnitudes on the same scale unless a function says otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .augment import bias_field, gamma, rician_noise


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _frequencies(size: int) -> torch.Tensor:
    """Spatial frequencies of an FFT axis in cycles per image, -0.5 .. 0.5."""
    return torch.fft.fftfreq(size)


def _through_kspace(image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The magnitude image whose k-space is the image's times ``weights`` (broadcast over (..., H, W))."""
    spectrum = torch.fft.fft2(image.to(torch.float32))
    return torch.fft.ifft2(spectrum * weights).abs()


def kspace_truncation(image: torch.Tensor, rows_kept: float, columns_kept: float = 1.0) -> torch.Tensor:
    """A lower acquired resolution: only the central fraction of k-space along each axis (Gibbs ringing included,
    as a scanner that zero-fills to the displayed matrix shows it)."""
    h, w = image.shape[-2:]
    keep_rows = (_frequencies(h).abs() <= 0.5 * rows_kept).to(torch.float32)
    keep_columns = (_frequencies(w).abs() <= 0.5 * columns_kept).to(torch.float32)
    return _through_kspace(image, keep_rows[:, None] * keep_columns[None, :])


def reconstruction_filter(image: torch.Tensor, strength: float) -> torch.Tensor:
    """A vendor's k-space filter: ``strength`` < 0 apodises (a Hann-like smoothing of -strength at the edge of
    k-space), > 0 sharpens (high frequencies raised by up to 1 + strength)."""
    h, w = image.shape[-2:]
    radius = torch.sqrt(_frequencies(h)[:, None] ** 2 + _frequencies(w)[None, :] ** 2) / 0.5  # 0 centre, ~1 edge
    ramp = 0.5 - 0.5 * torch.cos(math.pi * radius.clamp(max=1.0))  # 0 at the centre, 1 at the edge
    return _through_kspace(image, 1.0 + strength * ramp)


def ghosting(image: torch.Tensor, amplitude: float, shift_fraction: float) -> torch.Tensor:
    """Flow or motion ghosts: copies of the image displaced by ``shift_fraction`` of the field of view along the
    phase-encoding direction, each of ``amplitude`` / 2, from a periodic modulation of the k-space lines."""
    h = image.shape[-2]
    lines = torch.arange(h, dtype=torch.float32)
    modulation = 1.0 + amplitude * torch.cos(2 * math.pi * lines * round(shift_fraction * h) / h)
    return _through_kspace(image, modulation[:, None].to(torch.complex64))


def off_resonance_bands(
    image: torch.Tensor, depth: float, bands_across: float, angle: float, offset: float, width: float = 0.06
) -> torch.Tensor:
    """bSSFP banding: dark bands where the off-resonance (here a linear field across the image, ``bands_across``
    cycles along the direction ``angle``) reaches half a cycle per TR; ``depth`` 1 makes them black."""
    h, w = image.shape[-2:]
    y, x = torch.meshgrid(torch.linspace(-0.5, 0.5, h), torch.linspace(-0.5, 0.5, w), indexing="ij")
    phase = bands_across * (x * math.cos(angle) + y * math.sin(angle)) + offset
    distance = (phase - torch.floor(phase) - 0.5).abs()  # 0 on a band
    return image * (1.0 - depth * torch.exp(-((distance / width) ** 2)))


def tissue_contrast(image: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Another sequence's contrast between blood, myocardium and fat: intensities (scaled to 0..1 per image) mapped
    through the monotone piecewise-linear curve through ``knots`` (values at 0, 1/(n-1), ..., 1)."""
    low = image.amin(dim=(-2, -1), keepdim=True)
    high = image.amax(dim=(-2, -1), keepdim=True)
    unit = ((image - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)
    segments = knots.numel() - 1
    position = unit * segments
    index = position.floor().clamp(max=segments - 1).long()
    fraction = position - index
    return knots[index] + fraction * (knots[index + 1] - knots[index])


def random_contrast_knots(generator: torch.Generator, count: int = 6, spread: float = 1.0) -> torch.Tensor:
    """A random monotone curve 0 -> 1 for :func:`tissue_contrast`: increments drawn log-uniformly within
    exp(+-spread), so that some intensity ranges are stretched and others compressed."""
    steps = torch.exp((torch.rand(count - 1, generator=generator) * 2 - 1) * spread)
    return torch.cat([torch.zeros(1), torch.cumsum(steps, 0) / steps.sum()])


def low_contrast(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A scanner whose myocardium sits near the noise: mid-tones darkened (gamma 1.3 to 2.0), then Rician noise of 3
    to 7 % of the range. Each alone costs the simulated sites little, together several points, and the sites' losses
    follow their blood-to-myocardium contrast-to-noise ratio (BENCHMARKS.md, "Simulated sites"); the site
    augmentation draws such pairs together too rarely."""
    image = gamma(image, math.exp(_uniform(generator, math.log(1.3), math.log(2.0))))
    return rician_noise(image, _uniform(generator, 0.03, 0.07), generator)


def random_texture_network(image: torch.Tensor, generator: torch.Generator, layers: int = 4) -> torch.Tensor:
    """Another site's appearance drawn from no model of the scanner at all: the image through a shallow network of
    random weights (``layers`` convolutions, each 1x1 or 3x3 at random with two channels between, leaky ReLU after
    each but the last), rescaled to the image's range and blended with it by a random weight.

    The curves and filters above imitate what is known to differ; this one makes intensities and local texture
    differ in ways nobody listed, so that the network learns shapes rather than one scanner's grey values. It is
    the global intensity non-linear augmentation of single-source domain generalisation (Ouyang et al., 2021). Every
    slice of ``image`` (..., H, W) goes through the same network (one scanner)."""
    h, w = image.shape[-2:]
    slices = image.reshape(-1, 1, h, w).to(torch.float32)
    low = slices.amin(dim=(-2, -1), keepdim=True)
    high = slices.amax(dim=(-2, -1), keepdim=True)
    mapped = slices
    for layer in range(layers):
        size = 1 if torch.rand((), generator=generator) < 0.5 else 3
        channels_in = mapped.shape[1]
        channels_out = 1 if layer == layers - 1 else 2
        weights = torch.randn(channels_out, channels_in, size, size, generator=generator) / math.sqrt(
            channels_in * size * size
        )
        bias = 0.1 * torch.randn(channels_out, generator=generator)
        mapped = F.conv2d(mapped, weights, bias, padding=size // 2)
        if layer < layers - 1:
            mapped = F.leaky_relu(mapped, 0.2)
    mapped_low = mapped.amin(dim=(-2, -1), keepdim=True)
    mapped_high = mapped.amax(dim=(-2, -1), keepdim=True)
    mapped = low + (high - low) * (mapped - mapped_low) / (mapped_high - mapped_low).clamp_min(1e-6)
    weight = float(torch.rand((), generator=generator))
    return (weight * mapped + (1 - weight) * slices).reshape(image.shape)


def random_site(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Training-time augmentation: one random scanner and site, each difference with its own chance.

    Tissue contrast, reconstruction filter, k-space truncation, ghosts, banding, bias field and noise are applied in
    the order they arise (signal, acquisition, reconstruction, display); the result is z-scored by the caller.
    """

    def chance(p: float) -> bool:
        return bool(torch.rand((), generator=generator) < p)

    if chance(0.5):
        image = tissue_contrast(image, random_contrast_knots(generator, spread=_uniform(generator, 0.3, 1.2)))
    if chance(0.3):
        image = off_resonance_bands(
            image,
            _uniform(generator, 0.3, 0.9),
            _uniform(generator, 0.5, 2.5),
            _uniform(generator, 0, math.pi),
            _uniform(generator, 0, 1),
        )
    if chance(0.3):
        image = ghosting(image, _uniform(generator, 0.1, 0.6), _uniform(generator, 0.15, 0.5))
    if chance(0.4):
        image = kspace_truncation(image, _uniform(generator, 0.35, 0.9), _uniform(generator, 0.6, 1.0))
    if chance(0.4):
        image = reconstruction_filter(image, _uniform(generator, -0.9, 1.5))
    if chance(0.5):
        image = bias_field(image, _uniform(generator, 0.1, 0.7), generator)
    if chance(0.3):
        image = gamma(image, math.exp(_uniform(generator, math.log(0.6), math.log(1.7))))
    if chance(0.5):
        image = rician_noise(image, _uniform(generator, 0.0, 0.07), generator)
    return image
