"""Out-of-fold simulated sites of a training recipe: the two folds' ``bench_sites.py`` results pooled, volume by volume.

    python Testing/benchmarks/oof_sites.py --runs runs/sites_fold0 runs/sites_fold1 --out runs/sites_oof

Each run is ``bench_sites.py --split S --model <the recipe's model that never saw split S>`` (fold 0 is the auxiliary
split, fold 1 the validation split); together they cover the 50 labelled patients, each segmented by a model that
never saw it. Every condition the runs share (the clean images and each site) is pooled from the runs' per-volume
results and summarised as ``bench_sites.py`` summarises one split: Dice and HD95 per structure, per volume then
averaged, and each site's drop against the clean images. Adaptation results are not pooled (they are per fold).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import mean_dice, site_drop, structure_summary, write_report  # noqa: E402


def condition_rows(runs: list[Path], reports: list[dict], condition: str) -> list[dict]:
    """The per-volume results ``bench_sites.py`` kept for ``condition`` (one JSON per case) in every run, pooled;
    a run that does not hold one for each of its volumes is refused."""
    rows = []
    for run, report in zip(runs, reports, strict=True):
        cases = sorted((run / "per_volume" / condition.replace(" ", "_")).glob("*.json"))
        if len(cases) != report["volumes"]:
            raise SystemExit(f"{run} holds {len(cases)} volumes of {report['volumes']} for {condition!r}")
        rows += [json.loads(path.read_text()) for path in cases]
    return rows


def pooled(runs: list[Path]) -> dict:
    """The out-of-fold sites report of ``runs`` (bench_sites.py output folders, one per split)."""
    reports = [json.loads((run / "sites.json").read_text()) for run in runs]
    splits = [report["split"] for report in reports]
    if len(set(splits)) != len(splits):
        raise SystemExit(f"each run must measure another split, got splits {splits}")
    clean_rows = condition_rows(runs, reports, "clean")
    clean = structure_summary(clean_rows)
    report: dict = {
        "metrics": "out-of-fold",
        "runs": [{"split": r["split"], "model": r["model"], "model_sha256": r["model_sha256"]} for r in reports],
        "volumes": len(clean_rows),
        "clean": clean,
        "sites": {},
    }
    shared_sites = [name for name in reports[0]["sites"] if all(name in r["sites"] for r in reports)]
    for name in shared_sites:
        shifted = structure_summary(condition_rows(runs, reports, name))
        report["sites"][name] = {
            "description": reports[0]["sites"][name]["description"],
            "shifted": shifted,
            **site_drop(clean, shifted),
        }
    sites = report["sites"].values()
    report["mean_over_sites"] = sum(mean_dice(site["shifted"]) for site in sites) / max(1, len(sites))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="bench_sites.py output folders, one per split")
    parser.add_argument("--out", required=True)
    arguments = parser.parse_args()
    write_report(arguments.out, "sites", pooled([Path(run) for run in arguments.runs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
