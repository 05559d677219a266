"""The benchmarks' synthetic new scanner: a reproducible, bounded change of contrast, noise and resolution."""

from __future__ import annotations

import numpy as np

from GmmSegLib.augment import shifted_stack


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
