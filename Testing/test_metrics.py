"""Dice and HD95 on shapes with known answers."""

import numpy as np
import pytest

from GmmSegLib.evaluation.metrics import dice, hd95, structure_metrics, summarise


def test_dice_known_values():
    a = np.zeros((1, 10, 10), bool)
    b = np.zeros((1, 10, 10), bool)
    a[0, :, :5] = True
    b[0, :, :5] = True
    assert dice(a, b) == 1.0
    b[0, :, :] = False
    b[0, :, 5:] = True
    assert dice(a, b) == 0.0
    b[0, :, :] = False
    b[0, :5, :5] = True
    assert dice(a, b) == pytest.approx(2 * 25 / (50 + 25))
    assert dice(np.zeros(3), np.zeros(3)) == 1.0


def test_hd95_of_a_shifted_box_is_the_shift_in_mm():
    a = np.zeros((4, 40, 40), bool)
    a[1:3, 10:20, 10:20] = True
    b = np.roll(a, 3, axis=2)
    assert hd95(a, b, (10.0, 1.5, 1.5)) == pytest.approx(4.5)
    assert hd95(a, a, (10.0, 1.5, 1.5)) == 0.0
    assert np.isnan(hd95(a, np.zeros_like(a), (1.0, 1.0, 1.0)))


def test_structure_metrics_and_summary():
    truth = np.zeros((2, 20, 20), np.uint8)
    truth[:, 5:10, 5:10] = 1
    truth[:, 12:15, 12:15] = 3
    prediction = truth.copy()
    prediction[:, 12:15, 12:15] = 0  # RV missed
    row = structure_metrics(prediction, truth, (8.0, 1.0, 1.0))
    assert row["LV_dice"] == 1.0 and row["RV_dice"] == 0.0 and row["MYO_dice"] == 1.0
    assert np.isnan(row["RV_hd95"])
    summary = summarise([row, structure_metrics(truth, truth, (8.0, 1.0, 1.0))])
    assert summary["RV_dice"] == 0.5 and summary["RV_hd95"] == 0.0 and summary["RV_hd95_undefined"] == 1
    assert summary["mean_dice"] == pytest.approx((1 + 1 + 0.5) / 3)
