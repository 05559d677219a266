"""The out-of-fold simulated sites (Testing/benchmarks/oof_sites.py) pool the two splits' volumes, not their means,
and refuse two runs of one split or a run whose per-volume results are incomplete."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from oof_sites import pooled  # noqa: E402


def volume(dice: float, hd95: float) -> dict:
    return {
        f"{name}_{metric}": value for name in ("LV", "MYO", "RV") for metric, value in (("dice", dice), ("hd95", hd95))
    }


def split_run(
    folder: Path, split: str, clean: list[dict], banding: list[dict], sharp: list[dict] | None = None
) -> Path:
    """A bench_sites.py output folder: its report and one JSON per case and condition."""
    conditions = {"clean": clean, "3T banding": banding} | ({"sharp low-res": sharp} if sharp else {})
    for condition, rows in conditions.items():
        cases = folder / "per_volume" / condition.replace(" ", "_")
        cases.mkdir(parents=True)
        for index, row in enumerate(rows):
            (cases / f"patient{index:03d}.json").write_text(json.dumps(row))
    sites = {name: {"description": name} for name in conditions if name != "clean"}
    report = {"model": f"fold-{split}", "model_sha256": "0" * 64, "split": split, "volumes": len(clean), "sites": sites}
    (folder / "sites.json").write_text(json.dumps(report))
    return folder


def test_the_splits_volumes_are_pooled_and_each_shared_site_summarised(tmp_path):
    first = split_run(tmp_path / "aux", "auxiliary", [volume(0.9, 4.0)], [volume(0.7, 8.0)])
    second = split_run(tmp_path / "val", "validation", *[[volume(0.8, 6.0)] * 3] * 3)  # and sharp low-res
    report = pooled([first, second])
    assert report["metrics"] == "out-of-fold" and report["volumes"] == 4
    assert report["clean"]["LV_dice"] == pytest.approx((0.9 + 3 * 0.8) / 4)  # by volume, not the splits' means
    banding = report["sites"]["3T banding"]
    assert banding["shifted"]["MYO_hd95"] == pytest.approx((8.0 + 3 * 6.0) / 4)
    assert banding["drop_mean_dice"] == pytest.approx((0.9 + 3 * 0.8) / 4 - (0.7 + 3 * 0.8) / 4)
    assert banding["drop"]["RV"] == pytest.approx(banding["drop_mean_dice"])
    assert list(report["sites"]) == ["3T banding"]  # a site measured on one split only is not pooled
    assert report["mean_over_sites"] == pytest.approx((0.7 + 3 * 0.8) / 4)


def test_two_runs_of_one_split_are_refused(tmp_path):
    rows = [volume(0.9, 4.0)]
    with pytest.raises(SystemExit, match="another split"):
        pooled(
            [split_run(tmp_path / "a", "validation", rows, rows), split_run(tmp_path / "b", "validation", rows, rows)]
        )


def test_a_run_missing_volumes_is_refused(tmp_path):
    run = split_run(tmp_path / "a", "validation", [volume(0.9, 4.0)] * 2, [volume(0.9, 4.0)] * 2)
    (run / "per_volume" / "clean" / "patient001.json").unlink()
    other = split_run(tmp_path / "b", "auxiliary", [volume(0.9, 4.0)], [volume(0.9, 4.0)])
    with pytest.raises(SystemExit, match="holds 1 volumes of 2 for 'clean'"):
        pooled([run, other])
