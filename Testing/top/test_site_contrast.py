"""The simulated sites' contrast analysis (Testing/benchmarks/site_contrast.py) groups the volumes' Dice drops by
their blood-to-myocardium contrast-to-noise ratio (measured as Testing/clinical/test_quality.py checks)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from site_contrast import band_of, by_band, mean_drop  # noqa: E402


def test_volumes_are_grouped_in_bands_of_contrast_with_their_drops_and_gross_failures():
    ratios = (0.3, 1.0, 1.9, 2.0, 3.99, 4.0, 12.0)
    assert [band_of(v) for v in ratios] == ["<1", "1-2", "1-2", "2-4", "2-4", ">=4", ">=4"]
    bands = by_band([(0.5, 0.30), (0.8, 0.05), (3.0, 0.02), (9.0, 0.0)])
    assert bands["<1"] == {"volumes": 2, "mean_drop": pytest.approx(0.175), "gross": 1}
    assert bands["2-4"]["gross"] == 0 and bands[">=4"]["volumes"] == 1 and "1-2" not in bands
    row = {"LV_dice": 0.9, "MYO_dice": 0.8, "RV_dice": 0.7}
    assert mean_drop(row, {"LV_dice": 0.8, "MYO_dice": 0.5, "RV_dice": 0.7}) == pytest.approx(0.4 / 3)
