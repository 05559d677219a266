"""Does the uncertainty find the errors? Measured on the ACDC development-validation split.

    python Testing/benchmarks/bench_uncertainty.py --out runs/uncertainty [--model PATH]

For every validation volume (ED and ES) segmented by the model: pixel-level AUROC of each uncertainty
map (total, aleatoric, epistemic, and the entropy of z_net's pi for comparison) for predicting wrongly
labelled pixels inside the heart region (ground truth or prediction, grown by 5 pixels); the expected
calibration error of the class probabilities there; and the review-queue payoff: the share of all wrong
voxels removed when the top 10/20/30% of slices in the queue are replaced by the ground truth, against
the uncertainty-mass order (the queue's previous score), random and oracle orders. Results go to
``<out>/uncertainty.json``.

``--split auxiliary-shifted`` runs the same measurements on the labelled training patients seen through
the benchmark's synthetic new scanner (so that the model makes errors there): this is where design
choices about the maps are made, never on the validation split. Both Dirichlets are measured: the
product's (``posterior``: d_hat's strength centred on the label posterior) and d_hat as predicted
(``concentrations``); so are both slice orders of the queue.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import bench_parser, model_and_cases, shifted_image, write_report  # noqa: E402
from uncertainty_calibration import auroc, expected_calibration_error, review_payoff  # noqa: E402

from GmmSegLib.core.labels import UNCERTAINTY_KINDS  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.training.augment import SELECTION_SHIFT_SEED  # noqa: E402
from readouts import CONCENTRATIONS, RESPONSIBILITIES  # noqa: E402

MAPS = (*UNCERTAINTY_KINDS, *(f"{kind} (d_hat as predicted)" for kind in UNCERTAINTY_KINDS), "pi_entropy")


def main() -> int:
    arguments = bench_parser(__doc__, "runs/uncertainty", selection_split="auxiliary-shifted").parse_args()
    model, entry, root, cases = model_and_cases(arguments)
    scores: dict[str, list[np.ndarray]] = {name: [] for name in MAPS}
    wrong_pixels, confidence, slice_scores, slice_mass, slice_errors = [], [], [], [], []
    for index, case in enumerate(cases):
        image, truth = acdc.load_case(root, case)
        if arguments.split == "auxiliary-shifted":
            image = shifted_image(image, SELECTION_SHIFT_SEED + index)
        result = segment(image, model, "cpu")
        as_predicted = segment(image, model, "cpu", location=result.location, readout=CONCENTRATIONS)
        pi = segment(image, model, "cpu", location=result.location, readout=RESPONSIBILITIES).probabilities[0]
        labels = result.labels[0]
        wrong = labels != truth
        heart = ndimage.binary_dilation((truth > 0) | (labels > 0), structure=np.ones((1, 11, 11), bool))
        entropy = -(pi * np.log(np.clip(pi, 1e-8, 1))).sum(0) / np.log(pi.shape[0])
        maps = {
            **{k: result.uncertainty[k][0] for k in UNCERTAINTY_KINDS},
            **{f"{k} (d_hat as predicted)": as_predicted.uncertainty[k][0] for k in UNCERTAINTY_KINDS},
            "pi_entropy": entropy,
        }
        for name in MAPS:
            scores[name].append(maps[name][heart])
        wrong_pixels.append(wrong[heart])
        confidence.append(result.probabilities[0].max(0)[heart])
        slice_scores.append(result.slice_uncertainty[0])
        pixel_mm2 = image.spacing_xyz[0] * image.spacing_xyz[1]
        slice_mass.append(result.uncertainty["total"][0].sum(axis=(1, 2)) * pixel_mm2)
        slice_errors.append(wrong.sum(axis=(1, 2)))
        print(case.case, f"wrong {wrong[heart].mean():.3f}", flush=True)
    wrong_all = np.concatenate(wrong_pixels)
    report = {
        "model": entry.id,
        "split": arguments.split,
        "volumes": len(cases),
        "heart_region_pixels": int(wrong_all.size),
        "error_rate_in_heart_region": float(wrong_all.mean()),
        "auroc": {name: auroc(np.concatenate(scores[name]), wrong_all) for name in MAPS},
        "ece": expected_calibration_error(np.concatenate(confidence), ~wrong_all),
        "review_payoff": review_payoff(np.concatenate(slice_scores), np.concatenate(slice_errors)),
        "review_payoff_by_uncertainty_mass": review_payoff(np.concatenate(slice_mass), np.concatenate(slice_errors)),
        "slices": int(sum(s.size for s in slice_scores)),
    }
    write_report(arguments.out, "uncertainty", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
