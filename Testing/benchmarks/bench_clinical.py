"""Clinical indices against the experts' on out-of-fold predictions, and what a reader's confirmation adds.

    python Testing/benchmarks/oof_predictions.py --out runs/oof --fold-model 1=Resources/Models/gmmseg_acdc_v7.pt [...]
    python Testing/benchmarks/bench_clinical.py --predictions runs/oof --out runs/clinical

For every patient with predictions (ED and ES, as ACDC gives them), the indices are computed from the two
segmented frames exactly as ``gmmseg report --ed --es`` does, against the same indices from the expert labels.
Per index: Pearson r, bias (model minus expert), 95 % limits of agreement (bias +/- 1.96 SD) and mean absolute
error, over all patients and per fold, for:

- ``automatic``: the model's own choices;
- ``expert_basal_slices``: the reader confirms the basal slice of the LV and RV at ED and ES as the expert drew it
  (``gmmseg report --lv-es-slices`` etc.); ``expert_slice_limits``: basal and apical slices;
- ``basal_ring_rule``: a candidate rule measured, not in the product: an LV end slice whose cavity border is
  ringed by myocardium for less than 70 % is dropped (ACDC's protocol counts a basal slice when the myocardium
  surrounds at least half of the cavity).

It also checks the EF ranges (``clinical.indices.ef_range``): how often the expert's EF falls inside, per fold and
for other settings of ``EF_RANGE_PROBABILITY``; and draws the Bland-Altman plots of the automatic indices
(``<out>/bland_altman.png``). Results go to ``<out>/clinical.json``. ``--end-systolic-lv-offset`` first applies the
end-systolic cavity correction to each patient's two frames as ``gmmseg segment`` applies it to a cine
(GmmSegLib.inference.end_systole; the offset is fitted by ``Testing/benchmarks/bench_end_systole.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import write_report  # noqa: E402
from oof_predictions import CasePrediction, load_predictions  # noqa: E402

from GmmSegLib.clinical import indices as clinical  # noqa: E402
from GmmSegLib.clinical.indices import structure_volumes_ml  # noqa: E402
from GmmSegLib.clinical.pictures import figure_png  # noqa: E402
from GmmSegLib.clinical.reader_choices import PHASES, VENTRICLE_LABEL, VENTRICLES, ReaderChoices, limit_key  # noqa: E402
from GmmSegLib.core.labels import LV, MYO  # noqa: E402
from GmmSegLib.inference.end_systole import frame_corrections  # noqa: E402
from GmmSegLib.inference.segmentation import decided_labels  # noqa: E402
from GmmSegLib.model.class_prior import corrected_probabilities  # noqa: E402

INDICES = ("lv_ef", "rv_ef", "lv_edv", "lv_esv", "lv_mass", "rv_edv", "rv_esv")
RANGE_PROBABILITIES = (0.2, 0.1, 0.05, 0.02, 0.01)
RING_RULE = 0.7

Patient = dict[str, CasePrediction]  # phase -> prediction


def agreement(predicted: list[float | None], reference: list[float | None]) -> dict[str, float]:
    """Correlation, bias and limits of agreement over the patients where both values exist (an EF is None
    when a segmentation has no cavity at ED or ES); ``missing`` counts the others."""
    pairs = np.array(
        [(p, r) for p, r in zip(predicted, reference, strict=True) if p is not None and r is not None], dtype=float
    ).reshape(-1, 2)
    missing = len(reference) - len(pairs)
    predicted, reference = pairs[:, 0], pairs[:, 1]
    difference = predicted - reference
    bias, spread = float(difference.mean()), float(difference.std(ddof=1))
    return {
        "pearson_r": float(np.corrcoef(predicted, reference)[0, 1]),
        "bias": bias,
        "loa_low": bias - 1.96 * spread,
        "loa_high": bias + 1.96 * spread,
        "mean_abs_error": float(np.abs(difference).mean()),
        "missing": missing,
    }


def extent(labels: np.ndarray, value: int) -> tuple[int, int] | None:
    held = np.flatnonzero((labels == value).any(axis=(1, 2)))
    return (int(held[0]), int(held[-1])) if held.size else None


def expert_limits(patient: Patient, apical_too: bool) -> ReaderChoices:
    """The reader's confirmation of each ventricle's basal slice (and apical, ``apical_too``) as the expert drew
    it; slice 0 is basal in ACDC's stacks."""
    choices = ReaderChoices()
    for phase in PHASES:
        for ventricle in VENTRICLES:
            theirs = extent(patient[phase].truth, VENTRICLE_LABEL[ventricle])
            ours = extent(patient[phase].labels, VENTRICLE_LABEL[ventricle])
            if theirs and ours:
                first, last = theirs[0], theirs[1] if apical_too else ours[1]
                if first <= last:
                    choices.limits[limit_key(ventricle, phase)] = (first, last)
    return choices


def ringed_share(slice_labels: np.ndarray) -> float:
    """The share of the LV cavity's border pixels next to myocardium on one slice."""
    cavity = slice_labels == LV
    border = cavity & ~ndimage.binary_erosion(cavity)
    return float(border[ndimage.binary_dilation(slice_labels == MYO)].sum() / max(border.sum(), 1))


def basal_ring_rule(patient: Patient) -> ReaderChoices:
    """Drop the basal LV slice (at most one per phase) whose cavity is ringed by myocardium for less than
    :data:`RING_RULE`."""
    choices = ReaderChoices()
    for phase in PHASES:
        labels = patient[phase].labels
        first, last = extent(labels, LV)
        if first < last and ringed_share(labels[first]) < RING_RULE:
            choices.limits[limit_key("LV", phase)] = (first + 1, last)
    return choices


VARIANTS: dict[str, Callable[[Patient], ReaderChoices | None]] = {
    "automatic": lambda patient: None,
    "expert_basal_slices": lambda patient: expert_limits(patient, apical_too=False),
    "expert_slice_limits": lambda patient: expert_limits(patient, apical_too=True),
    "basal_ring_rule": basal_ring_rule,
}


def corrected_patient(patient: Patient, lv_log_offset: float) -> Patient:
    """The patient's predictions after the end-systolic cavity correction of ``lv_log_offset``, as ``gmmseg segment``
    corrects a cine of these two frames (GmmSegLib.inference.end_systole)."""
    lv_ml = [structure_volumes_ml(patient[phase].labels, patient[phase].spacing_xyz)["LV"] for phase in PHASES]
    corrected = dict(patient)
    for frame, offsets in frame_corrections(lv_ml, lv_log_offset).items():
        prediction = patient[PHASES[frame]]
        probabilities = corrected_probabilities(
            torch.from_numpy(prediction.probabilities.astype(np.float32)), offsets, dim=0
        )
        corrected[PHASES[frame]] = replace(
            prediction, probabilities=probabilities.numpy(), labels=decided_labels(probabilities.permute(1, 0, 2, 3))
        )
    return corrected


def two_phases(patient: Patient, source: str) -> np.ndarray:
    return np.stack([getattr(patient[phase], source) for phase in PHASES])


def indices_of(patient: Patient, choices: ReaderChoices | None = None, probabilities: bool = False):
    spacing = patient["ED"].spacing_xyz
    return clinical.clinical_indices(
        two_phases(patient, "labels"),
        spacing,
        0,
        1,
        choices=choices,
        probabilities=two_phases(patient, "probabilities") if probabilities else None,
    )


def variant_agreement(patients: dict[str, Patient], reference: dict[str, dict], choose) -> dict:
    ours = {name: indices_of(patient, choose(patient)) for name, patient in patients.items()}
    folds = sorted({patient["ED"].fold for patient in patients.values()})
    result = {}
    for key in INDICES:
        pooled = agreement([getattr(ours[n], key) for n in patients], [reference[n][key] for n in patients])
        per_fold = (
            {
                f"fold {fold}": agreement(
                    *zip(
                        *[
                            (getattr(ours[n], key), reference[n][key])
                            for n, p in patients.items()
                            if p["ED"].fold == fold
                        ],
                        strict=True,
                    )
                )
                for fold in folds
            }
            if len(folds) > 1
            else {}
        )
        result[key] = {**pooled, **per_fold}
    return result


def _median_width(ranges: list[list[float] | None]) -> float | None:
    """The median width of the ranges given; None when there are none."""
    widths = [high - low for low, high in filter(None, ranges)]
    return float(np.median(widths)) if widths else None


def range_coverage(patients: dict[str, Patient], reference: dict[str, dict]) -> dict:
    """How often the expert's LVEF and RVEF fall in the model's range, per fold, for each range setting."""
    shipped = clinical.EF_RANGE_PROBABILITY
    coverage = {}
    try:
        for probability in sorted({shipped, *RANGE_PROBABILITIES}, reverse=True):
            clinical.EF_RANGE_PROBABILITY = probability
            rows = [
                (patient["ED"].fold, indices_of(patient, probabilities=True), reference[name])
                for name, patient in patients.items()
            ]
            coverage[str(probability)] = {
                f"{key} fold {fold}": {
                    "inside": sum(
                        ranged[0] <= truth[key] <= ranged[1]
                        for f, ours, truth in rows
                        if f == fold
                        for ranged in [getattr(ours, f"{key}_range")]
                        if ranged and truth[key] is not None
                    ),
                    "patients": sum(f == fold for f, _, _ in rows),
                    # the model bounds no EF where it is nowhere sure of the cavity (clinical.indices.ef_range)
                    "without_range": sum(f == fold and not getattr(ours, f"{key}_range") for f, ours, _ in rows),
                    "median_width": _median_width([getattr(ours, f"{key}_range") for f, ours, _ in rows if f == fold]),
                }
                for key in ("lv_ef", "rv_ef")
                for fold in sorted({f for f, _, _ in rows})
            }
    finally:
        clinical.EF_RANGE_PROBABILITY = shipped
    return {"shipped_probability": shipped, "by_probability": coverage}


def bland_altman_png(patients: dict[str, Patient], reference: dict[str, dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {
        "lv_ef": "LVEF (%)",
        "rv_ef": "RVEF (%)",
        "lv_edv": "LVEDV (ml)",
        "lv_esv": "LVESV (ml)",
        "lv_mass": "LV mass (g)",
    }
    ours = {name: indices_of(patient) for name, patient in patients.items()}
    figure, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.6))
    for axis, (key, title) in zip(axes, shown.items(), strict=True):
        pairs = np.array(
            [
                (getattr(ours[n], key), reference[n][key])
                for n in patients
                if getattr(ours[n], key) is not None and reference[n][key] is not None
            ],
            dtype=float,
        )
        mean, difference = pairs.mean(axis=1), pairs[:, 0] - pairs[:, 1]
        stats = agreement(list(pairs[:, 0]), list(pairs[:, 1]))
        axis.scatter(mean, difference, s=12)
        for level, style in ((stats["bias"], "-"), (stats["loa_low"], "--"), (stats["loa_high"], "--")):
            axis.axhline(level, color="tab:red", linestyle=style, linewidth=1)
        axis.set_title(
            f"{title}\nbias {stats['bias']:+.1f}, limits {stats['loa_low']:+.1f} .. {stats['loa_high']:+.1f}",
            fontsize=9,
        )
        axis.set_xlabel("mean of model and expert")
        axis.set_ylabel("model - expert")
    figure.tight_layout()
    return figure_png(figure)


def two_phase_patients(folder: Path) -> dict[str, Patient]:
    """The stored predictions of every patient with both phases, by patient."""
    patients: dict[str, Patient] = {}
    for prediction in load_predictions(folder):
        patients.setdefault(prediction.case.patient, {})[prediction.case.phase] = prediction
    return {name: phases for name, phases in sorted(patients.items()) if set(phases) == set(PHASES)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--predictions", default="runs/oof", help="folder written by Testing/benchmarks/oof_predictions.py"
    )
    parser.add_argument("--out", default="runs/clinical")
    parser.add_argument(
        "--end-systolic-lv-offset",
        type=float,
        default=0.0,
        help="apply the end-systolic cavity correction with this LV log-offset first (the shipped model's registry "
        "entry holds its own; default: none)",
    )
    arguments = parser.parse_args()
    patients = {
        name: corrected_patient(patient, arguments.end_systolic_lv_offset)
        for name, patient in two_phase_patients(Path(arguments.predictions)).items()
    }
    reference = {
        name: vars(clinical.clinical_indices(two_phases(patient, "truth"), patient["ED"].spacing_xyz, 0, 1))
        for name, patient in patients.items()
    }
    report = {
        "predictions": arguments.predictions,
        "end_systolic_lv_offset": arguments.end_systolic_lv_offset,
        "patients": len(patients),
        "folds": {
            str(f): sorted(n for n, p in patients.items() if p["ED"].fold == f)
            for f in sorted({p["ED"].fold for p in patients.values()})
        },
        "agreement": {variant: variant_agreement(patients, reference, choose) for variant, choose in VARIANTS.items()},
        "ef_range_coverage": range_coverage(patients, reference),
        "units": {"ef": "percentage points", "volumes": "ml", "mass": "g"},
    }
    path = write_report(arguments.out, "clinical", report)
    (path.parent / "bland_altman.png").write_bytes(bland_altman_png(patients, reference))
    return 0


if __name__ == "__main__":
    sys.exit(main())
