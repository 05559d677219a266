"""Add a trained checkpoint to the shipped model registry (``Resources/Models/Models.json``).

    python scripted_training/register_model.py --model runs/acdc/gmmseg_acdc.pt --id gmmseg-acdc-v10 \
        --file gmmseg_acdc_v10.pt --command "python scripted_training/train.py ..." \
        --metrics runs/eval/accuracy.json [--review-calibration review_queue.json] [--default]

Copies the checkpoint next to the registry and records its sha256, the exact training command, the data
split (from the checkpoint's training configuration), the git commit of the code that trained it and the measured
metrics: ``bench_accuracy.py``'s on the validation split for a model that never saw it, ``oof_accuracy.py``'s
out-of-fold figures of its recipe for a model trained on every labelled patient (``--held-out-fold none``).
``--review-calibration`` takes the review estimate's constants from ``bench_review_queue.py``'s JSON (those it
applies to every fold, ``with_shipped_constants``; with ``--pooled``, fitted on all the folds' predictions).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from GmmSegLib.clinical.error_estimate import CALIBRATION_CONSTANTS  # noqa: E402
from GmmSegLib.model.bundle import load_model  # noqa: E402
from GmmSegLib.model.registry import REGISTRY_NAME, sha256_of  # noqa: E402

PROJECT_SPLIT = (
    "labelled auxiliary set (supervised pretraining, atlas, registration net): ACDC patients 001-005, "
    "021-025, 041-045, 061-065, 081-085 (ED+ES labels); label-free ELBO adaptation: images of all 50 "
    "ACDC patients in ../shared/data/acdc; development validation (never trained or tuned on): the other "
    "25 patients' labels"
)
EVERY_PATIENT = (
    "every labelled ACDC patient in ../shared/data/acdc (50, ED+ES labels: supervised pretraining, atlas, "
    "registration net, calibration) and their images (label-free ELBO adaptation); its accuracy figures are the "
    "out-of-fold predictions of the same recipe's cross-validation (each patient segmented by the fold model "
    "that never saw it)"
)


def split_of(config: dict) -> str:
    """The data split a checkpoint was trained on, from its training configuration (io.acdc.split)."""
    folds, held_out = config.get("folds", 2), config.get("held_out_fold", 1)
    if held_out is None:
        return EVERY_PATIENT
    if (folds, held_out) == (2, 1):
        return PROJECT_SPLIT
    return (
        f"labelled ACDC patients outside fold {held_out} of {folds} (io.acdc.fold_of: each pathology group cut by "
        "position); label-free ELBO adaptation: images of all 50 ACDC patients in ../shared/data/acdc"
    )


def review_calibration(bench_json: Path, fitted_on: str) -> dict:
    """The review estimate's constants from ``bench_review_queue.py``'s output, with what they were fitted on."""
    constants = json.loads(bench_json.read_text())["with_shipped_constants"]["constants"]
    return {
        **{name: constants[name] for name in (*CALIBRATION_CONSTANTS, "checked_dice_weights") if name in constants},
        "fitted_on": fitted_on,
    }


def speed(bench_json: Path, commit: str) -> dict:
    """The registry's speed record from ``gmmseg bench``'s JSON, with the machine and the commit it measured."""
    bench = json.loads(bench_json.read_text())
    machine = bench["machine"]
    return {
        "machine": f"{machine['cpu']} {machine['device']}, torch {machine['torch']}, {machine['threads']} threads",
        "volume_10_slices_s": bench["volume_10_slices_end_to_end_s"],
        "cine_20_frames_s": bench["cine_20_frames_end_to_end_s"],
        "git_commit": commit,
    }


def end_systolic_correction(bench_json: Path) -> dict:
    """The end-systolic cavity correction (GmmSegLib.inference.end_systole) from ``bench_end_systole.py``'s output,
    with what it was fitted on."""
    fitted = json.loads(bench_json.read_text())
    return {
        "lv_log_offset": fitted["offset_on_all"],
        "fitted_on": f"{', '.join(fitted['predictions'])} ({fitted['patients']} patients): {fitted['rule']} "
        f"(CV folds {min(fitted['offset_per_cv_fold'])} to {max(fitted['offset_per_cv_fold'])})",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--file", required=True, help="file name under Resources/Models")
    parser.add_argument("--command", required=True, help="the exact training command")
    parser.add_argument("--title", required=True, help="the name the Slicer module shows")
    parser.add_argument("--trained-on", required=True, help="what the weights learnt from, in one line for users")
    parser.add_argument(
        "--metrics",
        required=True,
        help="accuracy.json from Testing/benchmarks/bench_accuracy.py (or oof_accuracy.py for a model trained on "
        "every labelled patient)",
    )
    parser.add_argument("--review-calibration", help="the JSON that Testing/benchmarks/bench_review_queue.py printed")
    parser.add_argument(
        "--review-calibration-note", default="", help="what the review constants were fitted on, for readers"
    )
    parser.add_argument(
        "--end-systolic-correction",
        help="end_systole.json from Testing/benchmarks/bench_end_systole.py on this recipe's out-of-fold predictions",
    )
    parser.add_argument(
        "--bench", help="the JSON of gmmseg bench for this model (its speed, recorded with the machine)"
    )
    parser.add_argument(
        "--bench-commit", help="commit of the code gmmseg bench measured (default: the training commit)"
    )
    parser.add_argument("--models-dir", default=str(ROOT / "Resources" / "Models"))
    parser.add_argument("--default", action="store_true", help="make it the default model")
    parser.add_argument("--git-commit", help="commit of the code that trained it (default: HEAD)")
    parser.add_argument("--note", default="", help="anything a reader needs to reproduce it")
    arguments = parser.parse_args()
    model, metadata = load_model(arguments.model)  # refuse to register something that does not load
    folder = Path(arguments.models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(arguments.model, folder / arguments.file)
    registry_path = folder / REGISTRY_NAME
    registry = json.loads(registry_path.read_text()) if registry_path.exists() else {"schema": 1, "models": []}
    commit = (
        arguments.git_commit
        or subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    )
    entry = {
        "id": arguments.id,
        "title": arguments.title,
        "trained_on": arguments.trained_on,
        "file": arguments.file,
        "sha256": sha256_of(folder / arguments.file),
        "click_refiner": model.refiner is not None,
        "command": arguments.command,
        "training_config": metadata.get("config", {}),
        "split": split_of(metadata.get("config", {})),
        "git_commit": commit,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "validation_metrics": json.loads(Path(arguments.metrics).read_text()),
        "note": arguments.note,
        "licence": "weights derived from ACDC (CC BY-NC-SA 4.0): non-commercial use; cite Bernard et al. 2018",
    }
    if arguments.review_calibration:
        if not arguments.review_calibration_note:
            parser.error("--review-calibration needs --review-calibration-note (what the constants were fitted on)")
        entry["review_calibration"] = review_calibration(
            Path(arguments.review_calibration), arguments.review_calibration_note
        )
    if arguments.end_systolic_correction:
        entry["end_systolic_correction"] = end_systolic_correction(Path(arguments.end_systolic_correction))
    if arguments.bench:
        entry["speed"] = speed(Path(arguments.bench), arguments.bench_commit or commit)
    registry["models"] = [m for m in registry["models"] if m["id"] != arguments.id] + [entry]
    if arguments.default or "default" not in registry:
        registry["default"] = arguments.id
    registry_path.write_text(json.dumps(registry, indent=2) + "\n")
    print(json.dumps({"registered": arguments.id, "sha256": entry["sha256"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
