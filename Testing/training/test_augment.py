"""The benchmarks' synthetic new scanner: a reproducible, bounded change of contrast, noise and resolution."""

from __future__ import annotations

import numpy as np
import torch

from GmmSegLib.training.augment import random_appearance, shifted_stack


def test_the_shifted_stack_is_reproducible_bounded_and_changes_the_image(phantom_volume):
    slices = phantom_volume.frames[0]
    shifted = shifted_stack(slices, seed=1000)
    assert shifted.shape == slices.shape and shifted.dtype == np.float32
    assert np.isfinite(shifted).all() and shifted.min() >= 0.0 and 500.0 < shifted.max() < 1500.0
    np.testing.assert_array_equal(shifted, shifted_stack(slices, seed=1000))
    assert not np.array_equal(shifted, shifted_stack(slices, seed=1001))  # the seed draws the bias field and noise
    # the anatomy survives: the shifted slices still correlate with the originals
    correlation = np.corrcoef(slices.ravel(), shifted.ravel())[0, 1]
    assert 0.5 < correlation < 0.999


def test_the_training_augmentation_is_reproducible_finite_and_varied(phantom_volume):
    image = torch.from_numpy(np.ascontiguousarray(phantom_volume.frames[0][0], dtype=np.float32))
    draws = [random_appearance(image, torch.Generator().manual_seed(seed)) for seed in range(20)]
    for seed, augmented in enumerate(draws[:3]):
        torch.testing.assert_close(augmented, random_appearance(image, torch.Generator().manual_seed(seed)))
    assert all(d.shape == image.shape and torch.isfinite(d).all() for d in draws)
    # different draws give different images, and none loses the anatomy
    assert len({round(float(d.std()), 6) for d in draws}) > 15
    correlations = [np.corrcoef(image.numpy().ravel(), d.numpy().ravel())[0, 1] for d in draws]
    assert min(abs(c) for c in correlations) > 0.3
