"""Simulated sites: how much a model loses on another scanner's images, and what label-free adaptation recovers.

    python Testing/bench_sites.py --out runs/sites_eval [--model PATH] [--split validation|auxiliary]
                                  [--sites NAME ...] [--max-volumes N] [--adapt] [--adapt-volumes 12]

Every volume of the split is segmented as stored and as each site of ``Testing/simulated_sites.py`` gives it
(labels moved alike where the site moves the anatomy); Dice and HD95 (mm) per structure, per volume then
averaged, and each site's drop against the clean images. With ``--adapt``, for every site whose mean Dice drops
by more than 2 points, ``gmmseg adapt`` (the product's command, its defaults) runs on the site's first
``--adapt-volumes`` images without labels, and the site's volumes are segmented again with what it hands over:
the adaptation time, its label-free decision (adapted model kept or starting model kept) and whether the
decision was right (the labels say which model is better on the site). Results go to ``<out>/sites.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "GmmSegModule"))
sys.path.insert(0, str(ROOT / "Testing"))

from bench_report import STRUCTURES, bench_parser, model_and_cases, structure_summary, write_report  # noqa: E402
from simulated_sites import SITES, Site  # noqa: E402

from GmmSegLib.evaluation.folders import evaluate_pair  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.io.images import to_sitk  # noqa: E402
from GmmSegLib.model.registry import load_registered  # noqa: E402

SITE_SEED = 3000  # + 100 x site index + volume index


def site_volumes(site_index: int, site: Site, root: Path, cases: list) -> list:
    """(image, truth) of every case as ``site`` gives it; the clean ones for ``site`` None."""
    volumes = []
    for index, case in enumerate(cases):
        image, truth = acdc.load_case(root, case)
        volumes.append((image, truth) if site is None
                       else site.image(image, truth, SITE_SEED + 100 * site_index + index))
    return volumes


def scores(model, volumes: list) -> list[dict]:
    return [evaluate_pair(segment(image, model, "cpu").labels[0], truth, image.spacing_xyz)
            for image, truth in volumes]


def mean_dice(summary: dict) -> float:
    return float(np.mean([summary[f"{name}_dice"] for name in STRUCTURES]))


def adapt_to(site: Site, volumes: list, count: int, out: Path, model: str | None) -> tuple[Path, dict]:
    """Run ``gmmseg adapt`` on the site's first ``count`` images; (model handed over, its description)."""
    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (image, _truth) in enumerate(volumes[:count]):
        path = folder / f"site_{index:03d}.nii.gz"
        sitk.WriteImage(to_sitk(image.frames, image.geometry), str(path))
        paths.append(str(path))
    adapted = out / "adapted.pt"
    command = [sys.executable, "-m", "GmmSegLib.cli", "adapt", *paths, "--out", str(adapted), "--device", "cpu"]
    command += ["--model", model] if model else []
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT / "GmmSegModule")
    elapsed = time.perf_counter() - start
    description = json.loads(Path(f"{adapted}.json").read_text())
    return adapted, {"seconds": round(elapsed, 1), "images": len(paths), "kept_starting_model":
                     description.get("kept_starting_model", False), "criterion": description.get("criterion")}


def main() -> int:
    parser = bench_parser(__doc__, "runs/sites_eval", selection_split="auxiliary")
    parser.add_argument("--sites", nargs="*", default=None, help="names of the sites to run (default: all)")
    parser.add_argument("--max-volumes", type=int, default=0, help="only the first N volumes of the split")
    parser.add_argument("--adapt", action="store_true", help="adapt to every site that loses over 2 points")
    parser.add_argument("--adapt-volumes", type=int, default=12)
    arguments = parser.parse_args()
    model, entry, root, cases = model_and_cases(arguments)
    cases = cases[: arguments.max_volumes or None]
    out = Path(arguments.out).resolve()
    clean = structure_summary(scores(model, site_volumes(0, None, root, cases)))
    report: dict = {"model": entry.id, "model_sha256": entry.sha256, "split": arguments.split,
                    "volumes": len(cases), "clean": clean, "sites": {}}
    print("clean", json.dumps(clean), flush=True)
    for site_index, site in enumerate(SITES):
        if arguments.sites and site.name not in arguments.sites:
            continue
        volumes = site_volumes(site_index, site, root, cases)
        shifted = structure_summary(scores(model, volumes))
        record = {"description": site.description, "shifted": shifted,
                  "drop_mean_dice": mean_dice(clean) - mean_dice(shifted),
                  "drop": {name: clean[f"{name}_dice"] - shifted[f"{name}_dice"] for name in STRUCTURES}}
        if arguments.adapt and record["drop_mean_dice"] > 0.02:
            adapted_path, record["adaptation"] = adapt_to(site, volumes, arguments.adapt_volumes,
                                                          out / "adapt" / site.name.replace(" ", "_"),
                                                          str(Path(arguments.model).resolve()) if arguments.model
                                                          else None)
            adapted, _ = load_registered(str(adapted_path))
            record["adapted"] = structure_summary(scores(adapted, volumes))
            gain = mean_dice(record["adapted"]) - mean_dice(shifted)
            record["adaptation"]["gain_mean_dice"] = gain
            record["adaptation"]["decision_right"] = (gain > 0) != record["adaptation"]["kept_starting_model"] \
                or abs(gain) < 1e-9
        report["sites"][site.name] = record
        print(site.name, json.dumps(record), flush=True)
    write_report(out, "sites", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
