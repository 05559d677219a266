"""Out-of-fold accuracy of a training recipe: the two folds' ``bench_accuracy.py`` results pooled, volume by volume.

    python Testing/benchmarks/oof_accuracy.py --runs runs/eval_fold0 runs/eval_fold1 --out runs/eval_oof

Each run is ``bench_accuracy.py --held-out-fold F --model <the recipe's model that never saw fold F>``; together
they cover the 50 labelled patients, each segmented by a model that never saw it. The per-volume rows of every
condition the runs share (clean, shifted, shifted after adaptation; GmmSeg and the baseline readout) are pooled and
summarised as ``bench_accuracy.py`` summarises one fold (Dice and HD95 per structure, per volume then averaged),
so the result reads like ``accuracy.json`` and is what a model trained on all the patients with the same recipe
registers as its accuracy (``scripted_training/register_model.py --metrics``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_accuracy import paired_difference  # noqa: E402
from bench_report import write_report  # noqa: E402

from GmmSegLib.evaluation.metrics import summarise  # noqa: E402

# report key -> per-volume table under a bench_accuracy.py run
CONDITIONS = {
    "baseline": "baseline.csv",
    "gmmseg": "gmmseg.csv",
    "shifted_baseline": "shifted/baseline.csv",
    "shifted_gmmseg": "shifted/gmmseg.csv",
    "shifted_adapted_baseline": "shifted_adapted/baseline.csv",
    "shifted_adapted_gmmseg": "shifted_adapted/gmmseg.csv",
}


def read_rows(table: Path) -> list[dict]:
    with table.open(newline="") as handle:
        return list(csv.DictReader(handle))


def metric_rows(rows: list[dict]) -> list[dict[str, float]]:
    """The numeric columns of evaluation rows (Dice and HD95 per structure)."""
    return [{key: float(value) for key, value in row.items() if key.endswith(("_dice", "_hd95"))} for row in rows]


def pooled(runs: list[Path]) -> dict:
    """The out-of-fold report of ``runs`` (bench_accuracy.py output folders, one per held-out fold)."""
    reports = [json.loads((run / "accuracy.json").read_text()) for run in runs]
    folds = [report.get("held_out_fold") for report in reports]
    if len(set(folds)) != len(folds):
        raise SystemExit(f"each run must hold out another fold, got folds {folds}")
    report: dict = {
        "metrics": "out-of-fold",
        "folds": [{"held_out_fold": r.get("held_out_fold"), "model": r["model"]} for r in reports],
    }
    rows = {}
    for key, table in CONDITIONS.items():
        if all((run / table).exists() for run in runs):
            rows[key] = [row for run in runs for row in read_rows(run / table)]
            report[key] = summarise(metric_rows(rows[key]))
    report["validation_volumes"] = len(rows["gmmseg"])
    report["gmmseg_minus_baseline"] = paired_difference(rows["gmmseg"], rows["baseline"])
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="bench_accuracy.py output folders, one per fold")
    parser.add_argument("--out", required=True)
    arguments = parser.parse_args()
    write_report(arguments.out, "accuracy", pooled([Path(run) for run in arguments.runs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
