"""Simulated sites: how much a model loses on another scanner's images, and what label-free adaptation recovers.

    python Testing/benchmarks/bench_sites.py --out runs/sites_eval [--model PATH] [--split validation|auxiliary]
                                  [--sites NAME ...] [--max-volumes N] [--adapt] [--adapt-volumes 12]

Every volume of the split is segmented as stored and as each site of ``Testing/benchmarks/simulated_sites.py`` gives it
(labels moved alike where the site moves the anatomy); Dice and HD95 (mm) per structure, per volume then
averaged, and each site's drop against the clean images. With ``--adapt``, for every site whose mean Dice drops
by more than 2 points, ``gmmseg adapt`` (the product's command, its defaults) runs on the site's first
``--adapt-volumes`` images without labels, and the site's volumes are segmented again with the adapted candidate
and with what adapt hands over: the adaptation time, its label-free decision (adapted model or starting model) and
whether the decision was right (the labels say whether the candidate is better on the site). Per-volume results are
kept under ``<out>/per_volume`` as they are measured, so a stopped run resumes. Results go to ``<out>/sites.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))
sys.path.insert(0, str(ROOT / "Testing" / "benchmarks"))

from bench_report import bench_parser, mean_dice, model_and_cases, site_drop, structure_summary, write_report  # noqa: E402
from simulated_sites import SITES, Site  # noqa: E402

from GmmSegLib.evaluation.folders import evaluate_pair  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.io.images import to_sitk  # noqa: E402
from GmmSegLib.model.bundle import load_model  # noqa: E402
from GmmSegLib.training.adaptation import adapt  # noqa: E402

SITE_SEED = 3000  # + 100 x site index + volume index


def site_volume(site_index: int, site: Site | None, root: Path, case, index: int) -> tuple:
    """(image, truth) of ``case`` as ``site`` gives it; as stored for ``site`` None."""
    image, truth = acdc.load_case(root, case)
    return (image, truth) if site is None else site.image(image, truth, SITE_SEED + 100 * site_index + index)


def scores(model, condition: str, volumes, cache: Path) -> list[dict]:
    """Metrics of every (case, image, truth) of ``volumes`` under ``condition``, each kept in ``cache`` as it is
    measured so that a stopped run resumes where it was (the cache folder is per model and split)."""
    rows = []
    for case, (image, truth) in volumes:
        stored = cache / condition.replace(" ", "_") / f"{case.case}.json"
        if stored.exists():
            rows.append(json.loads(stored.read_text()))
            continue
        rows.append(evaluate_pair(segment(image, model, "cpu").labels[0], truth, image.spacing_xyz))
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps(rows[-1]))
    return rows


def adapt_to(volumes: list, count: int, out: Path, model: str | None) -> dict:
    """``gmmseg adapt`` (its defaults, in-process) on the site's first ``count`` images: its time, its decision, and
    where the model it handed over and the adapted candidate it judged are."""
    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (_case, (image, _truth)) in enumerate(volumes[:count]):
        path = folder / f"site_{index:03d}.nii.gz"
        sitk.WriteImage(to_sitk(image.frames, image.geometry), str(path))
        paths.append(str(path))
    handed_over, candidate = out / "adapted.pt", out / "candidate.pt"
    start = time.perf_counter()
    if adapt(paths, handed_over, model, device="cpu", candidate_copy=candidate) != 0:
        raise RuntimeError("gmmseg adapt failed")
    description = json.loads(Path(f"{handed_over}.json").read_text())
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "images": len(paths),
        "kept_starting_model": description["kept_starting_model"],
        "criterion": description["criterion"],
        "handed_over": str(handed_over),
        "candidate": str(candidate),
    }


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
    arguments.model = str(Path(arguments.model).resolve()) if arguments.model else None
    cache = out / "per_volume"
    clean = structure_summary(
        scores(model, "clean", ((c, site_volume(0, None, root, c, i)) for i, c in enumerate(cases)), cache)
    )
    report: dict = {
        "model": entry.id,
        "model_sha256": entry.sha256,
        "split": arguments.split,
        "volumes": len(cases),
        "clean": clean,
        "sites": {},
    }
    print("clean", json.dumps(clean), flush=True)
    for site_index, site in enumerate(SITES):
        if arguments.sites and site.name not in arguments.sites:
            continue
        volumes = [(c, site_volume(site_index, site, root, c, i)) for i, c in enumerate(cases)]
        shifted = structure_summary(scores(model, site.name, volumes, cache))
        record = {
            "description": site.description,
            "shifted": shifted,
            **site_drop(clean, shifted),
        }
        if arguments.adapt and record["drop_mean_dice"] > 0.02:
            adaptation = adapt_to(
                volumes, arguments.adapt_volumes, out / "adapt" / site.name.replace(" ", "_"), arguments.model
            )
            candidate, _ = load_model(adaptation["candidate"])
            record["candidate"] = structure_summary(scores(candidate, f"{site.name} candidate", volumes, cache))
            candidate_gain = mean_dice(record["candidate"]) - mean_dice(shifted)
            kept = adaptation["kept_starting_model"]
            record["adapted"] = shifted if kept else record["candidate"]  # what the site gets
            adaptation.update(
                gain_mean_dice=0.0 if kept else candidate_gain,
                candidate_gain_mean_dice=candidate_gain,
                decision_right=(candidate_gain > 0) != kept,
            )
            record["adaptation"] = adaptation
        report["sites"][site.name] = record
        print(site.name, json.dumps(record), flush=True)
    write_report(out, "sites", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
