"""Does the registration net bring a displaced prior back? Measured on the validation images (no labels used).

    python Testing/bench_reregistration.py --out runs/reregistration [--model PATH]

For every validation volume, the model's own responsibilities of the middle half of the heart are moved by
known displacements (shifts, scales, a rotation, and all at once); the registration net's phi should
change by the same amount. Reported: median and 90th percentile of the residual shift (mm), of the scale
error (percent) and of the rotation error (degrees). Results go to ``<out>/reregistration.json``.

``--split auxiliary`` measures the same on the labelled training patients' images: where choices about the
registration net's training are made, never on the validation images.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import bench_parser, model_and_cases, write_report  # noqa: E402

from GmmSegLib import acdc  # noqa: E402
from GmmSegLib.inference import segment  # noqa: E402
from GmmSegLib.io import read_cardiac_image  # noqa: E402
from GmmSegLib.prior_transform import phi_from_parameters  # noqa: E402
from GmmSegLib.reregistration import registration_residual  # noqa: E402

DISPLACEMENTS = {  # scale, tx mm, ty mm, rotation deg
    "shift 10 mm right": (1.0, 10.0, 0.0, 0.0),
    "shift 10 mm up": (1.0, 0.0, -10.0, 0.0),
    "scale 1.2": (1.2, 0.0, 0.0, 0.0),
    "scale 0.85": (0.85, 0.0, 0.0, 0.0),
    "rotation 15 deg": (1.0, 0.0, 0.0, 15.0),
    "all at once": (1.15, 8.0, -6.0, 10.0),
}


def main() -> int:
    arguments = bench_parser(__doc__, "runs/reregistration", selection_split="auxiliary").parse_args()
    model, entry, root, cases = model_and_cases(arguments)
    residuals: dict[str, list[dict]] = {name: [] for name in DISPLACEMENTS}
    for case in cases:
        image = read_cardiac_image(acdc.image_path(root, case))
        result = segment(image, model, "cpu")
        for name, values in DISPLACEMENTS.items():
            residuals[name].append(registration_residual(model, image, result, phi_from_parameters(*values)))
        print(case.case, f"{residuals['all at once'][-1]['shift_residual_mm']:.1f} mm", flush=True)

    def summary(rows: list[dict]) -> dict[str, float]:
        shift = np.array([r["shift_residual_mm"] for r in rows])
        scale = np.abs(np.expm1([r["log_scale_error"] for r in rows])) * 100
        rotation = np.abs([r["rotation_error_deg"] for r in rows])
        return {"shift_residual_mm_median": float(np.median(shift)),
                "shift_residual_mm_p90": float(np.percentile(shift, 90)),
                "scale_error_percent_median": float(np.median(scale)),
                "scale_error_percent_p90": float(np.percentile(scale, 90)),
                "rotation_error_deg_median": float(np.median(rotation)),
                "rotation_error_deg_p90": float(np.percentile(rotation, 90))}

    report = {"model": entry.id, "split": arguments.split, "volumes": len(cases), "displacements": {
        name: {"applied": dict(zip(("scale", "tx_mm", "ty_mm", "rotation_deg"), values, strict=True)),
               **summary(residuals[name])} for name, values in DISPLACEMENTS.items()}}
    write_report(arguments.out, "reregistration", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
