"""Out-of-fold predictions on the 50 labelled ACDC patients, kept on disk for the clinical-index benchmarks.

    python Testing/benchmarks/oof_predictions.py --out runs/oof --folds 2 --fold-model 0=runs/cv2/heldout0.pt \
        --fold-model 1=Resources/Models/gmmseg_acdc_v7.pt [--shifted]

Each model segments only the patients of the fold it never trained on (``train.py --folds K --held-out-fold F``;
the shipped model is fold 1 of 2). Per case, ``<out>/per_case/<case>.npz`` holds the labels (Z, Y, X), the class
probabilities (K, Z, Y, X, float16), the expert labels and the voxel spacing, with the fold and the model's
sha256, and what the product's other review reasons are made of: the quality check's second pass (labels with the
crop moved, GmmSegLib.clinical.quality) and the blank slices; a case already there is not segmented again, so a
stopped run resumes. Rules on the indices (which
basal slice holds LV cavity, how wide an EF range must be) are then chosen on these predictions only
(``Testing/benchmarks/bench_clinical.py --predictions``), never on a model's own training patients.

``--shifted`` segments the same patients seen through the benchmarks' synthetic new scanner instead (the copies
of ``Testing/benchmarks/bench_accuracy.py`` for the validation patients, fold 1 of 2, and of
``Testing/benchmarks/bench_uncertainty.py --split auxiliary-shifted`` for the auxiliary ones, fold 0): more failed
stacks for the review flag to be chosen and checked on. Each file records ``shifted`` and its ``shift_seed`` (-1 when
clean); a folder holds one kind only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import shifted_image  # noqa: E402

from GmmSegLib.core.paths import acdc_dir  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.training.augment import SELECTION_SHIFT_SEED, VALIDATION_SHIFT_SEED  # noqa: E402

# The shift seed of the patients each model fold holds out (plus the volume's index among them): the benchmarks'
# seeds of the validation split (fold 1 of 2) and of the auxiliary split (fold 0 of 2).
SHIFT_SEEDS = {acdc.HELD_OUT_FOLD: VALIDATION_SHIFT_SEED, 1 - acdc.HELD_OUT_FOLD: SELECTION_SHIFT_SEED}


@dataclass(frozen=True)
class CasePrediction:
    """One held-out case: the model's labels and probabilities beside the expert's labels."""

    case: acdc.AcdcCase
    fold: int
    labels: np.ndarray  # (Z, Y, X), product labels
    probabilities: np.ndarray  # (K, Z, Y, X)
    truth: np.ndarray  # (Z, Y, X), product labels
    spacing_xyz: tuple[float, float, float]
    shifted: bool = False  # segmented through the synthetic new scanner
    second_pass: np.ndarray | None = None  # (Z, Y, X): the quality check's labels; None in files written before it
    blank_slices: tuple[int, ...] = ()


def case_file(out: Path, case: acdc.AcdcCase) -> Path:
    return Path(out) / "per_case" / f"{case.case}.npz"


def predict_fold(out: Path, folds: int, fold: int, model_path: str, shifted: bool = False) -> None:
    """Segment the held-out cases of ``fold`` with the model at ``model_path`` (their shifted copies with
    ``shifted``), skipping those already stored."""
    from GmmSegLib.inference.segmentation import segment
    from GmmSegLib.model.registry import load_registered

    if shifted and folds != acdc.FOLDS:
        raise SystemExit(f"--shifted: the benchmarks' shifted copies exist for {acdc.FOLDS} folds, not {folds}")
    _refuse_other_kind(out, shifted)
    model, _ = load_registered(model_path)
    sha256 = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    root = acdc_dir()
    for index, case in enumerate(acdc.split(acdc.list_cases(root), folds, fold)[1]):
        path = case_file(out, case)
        if path.exists():
            continue
        image, truth = acdc.load_case(root, case)
        seed = SHIFT_SEEDS[fold] + index if shifted else -1
        if shifted:
            image = shifted_image(image, seed)
        result = segment(image, model, "cpu")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez_compressed(
            partial,
            labels=result.labels[0].astype(np.uint8),
            probabilities=result.probabilities[0].astype(np.float16),
            truth=truth.astype(np.uint8),
            spacing_xyz=np.array(image.spacing_xyz),
            fold=fold,
            folds=folds,
            model_sha256=sha256,
            shifted=shifted,
            shift_seed=seed,
            second_pass=result.second_pass_labels[0].astype(np.uint8),
            blank_slices=np.array(result.blank_slices, dtype=np.int64),
        )
        partial.replace(path)
        print(case.case, "fold", fold, flush=True)


def _refuse_other_kind(out: Path, shifted: bool) -> None:
    """Stop before mixing clean and shifted predictions in one folder (a resumed run would not notice)."""
    stored = [path for path in sorted((Path(out) / "per_case").glob("*.npz")) if ".partial" not in path.name]
    if stored:
        with np.load(stored[0]) as data:
            if _is_shifted(data) != shifted:
                kind = "shifted" if _is_shifted(data) else "clean"
                raise SystemExit(f"{out} holds {kind} predictions: give another --out")


def _is_shifted(data) -> bool:
    """Whether a stored prediction is of a shifted copy (files written before the option are not)."""
    return bool(data["shifted"]) if "shifted" in data.files else False


def load_predictions(out: Path) -> list[CasePrediction]:
    """Every stored case (in the manifest's order); an error if a patient has only one of its two phases."""
    stored = {path.stem: path for path in (Path(out) / "per_case").glob("*.npz") if ".partial" not in path.name}
    cases = [case for case in acdc.list_cases(acdc_dir()) if case.case in stored]
    if not cases:
        raise SystemExit(f"no predictions in {out}/per_case: run Testing/benchmarks/oof_predictions.py first")
    predictions = []
    for case in cases:
        with np.load(stored[case.case]) as data:
            predictions.append(
                CasePrediction(
                    case,
                    int(data["fold"]),
                    data["labels"],
                    data["probabilities"],
                    data["truth"],
                    tuple(float(v) for v in data["spacing_xyz"]),
                    _is_shifted(data),
                    data["second_pass"] if "second_pass" in data.files else None,
                    tuple(int(z) for z in data["blank_slices"]) if "blank_slices" in data.files else (),
                )
            )
    return predictions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/oof")
    parser.add_argument("--folds", type=int, default=acdc.FOLDS)
    parser.add_argument(
        "--fold-model",
        action="append",
        default=[],
        metavar="FOLD=MODEL",
        help="the model that never saw fold FOLD (repeat for each fold)",
    )
    parser.add_argument(
        "--shifted", action="store_true", help="segment the patients seen through the benchmarks' synthetic new scanner"
    )
    arguments = parser.parse_args()
    for pair in arguments.fold_model:
        fold, model_path = pair.split("=", 1)
        predict_fold(Path(arguments.out), arguments.folds, int(fold), model_path, arguments.shifted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
