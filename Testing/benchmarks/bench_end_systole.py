"""Fitting the end-systolic cavity correction on out-of-fold predictions, by cross-validation over patients.

    python Testing/benchmarks/bench_end_systole.py --predictions runs/s30/oof_clean --out runs/s31/end_systole \
        [--check runs/s30/oof_f0_shifted runs/s30/oof_f1_shifted]

Each patient's stored ED and ES predictions (``Testing/benchmarks/oof_predictions.py``) are corrected as ``gmmseg
segment`` corrects a cine of the two frames (``bench_clinical.corrected_patient``; GmmSegLib.inference.end_systole)
for every LV log-offset of a grid. The rule, on the training patients of each of 5 cross-validation folds: the offset
whose mean end-systolic LV cavity volume minus the expert's is closest to 0 (the smaller correction on ties); it is
applied to the fold's held-out patients. A volume, not the ejection fraction, is what the rule asks to be right: the
correction is of the cavity drawn at end-systole. Reported: the offset each fold chose and the one chosen on all
patients (what a model's registry entry ships as ``end_systolic_correction``), and, held out, the LVEF, LVESV and
LVEDV against the experts' (r, bias, limits, MAE), the end-systolic Dice of LV, MYO and RV, before and after.
``--check`` gives other predictions of the same patients (the synthetic new scanner's) on which the offset chosen on
all is only applied, never chosen. Results go to ``<out>/end_systole.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_clinical import Patient, agreement, corrected_patient, two_phase_patients  # noqa: E402
from bench_report import write_report  # noqa: E402

from GmmSegLib.clinical.indices import ejection_fraction, structure_volumes_ml  # noqa: E402
from GmmSegLib.core.labels import STRUCTURES  # noqa: E402
from GmmSegLib.evaluation.metrics import dice  # noqa: E402

# -3 .. +3 in steps of 0.1, smaller corrections first (a model may draw the end-systolic cavity too small as well as
# too large): on ties the rule keeps the smaller one
OFFSETS = tuple(sorted(np.round(np.arange(-3.0, 3.01, 0.1), 2), key=lambda offset: (abs(offset), offset)))
CV_FOLDS = 5


def _lv_ml(labels: np.ndarray, spacing: tuple[float, float, float]) -> float:
    return structure_volumes_ml(labels, spacing)["LV"]


def patient_record(patient: Patient) -> dict:
    """What the fit needs of one patient, at every offset of the grid: the model's and the expert's LV volumes at ED
    and ES, and the end-systolic Dice per structure."""
    spacing = patient["ED"].spacing_xyz
    record = {
        "edv_expert": _lv_ml(patient["ED"].truth, spacing),
        "esv_expert": _lv_ml(patient["ES"].truth, spacing),
        "edv": [],
        "esv": [],
        "es_dice": [],
    }
    for offset in OFFSETS:
        corrected = corrected_patient(patient, offset)
        record["edv"].append(_lv_ml(corrected["ED"].labels, spacing))
        record["esv"].append(_lv_ml(corrected["ES"].labels, spacing))
        es = corrected["ES"]
        record["es_dice"].append([dice(es.labels == value, es.truth == value) for value in STRUCTURES.values()])
    return {key: np.asarray(value) if isinstance(value, list) else value for key, value in record.items()}


def choose_offset(records: list[dict]) -> int:
    """The index in OFFSETS whose mean end-systolic LV volume error over ``records`` is closest to 0 (the first,
    the smaller correction, on ties: OFFSETS runs from the smallest)."""
    bias = np.mean([r["esv"] - r["esv_expert"] for r in records], axis=0)
    return int(np.argmin(np.abs(bias).round(6)))


def figures(records: list[dict], chosen: list[int]) -> dict:
    """Agreement of the LV indices and the end-systolic Dice, each record read at its chosen offset index."""
    at = list(zip(records, chosen, strict=True))
    dice = np.array([r["es_dice"][i] for r, i in at])
    return {
        "lv_ef": agreement(
            [ejection_fraction(r["edv"][i], r["esv"][i]) for r, i in at],
            [ejection_fraction(r["edv_expert"], r["esv_expert"]) for r in records],
        ),
        "lv_esv": agreement([float(r["esv"][i]) for r, i in at], [r["esv_expert"] for r in records]),
        "lv_edv": agreement([float(r["edv"][i]) for r, i in at], [r["edv_expert"] for r in records]),
        "es_dice": {name: round(float(v), 4) for name, v in zip(STRUCTURES, dice.mean(axis=0), strict=True)},
        "es_mean_dice": round(float(dice.mean()), 4),
    }


def cross_validate(records: list[dict]) -> tuple[list[int], list[float]]:
    """Per record, the offset index its CV fold chose on the other folds' patients; the offsets the folds chose."""
    chosen, per_fold = [0] * len(records), []
    for fold in range(CV_FOLDS):
        held_out = set(range(fold, len(records), CV_FOLDS))
        index = choose_offset([r for n, r in enumerate(records) if n not in held_out])
        per_fold.append(float(OFFSETS[index]))
        for n in held_out:
            chosen[n] = index
    return chosen, per_fold


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", nargs="+", required=True, help="out-of-fold predictions to fit on")
    parser.add_argument("--check", nargs="*", default=[], help="other predictions the chosen offset is applied to")
    parser.add_argument("--out", default="runs/end_systole")
    arguments = parser.parse_args()

    def records_of(folders: list[str]) -> list[dict]:
        patients: dict[str, Patient] = {}
        for folder in folders:
            patients.update(two_phase_patients(Path(folder)))
        return [patient_record(patients[name]) for name in sorted(patients)]

    records = records_of(arguments.predictions)
    chosen, per_fold = cross_validate(records)
    on_all = choose_offset(records)
    report = {
        "predictions": arguments.predictions,
        "patients": len(records),
        "rule": "the LV log-offset whose mean end-systolic LV volume error on the training patients is closest to 0",
        "offset_per_cv_fold": per_fold,
        "offset_on_all": float(OFFSETS[on_all]),
        "held_out": {"none": figures(records, [0] * len(records)), "corrected": figures(records, chosen)},
    }
    if arguments.check:
        checked = records_of(arguments.check)
        report["check"] = {
            "predictions": arguments.check,
            "none": figures(checked, [0] * len(checked)),
            "offset_on_all": figures(checked, [on_all] * len(checked)),
        }
    write_report(arguments.out, "end_systole", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
