"""Accuracy benchmark on the ACDC development-validation split (labels never used for training).

    python Testing/benchmarks/bench_accuracy.py --out runs/eval [--model PATH] [--adapt-epochs 3] [--held-out-fold 1]

``--held-out-fold 0`` measures a cross-validation model on the other fold of the project's two (the auxiliary
patients), which that model never saw; ``Testing/benchmarks/oof_accuracy.py`` pools the two folds' results into the
out-of-fold accuracy of a recipe.

Steps, through the product's own commands where it has them:
1. ``gmmseg segment`` on the 50 validation volumes, and the same steps in-process with the plain baseline's
   readout (``readouts.BASELINE``: the supervised feature U-Net alone), then ``gmmseg evaluate --gt-labels
   acdc``: Dice and HD95 per structure, per volume then averaged, and the paired per-volume difference of mean
   Dice between the two (bootstrap 95 % CI).
2. The error of the automatic localisation against the expert's: LV centre (mm, in plane) and LV-to-RV
   direction (degrees), for the localiser alone and for the crop segmentation uses (re-centred).
3. Synthetic domain shift of the validation images (gamma, bias field, noise, 1.5x coarser), the same
   evaluation before and after ``gmmseg adapt`` on the shifted images (no labels).
4. The demo phantom segmented by the model: Dice per structure at ED and ES.
Results go to ``<out>/accuracy.json``; BENCHMARKS.md quotes them with the command.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import shifted_image, write_report  # noqa: E402

from GmmSegLib.core.paths import acdc_dir  # noqa: E402
from GmmSegLib.evaluation.folders import evaluate_folders, evaluate_pair  # noqa: E402
from GmmSegLib.inference.case_files import summarise_case, write_case  # noqa: E402
from GmmSegLib.inference.end_systole import lv_log_offset_of  # noqa: E402
from GmmSegLib.inference.localisation import locate_from_ground_truth, locate_heart  # noqa: E402
from GmmSegLib.inference.segmentation import locate_and_centre, segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.io.images import image_stem, read_cardiac_image, to_sitk  # noqa: E402
from GmmSegLib.io.phantom import make_cine_phantom  # noqa: E402
from GmmSegLib.model.alignment import turn_between_deg  # noqa: E402
from GmmSegLib.model.registry import load_registered  # noqa: E402
from GmmSegLib.training.augment import VALIDATION_SHIFT_SEED  # noqa: E402
from readouts import BASELINE  # noqa: E402


def gmmseg(*arguments: str) -> None:
    """Run the installed command exactly as a user would; stop on failure."""
    subprocess.run(
        [sys.executable, "-m", "GmmSegLib.cli", *arguments],
        check=True,
        cwd=ROOT / "GmmSegModule",
        stdout=subprocess.DEVNULL,
    )


def held_out_cases(root: Path, fold: int) -> list[acdc.AcdcCase]:
    """The cases of ``fold`` of the project's two folds (1: the development-validation patients)."""
    return acdc.split(acdc.list_cases(root), acdc.FOLDS, fold)[1]


def validation_folders(root: Path, out: Path, fold: int) -> tuple[list[Path], Path]:
    """Held-out image paths and a folder of links to their labels only (so evaluate sees nothing else)."""
    validation = held_out_cases(root, fold)
    labels = out / "validation_labels"
    labels.mkdir(parents=True, exist_ok=True)
    for case in validation:
        link = labels / acdc.label_path(root, case).name
        if not link.exists():
            link.symlink_to(acdc.label_path(root, case).resolve())
    return [acdc.image_path(root, case) for case in validation], labels


def evaluate(images: list[Path], labels: Path, out: Path, head: str, model: str | None) -> tuple[dict, list[dict]]:
    """Segment with one head and evaluate: (summary, per-volume rows); the rows also go to ``<out>/<head>.csv``."""
    predictions = out / head
    if head == "gmmseg":  # the product, as a user runs it
        model_arguments = ["--model", model] if model else []
        gmmseg("segment", *map(str, images), "--out", str(predictions), "--device", "cpu", *model_arguments)
    else:  # what `gmmseg segment` does, with the baseline's readout, which the command does not offer
        network, entry = load_registered(model)
        for path in images:
            image = read_cardiac_image(path)
            result = segment(image, network, "cpu", readout=BASELINE)
            write_case(predictions, image_stem(path), image, result, summarise_case(result, image, entry))
    rows, summary = evaluate_folders(predictions, labels, "acdc")
    with (out / f"{head}.csv").open("w", newline="") as table:
        writer = csv.DictWriter(table, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return summary, rows


def paired_difference(gmmseg_rows: list[dict], baseline_rows: list[dict]) -> dict:
    """Per-volume mean Dice of GmmSeg minus the baseline (evaluation rows): mean, bootstrap 95 % CI, wins."""

    def mean_dice(rows: list[dict]) -> dict[str, float]:
        return {row["case"]: np.mean([float(row[f"{name}_dice"]) for name in ("LV", "MYO", "RV")]) for row in rows}

    a, b = mean_dice(gmmseg_rows), mean_dice(baseline_rows)
    differences = np.array([a[case] - b[case] for case in sorted(a)])
    resamples = np.random.default_rng(0).choice(differences, (10000, len(differences))).mean(axis=1)
    return {
        "mean": float(differences.mean()),
        "ci95": [float(np.percentile(resamples, q)) for q in (2.5, 97.5)],
        "gmmseg_better": int((differences > 0).sum()),
        "volumes": len(differences),
    }


def localisation_errors(root: Path, model_path: str | None, fold: int) -> dict:
    """How far the crop's LV centre (mm, in plane) and LV-to-RV direction (degrees) lie from the expert's.

    Given for the localiser's location alone and for the crop :func:`segment` uses (the localiser's, re-centred
    on GmmSeg's segmentation of the stack: ``GmmSegLib.inference.centring``).
    """
    model, _ = load_registered(model_path)
    validation = held_out_cases(root, fold)
    errors: dict[str, dict[str, list[float]]] = {
        kind: {"centre_mm": [], "direction_deg": []} for kind in ("localiser", "centred")
    }
    for case in validation:
        image, labels = acdc.load_case(root, case)
        truth = locate_from_ground_truth(labels, image.spacing_xyz)
        for kind, found in (
            ("localiser", locate_heart(model.localiser, image.frames[0], image.spacing_xyz)),
            ("centred", locate_and_centre(model, image.frames[0], image.spacing_xyz)[0]),
        ):
            delta = (found.lv_centre_xy - truth.lv_centre_xy) * np.array(image.spacing_xyz[:2])
            errors[kind]["centre_mm"].append(float(np.hypot(*delta)))
            errors[kind]["direction_deg"].append(turn_between_deg(found.angle, truth.angle))
    return {
        kind: {
            name: {
                "median": float(np.median(v)),
                "mean": float(np.mean(v)),
                "p90": float(np.percentile(v, 90)),
                "max": float(np.max(v)),
            }
            for name, v in measures.items()
        }
        | {"volumes": len(validation)}
        for kind, measures in errors.items()
    }


def shifted_copies(images: list[Path], out: Path) -> list[Path]:
    """The validation images seen through a synthetic 'new scanner' (fixed seed per volume)."""
    folder = out / "shifted_images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, path in enumerate(images):
        target = folder / path.name
        if not target.exists():
            image = read_cardiac_image(path)
            shifted = shifted_image(image, VALIDATION_SHIFT_SEED + index)
            sitk.WriteImage(to_sitk(shifted.frames, image.geometry), str(target))
        paths.append(target)
    return paths


def phantom_dice(model_path: str | None) -> dict:
    model, entry = load_registered(model_path)
    phantom = make_cine_phantom()
    # a cine, segmented as `gmmseg segment` segments it: with the model's end-systolic correction, if it has one
    result = segment(phantom.image, model, "cpu", end_systolic_lv_offset=lv_log_offset_of(entry.record))
    frames = (0, phantom.es_frame)
    rows = [evaluate_pair(result.labels[t], phantom.labels[t], phantom.image.spacing_xyz) for t in frames]
    return {name: float(np.mean([row[f"{name}_dice"] for row in rows])) for name in ("LV", "MYO", "RV")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/eval")
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--adapt-epochs", type=int, default=3)
    parser.add_argument("--skip-shift", action="store_true")
    parser.add_argument(
        "--held-out-fold", type=int, choices=(0, 1), default=acdc.HELD_OUT_FOLD, help="the fold the model never saw"
    )
    arguments = parser.parse_args()
    out = Path(arguments.out).resolve()
    if arguments.model:  # the gmmseg subprocesses run in another folder
        arguments.model = str(Path(arguments.model).resolve())
    root = Path(arguments.data).resolve() if arguments.data else acdc_dir()
    images, labels = validation_folders(root, out, arguments.held_out_fold)
    report: dict = {
        "model": arguments.model or "shipped default",
        "validation_volumes": len(images),
        "held_out_fold": arguments.held_out_fold,
    }
    rows = {}
    for head in ("baseline", "gmmseg"):
        report[head], rows[head] = evaluate(images, labels, out, head, arguments.model)
        print(head, json.dumps(report[head]), flush=True)
    report["gmmseg_minus_baseline"] = paired_difference(rows["gmmseg"], rows["baseline"])
    report["localisation_error"] = localisation_errors(root, arguments.model, arguments.held_out_fold)
    report["phantom_dice"] = phantom_dice(arguments.model)
    print(json.dumps(report["localisation_error"]), json.dumps(report["phantom_dice"]), flush=True)
    if not arguments.skip_shift:
        shifted = shifted_copies(images, out)
        for head in ("baseline", "gmmseg"):
            report[f"shifted_{head}"], _ = evaluate(shifted, labels, out / "shifted", head, arguments.model)
        adapted = out / "adapted" / "gmmseg_adapted.pt"
        if not adapted.exists():
            model_arguments = ["--model", arguments.model] if arguments.model else []
            gmmseg(
                "adapt",
                *map(str, shifted),
                "--out",
                str(adapted),
                "--epochs",
                str(arguments.adapt_epochs),
                "--device",
                "cpu",
                *model_arguments,
            )
        for head in ("baseline", "gmmseg"):
            report[f"shifted_adapted_{head}"], _ = evaluate(
                shifted, labels, out / "shifted_adapted", head, str(adapted)
            )
    write_report(out, "accuracy", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
