"""Is a simulated site's loss in its images or in the model? Each volume's blood-to-myocardium contrast-to-noise
ratio on the site's image, against the Dice the site cost that volume.

    python Testing/benchmarks/site_contrast.py --runs runs/sites_fold0 runs/sites_fold1 --out runs/site_contrast
                                   [--sites NAME ...]

Each run is a ``bench_sites.py`` results folder (its ``sites.json`` names the split, ``per_volume`` holds every
volume's metrics clean and per site). Every volume's site image is made again exactly as ``bench_sites.py`` made it
(same seeds), and its contrast-to-noise ratio measured with the expert's labels (``GmmSegLib.clinical.quality.
blood_myocardium_cnr``, what the product measures with its own labels to say why a poor result is poor). A
site that pushes the myocardium's intensity into the noise leaves no model much to read; one that leaves the contrast
but still costs Dice points at the model. Per site, the volumes are grouped in bands of contrast-to-noise; per band,
the number of volumes, the mean drop of mean Dice against the clean image, and the gross failures (a drop over
:data:`GROSS_DROP`). The clean images' own ratios are the reference. Results go to ``<out>/site_contrast.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import STRUCTURES, write_report  # noqa: E402

from GmmSegLib.clinical.quality import blood_myocardium_cnr  # noqa: E402

CNR_BANDS = (0.0, 1.0, 2.0, 4.0)  # lower edges; the first band takes everything below 1, the last everything above 4
GROSS_DROP = 0.10  # a volume whose mean Dice fell by more than this on the site: a gross failure


def band_of(cnr: float) -> str:
    """The name of the contrast-to-noise band ``cnr`` falls in ("<1", "1-2", "2-4", ">=4")."""
    edges = CNR_BANDS
    if cnr < edges[1]:
        return f"<{edges[1]:g}"
    for low, high in zip(edges[1:-1], edges[2:], strict=True):
        if cnr < high:
            return f"{low:g}-{high:g}"
    return f">={edges[-1]:g}"


def mean_drop(clean: dict, shifted: dict) -> float:
    """The drop of one volume's mean Dice over LV, MYO and RV from ``clean`` to ``shifted`` (evaluate_pair rows)."""
    return float(np.mean([clean[f"{name}_dice"] - shifted[f"{name}_dice"] for name in STRUCTURES]))


def by_band(volumes: list[tuple[float, float]]) -> dict:
    """(contrast-to-noise, drop) per volume summarised per band: volumes, mean drop, gross failures."""
    bands: dict[str, list[float]] = {}
    for cnr, drop in sorted(volumes):
        bands.setdefault(band_of(cnr), []).append(drop)
    return {
        band: {"volumes": len(drops), "mean_drop": float(np.mean(drops)), "gross": sum(d > GROSS_DROP for d in drops)}
        for band, drops in bands.items()
    }


def measured(run: Path, site_names: list[str] | None) -> dict:
    """Per site (and clean), every volume's (contrast-to-noise, drop) in one ``bench_sites.py`` run."""
    from bench_sites import site_volume
    from simulated_sites import SITES

    from GmmSegLib.core.paths import acdc_dir
    from GmmSegLib.io import acdc

    report = json.loads((run / "sites.json").read_text())
    root = acdc_dir()
    auxiliary, validation = acdc.split(acdc.list_cases(root))
    cases = (validation if report["split"] == "validation" else auxiliary)[: report["volumes"]]
    chosen = [(i, site) for i, site in enumerate(SITES) if site.name in report["sites"]]
    chosen = [(i, site) for i, site in chosen if not site_names or site.name in site_names]
    results: dict[str, list[tuple[float, float]]] = {"clean": []}
    for index, case in enumerate(cases):
        clean_row = json.loads((run / "per_volume" / "clean" / f"{case.case}.json").read_text())
        image, truth = site_volume(0, None, root, case, index)
        results["clean"].append((blood_myocardium_cnr(image.frames[0], truth), 0.0))
        for site_index, site in chosen:
            row = json.loads((run / "per_volume" / site.name.replace(" ", "_") / f"{case.case}.json").read_text())
            seen, seen_truth = site_volume(site_index, site, root, case, index)
            cnr = blood_myocardium_cnr(seen.frames[0], seen_truth)
            results.setdefault(site.name, []).append((cnr, mean_drop(clean_row, row)))
    return results


def summary(volumes: dict[str, list[tuple[float, float]]]) -> dict:
    """Per condition: the volumes' median contrast-to-noise, the mean drop, and the drop per contrast band."""
    report = {}
    for condition, rows in volumes.items():
        ratios = [cnr for cnr, _ in rows if np.isfinite(cnr)]
        report[condition] = {
            "volumes": len(rows),
            "median_cnr": float(np.median(ratios)) if ratios else float("nan"),
            "mean_drop": float(np.mean([drop for _, drop in rows])),
            "bands": by_band([(cnr, drop) for cnr, drop in rows if np.isfinite(cnr)]),
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="bench_sites.py results folders")
    parser.add_argument("--out", required=True)
    parser.add_argument("--sites", nargs="*", default=None, help="names of the sites (default: every site measured)")
    arguments = parser.parse_args()
    pooled: dict[str, list[tuple[float, float]]] = {}
    for run in arguments.runs:
        for condition, rows in measured(Path(run), arguments.sites).items():
            pooled.setdefault(condition, []).extend(rows)
    write_report(arguments.out, "site_contrast", {"runs": arguments.runs, "conditions": summary(pooled)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
