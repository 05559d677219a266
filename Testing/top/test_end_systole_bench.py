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
    -0.1 of offset (1 ml more for every +0.1), never below nothing."""
    esv = np.maximum(esv_expert + too_large_ml + 10.0 * np.array(OFFSETS), 0.0)
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
    # a model that draws the cavity too small is corrected the other way
    assert OFFSETS[choose_offset([_record(60.0, -3.0)])] == pytest.approx(0.3)


def test_an_end_systolic_cavity_the_correction_erases_has_no_ejection_fraction():
    """As the product's indices have it (clinical.indices.ejection_fraction): an EF of 100 % would be an outlier the
    correction never made; the patient counts as missing instead."""
    records = [_record(60.0 + n, 5.0) for n in range(9)] + [_record(2.0, 0.0)]  # the last: 2 ml, erased at -0.5
    erased = OFFSETS.index(-0.5)
    assert records[-1]["esv"][erased] == 0.0
    held_out = figures(records, [erased] * len(records))
    assert held_out["lv_ef"]["missing"] == 1 and held_out["lv_esv"]["missing"] == 0
