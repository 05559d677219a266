"""How the whole-stack quality flag separates clean volumes from ones the model cannot read through.

    python Testing/benchmarks/bench_quality.py --out runs/quality [--model PATH] [--split auxiliary] [--every 5]
        [--band 1.0 --noise 0.12 --bias 2.0]

Every development-validation volume is segmented as stored: the share flagged unreliable is the false-alarm rate
(GmmSegLib.clinical.quality), and what the second pass costs is measured against the rest of the segmentation.
Every ``--every``-th volume is then damaged three ways (Testing/benchmarks/image_damage.py: a ghosting band over the
LV wall, Rician noise, a bias field) and segmented again: detected is flagged unreliable, advised for review for any
reason, or refused with an error; "broken" is a structure's Dice under 0.5 against the expert labels, which only this
report reads. Results go to ``<out>/quality.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

import image_damage  # noqa: E402
from bench_report import STRUCTURES, bench_parser, model_and_cases, write_report  # noqa: E402

from GmmSegLib.clinical.error_estimate import ReviewCalibration  # noqa: E402
from GmmSegLib.core.errors import GmmSegError  # noqa: E402
from GmmSegLib.core.labels import STRUCTURES as LABELS  # noqa: E402
from GmmSegLib.evaluation.metrics import dice  # noqa: E402
from GmmSegLib.inference.case_files import summarise_case  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402

BROKEN_DICE = 0.5


def damages(arguments) -> dict:
    """The three damage kinds at the strengths asked for, each a function of (frames, labels, seed)."""
    return {
        "band": lambda frames, labels, seed: image_damage.ghost_band(frames, labels, arguments.band),
        "noise": lambda frames, labels, seed: image_damage.noisy(frames, arguments.noise, seed),
        "bias": lambda frames, labels, seed: image_damage.biased(frames, arguments.bias, 40.0 * seed),
    }


def measured(image, truth: np.ndarray, model, entry) -> dict:
    """One volume's quality estimate, flags, Dice against ``truth`` and timings; ``refused`` when it was refused."""
    try:
        result = segment(image, model)
    except GmmSegError as error:
        return {"refused": str(error)}
    summary = summarise_case(result, image, entry)
    share = max(summary.unreliable_share.values())
    row = {
        "unreliable_share": share,
        "flagged": share > ReviewCalibration.of_model(entry.record).unreliable_share_limit,
        "review_advised": summary.review_advised,
        "second_pass_s": result.timings["check_s"],
        "rest_s": result.timings["total_s"] - result.timings["check_s"],
    }
    row.update({f"{name}_dice": dice(result.labels[0] == LABELS[name], truth == LABELS[name]) for name in STRUCTURES})
    row["broken"] = min(row[f"{name}_dice"] for name in STRUCTURES) < BROKEN_DICE
    return row


def rates(rows: list[dict]) -> dict:
    """Detection (flagged, advised for review, or refused) over all rows and over the broken ones."""
    detected = [("refused" in row) or row["review_advised"] for row in rows]
    broken = [("refused" in row) or row["broken"] for row in rows]
    return {
        "volumes": len(rows),
        "detected": float(np.mean(detected)),
        "broken": int(np.sum(broken)),
        "broken_detected": float(np.mean([d for d, b in zip(detected, broken, strict=True) if b]))
        if any(broken)
        else None,
        "refused": int(sum("refused" in row for row in rows)),
    }


def main() -> int:
    parser = bench_parser(__doc__, "runs/quality", selection_split="auxiliary")
    parser.add_argument("--every", type=int, default=5, help="damage every n-th validation volume")
    parser.add_argument("--band", type=float, default=1.0, help="the band's brightness (times the LV blood)")
    parser.add_argument("--noise", type=float, default=0.12, help="Rician sigma (times each slice's range)")
    parser.add_argument("--bias", type=float, default=2.0, help="log of the bias field's largest factor")
    arguments = parser.parse_args()
    model, entry, root, cases = model_and_cases(arguments)
    kinds = damages(arguments)
    clean, damaged = {}, {kind: {} for kind in kinds}
    for index, case in enumerate(cases):
        image, truth = acdc.load_case(root, case)
        clean[case.case] = measured(image, truth, model, entry)
        if index % arguments.every:
            continue
        for kind, damage in kinds.items():
            frames = damage(image.frames, truth, index)
            damaged[kind][case.case] = measured(image_damage.damaged(image, frames), truth, model, entry)
    shares = [row["unreliable_share"] for row in clean.values()]
    overhead = [row["second_pass_s"] / row["rest_s"] for row in clean.values()]
    report = {
        "limit": ReviewCalibration.of_model(entry.record).unreliable_share_limit,
        "strengths": {"band": arguments.band, "noise": arguments.noise, "bias": arguments.bias},
        "clean": {
            "volumes": len(clean),
            "false_alarms": float(np.mean([r["flagged"] for r in clean.values()])),
            "review_advised": float(np.mean([r["review_advised"] for r in clean.values()])),
            "unreliable_share_max": float(np.max(shares)),
            "unreliable_share_median": float(np.median(shares)),
            "second_pass_overhead_median": float(np.median(overhead)),
            "seconds_without_second_pass_median": float(np.median([r["rest_s"] for r in clean.values()])),
        },
        "damaged": {kind: rates(list(rows.values())) for kind, rows in damaged.items()},
        "volumes": {"clean": clean, **damaged},
    }
    write_report(arguments.out, "quality", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
