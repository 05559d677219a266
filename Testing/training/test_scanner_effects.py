"""The scanner and site differences of the training augmentation and the simulated-sites bench do what they say."""

from __future__ import annotations

import numpy as np
import torch
from simulated_sites import SITES

from GmmSegLib.training.scanner_effects import (
    ghosting,
    kspace_truncation,
    low_contrast,
    off_resonance_bands,
    random_contrast_knots,
    random_site,
    random_texture_network,
    reconstruction_filter,
    tissue_contrast,
)


def _disc(size: int = 64, radius: float = 10.0) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (((x - size / 2) ** 2 + (y - size / 2) ** 2) <= radius**2).float()


def test_full_kspace_and_a_flat_filter_leave_the_image_as_it_was():
    image = torch.rand(2, 32, 48)
    torch.testing.assert_close(kspace_truncation(image, 1.0, 1.0), image, atol=1e-5, rtol=0)
    torch.testing.assert_close(reconstruction_filter(image, 0.0), image, atol=1e-5, rtol=0)


def test_truncated_kspace_blurs_and_rings_along_the_phase_encoding_rows_only():
    square = torch.zeros(64, 64)
    square[16:48, 16:48] = 1.0
    low = kspace_truncation(square, 0.25)
    assert low[:, 32].diff().abs().max() < 0.6  # along the rows: a softer edge
    torch.testing.assert_close(low[32, :].diff().abs().max(), torch.tensor(1.0), atol=0.05, rtol=0)  # columns: sharp
    assert low.max() > 1.02  # Gibbs overshoot


def test_smoothing_and_sharpening_filters_go_opposite_ways():
    disc = _disc()
    steepest = disc[32].diff().abs().max()
    assert reconstruction_filter(disc, -0.9)[32].diff().abs().max() < steepest
    assert reconstruction_filter(disc, 1.5)[32].diff().abs().max() > steepest


def test_ghosts_are_copies_displaced_along_the_rows_by_the_given_fraction():
    disc = _disc(radius=4.0)
    ghosted = ghosting(disc, 0.4, 0.25)
    # a copy of 0.2 (amplitude / 2) of the disc 16 rows above and below, nothing displaced along the columns
    assert abs(float(ghosted[32 + 16, 32]) - 0.2) < 0.02 and abs(float(ghosted[32 - 16, 32]) - 0.2) < 0.02
    assert float(ghosted[32, 32 + 16]) < 0.01
    assert abs(float(ghosted[32, 32]) - 1.0) < 0.02


def test_bands_darken_lines_and_depth_zero_changes_nothing():
    flat = torch.ones(64, 64)
    torch.testing.assert_close(off_resonance_bands(flat, 0.0, 2.0, 0.3, 0.1), flat)
    banded = off_resonance_bands(flat, 0.8, 2.0, 0.0, 0.0)  # bands across the columns
    assert float(banded.min()) < 0.25 and float(banded.max()) > 0.99
    torch.testing.assert_close(banded[0], banded[40])  # constant along each column (vertical bands)


def test_contrast_curves_are_monotone_and_identity_knots_keep_the_image():
    image = torch.rand(40, 40)
    identity = torch.linspace(0, 1, 6)
    scaled = (image - image.min()) / (image.max() - image.min())
    torch.testing.assert_close(tissue_contrast(image, identity), scaled, atol=1e-6, rtol=0)
    knots = random_contrast_knots(torch.Generator().manual_seed(1), spread=1.2)
    assert knots[0] == 0 and abs(float(knots[-1]) - 1) < 1e-6 and bool((knots.diff() > 0).all())
    order = torch.argsort(image.flatten())
    assert bool((tissue_contrast(image, knots).flatten()[order].diff() >= -1e-6).all())


def test_a_random_site_is_reproducible_finite_and_non_negative():
    image = _disc() * 300 + 20
    draws = [random_site(image[None], torch.Generator().manual_seed(seed)) for seed in range(12)]
    assert all(bool(torch.isfinite(d).all()) and float(d.min()) >= 0 for d in draws)
    torch.testing.assert_close(draws[3], random_site(image[None], torch.Generator().manual_seed(3)))
    assert len({round(float(d.std()), 4) for d in draws}) > 6  # the sites differ


def test_low_contrast_darkens_the_mid_tones_and_adds_noise_that_narrows_the_myocardial_step():
    """Blood (disc), myocardium (ring) and lung with a little noise: after low_contrast the ring sits nearer the lung
    than the blood, and the step from blood to ring is smaller against the noise (where the simulated sites lose)."""
    blood, ring = _disc(radius=10.0).bool(), (_disc(radius=15.0) - _disc(radius=10.0)).bool()
    noisy = torch.Generator().manual_seed(1)
    image = (torch.full((64, 64), 0.03) + 0.6 * blood + 0.15 * ring + 0.01 * torch.randn(64, 64, generator=noisy)).abs()

    def contrast_to_noise(picture: torch.Tensor) -> float:
        return float((picture[blood].mean() - picture[ring].mean()) / picture[blood].std())

    generator = torch.Generator().manual_seed(0)
    for _ in range(8):
        darker = low_contrast(image, generator)
        assert torch.isfinite(darker).all() and (darker >= 0).all()
        assert darker[ring].mean() / darker[blood].mean() < image[ring].mean() / image[blood].mean()
        assert contrast_to_noise(darker) < 0.7 * contrast_to_noise(image)
    torch.testing.assert_close(
        low_contrast(image, torch.Generator().manual_seed(3)), low_contrast(image, torch.Generator().manual_seed(3))
    )


def test_a_random_texture_network_remaps_grey_values_but_keeps_range_grid_and_the_heart_in_place():
    """Blood (disc) and myocardium (ring) on a dark background: through random networks the image keeps its grid and
    range and is reproducible from its seed, the networks differ from draw to draw, and every slice of a stack goes
    through the same one. The edges of the heart stay where they were: the result still tells blood from ring."""
    blood, ring = _disc(radius=10.0).bool(), (_disc(radius=15.0) - _disc(radius=10.0)).bool()
    image = torch.full((64, 64), 0.05) + 0.6 * blood + 0.25 * ring
    generator = torch.Generator().manual_seed(0)
    draws = [random_texture_network(image, generator) for _ in range(12)]
    for drawn in draws:
        assert drawn.shape == image.shape and torch.isfinite(drawn).all()
        assert float(drawn.min()) >= float(image.min()) - 1e-5 and float(drawn.max()) <= float(image.max()) + 1e-5
    assert len({round(float(d[blood].mean() - d[ring].mean()), 3) for d in draws}) > 8  # the contrasts differ
    separable = [abs(float(d[blood].mean() - d[ring].mean())) > 3 * float(d[blood].std()) for d in draws]
    assert sum(separable) >= 9
    torch.testing.assert_close(
        random_texture_network(image, torch.Generator().manual_seed(5)),
        random_texture_network(image, torch.Generator().manual_seed(5)),
    )
    stack = random_texture_network(torch.stack([image, image]), torch.Generator().manual_seed(5))
    torch.testing.assert_close(stack[0], stack[1])


def test_every_simulated_site_keeps_the_grid_of_image_and_labels_alike(small_phantom):
    image, truth = small_phantom.image.frame_volume(0), small_phantom.labels[0]
    names = set()
    for index, site in enumerate(SITES):
        seen, labels = site.image(image, truth, seed=index)
        again, _ = site.image(image, truth, seed=index)
        assert seen.frames.shape[1:] == labels.shape and np.isfinite(seen.frames).all() and seen.frames.min() >= 0
        assert np.array_equal(seen.frames, again.frames)  # seeded: every run sees the same site
        assert (labels > 0).sum() > 0.5 * (truth > 0).sum()  # the heart is still in the field of view
        names.add(site.name)
    assert len(names) == len(SITES) >= 5
