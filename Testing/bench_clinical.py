"""Agreement of clinical indices with the ground truth on the ACDC development-validation split.

    python Testing/bench_clinical.py --out runs/clinical [--model PATH]

For each of the 25 validation patients, ED and ES (given by ACDC) are segmented by the model and the
indices computed from the two frames exactly as ``gmmseg report --ed --es`` does; the same indices from
the expert labels are the reference. Reported per index: Pearson correlation, bias (mean of model minus
reference) and the 95% limits of agreement (bias +/- 1.96 SD), the per-patient values, the median LVEF error,
and, as a diagnostic, the LVEF agreement once the model's LV on slices the expert left empty is removed.
Results go to ``<out>/clinical.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import bench_parser, model_and_cases, write_report  # noqa: E402

from GmmSegLib.clinical.indices import clinical_indices  # noqa: E402
from GmmSegLib.clinical.report import percent  # noqa: E402
from GmmSegLib.core.labels import BACKGROUND, LV  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402

INDICES = ("lv_ef", "rv_ef", "lv_edv", "lv_esv", "lv_mass", "rv_edv", "rv_esv")


def agreement(predicted: list[float | None], reference: list[float | None]) -> dict[str, float]:
    """Correlation, bias and limits of agreement over the patients where both values exist (an EF is None
    when a segmentation has no cavity at ED or ES); ``missing`` counts the others."""
    pairs = np.array([(p, r) for p, r in zip(predicted, reference, strict=True) if p is not None and r is not None],
                     dtype=float).reshape(-1, 2)
    missing = len(reference) - len(pairs)
    predicted, reference = pairs[:, 0], pairs[:, 1]
    difference = predicted - reference
    bias, spread = float(difference.mean()), float(difference.std(ddof=1))
    return {"pearson_r": float(np.corrcoef(predicted, reference)[0, 1]), "bias": bias,
            "loa_low": bias - 1.96 * spread, "loa_high": bias + 1.96 * spread,
            "mean_abs_error": float(np.abs(difference).mean()), "missing": missing}


def within_expert_lv_slices(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``labels`` (Z, Y, X) without LV on the slices where the expert drew none.

    A diagnostic only: how much of the LVEF error comes from slices beyond the expert's base or apex (at ES
    mostly the atrium above the base, which a network seeing one slice at a time readily takes for LV).
    """
    trimmed = labels.copy()
    outside = ~(truth == LV).any(axis=(1, 2))
    trimmed[outside] = np.where(trimmed[outside] == LV, BACKGROUND, trimmed[outside])
    return trimmed


def main() -> int:
    arguments = bench_parser(__doc__, "runs/clinical").parse_args()
    model, entry, root, validation = model_and_cases(arguments)
    patients = sorted({case.patient for case in validation})
    predicted: dict[str, list[float]] = {k: [] for k in INDICES}
    reference: dict[str, list[float]] = {k: [] for k in INDICES}
    lv_ef_within_expert_slices, rows = [], []
    for patient in patients:
        phases = {case.phase: case for case in validation if case.patient == patient}
        labels, truths = [], []
        for phase in ("ED", "ES"):
            image, truth = acdc.load_case(root, phases[phase])
            labels.append(segment(image, model, "cpu").labels[0])
            truths.append(truth)
        spacing = image.spacing_xyz
        ours = clinical_indices(np.stack(labels), spacing, ed_frame=0, es_frame=1)
        theirs = clinical_indices(np.stack(truths), spacing, ed_frame=0, es_frame=1)
        trimmed = np.stack([within_expert_lv_slices(frame, expert)
                            for frame, expert in zip(labels, truths, strict=True)])
        lv_ef_within_expert_slices.append(clinical_indices(trimmed, spacing, ed_frame=0, es_frame=1).lv_ef)
        for key in INDICES:
            predicted[key].append(getattr(ours, key))
            reference[key].append(getattr(theirs, key))
        rows.append({"patient": patient, **{f"{k}_model": getattr(ours, k) for k in INDICES},
                     **{f"{k}_reference": getattr(theirs, k) for k in INDICES}})
        print(patient, f"LVEF {percent(ours.lv_ef)} vs {percent(theirs.lv_ef)}", flush=True)
    lv_ef_errors = [p - r for p, r in zip(predicted["lv_ef"], reference["lv_ef"], strict=True)
                    if p is not None and r is not None]
    report = {"model": entry.id, "patients": len(patients),
              "agreement": {k: agreement(predicted[k], reference[k]) for k in INDICES},
              "lv_ef_median_error": float(np.median(lv_ef_errors)),
              "lv_ef_within_expert_lv_slices": agreement(lv_ef_within_expert_slices, reference["lv_ef"]),
              "per_patient": rows,
              "units": {"ef": "percentage points", "volumes": "ml", "mass": "g"}}
    write_report(arguments.out, "clinical", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
