"""The simulated sites' contrast analysis (Testing/benchmarks/site_contrast.py): the blood-to-myocardium
contrast-to-noise ratio it measures, and how it groups the volumes' Dice drops."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from site_contrast import band_of, blood_myocardium_cnr, by_band, mean_drop  # noqa: E402

from GmmSegLib.core.labels import LV, MYO  # noqa: E402


def ring_phantom(blood: float, myocardium: float, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three slices of an LV blood pool in a myocardial ring on dark lung, with Gaussian pixel noise."""
    y, x = np.mgrid[:96, :96]
    radius = np.hypot(y - 48, x - 48)
    labels = np.where(radius < 15, LV, np.where(radius < 22, MYO, 0))[None].repeat(3, 0)
    clean = np.where(labels == LV, blood, np.where(labels == MYO, myocardium, 5.0))
    return clean + np.random.default_rng(seed).normal(0, noise, clean.shape), labels


def test_the_ratio_is_the_blood_to_myocardium_step_over_the_pixel_noise():
    image, labels = ring_phantom(blood=100.0, myocardium=50.0, noise=10.0)
    assert blood_myocardium_cnr(image, labels) == pytest.approx(5.0, rel=0.15)
    darker, _ = ring_phantom(blood=100.0, myocardium=80.0, noise=20.0)
    assert blood_myocardium_cnr(darker, labels) == pytest.approx(1.0, rel=0.2)
    assert np.isnan(blood_myocardium_cnr(image, np.where(labels == MYO, 0, labels)))  # no myocardium drawn


def test_volumes_are_grouped_in_bands_of_contrast_with_their_drops_and_gross_failures():
    ratios = (0.3, 1.0, 1.9, 2.0, 3.99, 4.0, 12.0)
    assert [band_of(v) for v in ratios] == ["<1", "1-2", "1-2", "2-4", "2-4", ">=4", ">=4"]
    bands = by_band([(0.5, 0.30), (0.8, 0.05), (3.0, 0.02), (9.0, 0.0)])
    assert bands["<1"] == {"volumes": 2, "mean_drop": pytest.approx(0.175), "gross": 1}
    assert bands["2-4"]["gross"] == 0 and bands[">=4"]["volumes"] == 1 and "1-2" not in bands
    row = {"LV_dice": 0.9, "MYO_dice": 0.8, "RV_dice": 0.7}
    assert mean_drop(row, {"LV_dice": 0.8, "MYO_dice": 0.5, "RV_dice": 0.7}) == pytest.approx(0.4 / 3)
