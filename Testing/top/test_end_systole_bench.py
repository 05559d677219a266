"""Testing/benchmarks/bench_end_systole.py chooses, by cross-validation over patients, the offset that leaves the
end-systolic LV volume unbiased, and reads every patient at the offset its fold chose."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the benchmarks import the segmentation (torch)")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_end_systole import OFFSETS, choose_offset, cross_validate, figures  # noqa: E402


def _record(esv_expert: float, too_large_ml: float) -> dict:
    """A patient whose end-systolic cavity is drawn ``too_large_ml`` too large without correction, 1 ml less for every
    0.1 of offset."""
    esv = esv_expert + too_large_ml - 10.0 * np.abs(np.array(OFFSETS))
    return {
        "edv_expert": 100.0 + esv_expert,
        "esv_expert": esv_expert,
        "edv": np.full(len(OFFSETS), 100.0 + esv_expert),
        "esv": esv,
        "es_dice": np.full((len(OFFSETS), 3), 0.9),
    }


def test_the_offset_that_leaves_the_end_systolic_volume_unbiased_is_chosen_and_applied_held_out():
    records = [_record(60.0 + n, 5.0) for n in range(10)]  # every cavity 5 ml too large: offset -0.5
    assert OFFSETS[choose_offset(records)] == -0.5
    chosen, per_fold = cross_validate(records)
    assert per_fold == [-0.5] * 5 and all(OFFSETS[i] == -0.5 for i in chosen)
    held_out = figures(records, chosen)
    assert held_out["lv_esv"]["bias"] == pytest.approx(0.0, abs=1e-9)
    before = figures(records, [0] * len(records))
    assert before["lv_esv"]["bias"] == pytest.approx(5.0) and before["lv_ef"]["bias"] < held_out["lv_ef"]["bias"]
    # an unbiased model is left alone: the smaller correction wins ties
    assert OFFSETS[choose_offset([_record(60.0, 0.0)])] == 0.0
