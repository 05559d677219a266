"""The out-of-fold accuracy (Testing/benchmarks/oof_accuracy.py) pools the two folds' volumes, not their means, and
refuses two runs of the same fold."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the benchmarks import the segmentation (torch)")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from oof_accuracy import pooled  # noqa: E402

COLUMNS = ["case", "frame", "spacing_mm", "LV_dice", "LV_hd95", "MYO_dice", "MYO_hd95", "RV_dice", "RV_hd95"]


def fold_run(folder: Path, fold: int, gmmseg_rows: list[list[float]], baseline_rows: list[list[float]]) -> Path:
    """A bench_accuracy.py output folder with the given per-volume (Dice, HD95) x (LV, MYO, RV) rows."""
    folder.mkdir()
    (folder / "accuracy.json").write_text(json.dumps({"model": f"fold{fold}.pt", "held_out_fold": fold}))
    for head, rows in (("gmmseg", gmmseg_rows), ("baseline", baseline_rows)):
        with (folder / f"{head}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for index, values in enumerate(rows):
                writer.writerow([f"fold{fold}_case{index}", "", "1x1x10", *values])
    return folder


def test_the_folds_volumes_are_pooled_and_each_condition_summarised(tmp_path):
    one = [0.9, 3.0, 0.8, 4.0, 0.7, 8.0]
    two = [0.8, 5.0, 0.7, 6.0, 0.6, 10.0]
    first = fold_run(tmp_path / "f0", 0, [one], [one])
    second = fold_run(tmp_path / "f1", 1, [two, two, two], [one, one, one])
    report = pooled([first, second])
    assert report["metrics"] == "out-of-fold" and report["validation_volumes"] == 4
    assert report["gmmseg"]["LV_dice"] == pytest.approx((0.9 + 3 * 0.8) / 4)  # by volume, not the folds' means
    assert report["gmmseg"]["RV_hd95"] == pytest.approx((8.0 + 3 * 10.0) / 4)
    assert report["baseline"]["mean_dice"] == pytest.approx(0.8)
    assert report["gmmseg_minus_baseline"]["volumes"] == 4 and report["gmmseg_minus_baseline"]["mean"] < 0
    assert "shifted_gmmseg" not in report  # neither run measured it
    assert [fold["held_out_fold"] for fold in report["folds"]] == [0, 1]


def test_two_runs_of_one_fold_are_refused(tmp_path):
    row = [0.9, 3.0, 0.8, 4.0, 0.7, 8.0]
    with pytest.raises(SystemExit, match="another fold"):
        pooled([fold_run(tmp_path / "a", 1, [row], [row]), fold_run(tmp_path / "b", 1, [row], [row])])
