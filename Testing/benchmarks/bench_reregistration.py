"""Does the registration net bring a displaced prior back? Measured on the validation images (no labels used).

    python Testing/benchmarks/bench_reregistration.py --out runs/reregistration [--model PATH]

For every validation volume, the model's own responsibilities of the middle half of the heart are moved by
known displacements (shifts, scales, a rotation, and all at once); the registration net's phi should
change by the same amount. Reported: median and 90th percentile of the residual shift (mm), of the scale
error (percent) and of the rotation error (degrees). Results go to ``<out>/reregistration.json``.

``--split auxiliary`` measures the same on the labelled training patients' images: where choices about the
registration net's training are made, never on the validation images.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from bench_report import bench_parser, model_and_cases, write_report  # noqa: E402

from GmmSegLib.core.errors import GmmSegError  # noqa: E402
from GmmSegLib.inference.segmentation import SegmentationResult, network_input, segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402
from GmmSegLib.io.images import CardiacImage, read_cardiac_image  # noqa: E402
from GmmSegLib.model.atlas import prior_at, warp_prior  # noqa: E402
from GmmSegLib.model.bundle import GmmSegModel  # noqa: E402
from GmmSegLib.model.phi import Phi  # noqa: E402


def registration_residual(
    model: GmmSegModel, image: CardiacImage, result: SegmentationResult, applied: np.ndarray
) -> dict[str, float]:
    """How well the registration net follows a known displacement of the anatomy.

    The model's responsibilities of the heart slices (the middle half of the heart) are moved by
    ``applied`` (phi, 4 values); the net's phi for the moved maps should differ from its phi for the
    original ones by ``applied``. Returns the residual shift (mm), scale error (log) and rotation error (deg).
    """
    slices = np.flatnonzero((result.labels[0] > 0).any(axis=(1, 2)))
    if slices.size == 0:
        raise GmmSegError("no heart found to register")
    quarter = max(slices.size // 4, 0)
    heart = slices[quarter : slices.size - quarter] if slices.size > 2 else slices
    native = torch.from_numpy(np.ascontiguousarray(image.frames[0]))
    canonical = network_input(model, native, result.crop, result.location)[heart]
    prior = prior_at(model.atlas, result.location.positions)[heart]
    moved_phi = torch.as_tensor(np.asarray(applied, np.float32)).expand(len(heart), -1)
    with torch.no_grad():
        pi = model.responsibilities(model.features(canonical))
        before = model.place_prior(pi, prior).median(0).values
        after = model.place_prior(warp_prior(pi, moved_phi), prior).median(0).values
    change = (after - before).numpy()
    return {
        "shift_residual_mm": float(math.hypot(change[1] - applied[1], change[2] - applied[2])),
        "log_scale_error": float(change[0] - applied[0]),
        "rotation_error_deg": float(math.degrees(change[3] - applied[3])),
    }


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
            residuals[name].append(registration_residual(model, image, result, Phi.from_parameters(*values).array()))
        print(case.case, f"{residuals['all at once'][-1]['shift_residual_mm']:.1f} mm", flush=True)

    def summary(rows: list[dict]) -> dict[str, float]:
        shift = np.array([r["shift_residual_mm"] for r in rows])
        scale = np.abs(np.expm1([r["log_scale_error"] for r in rows])) * 100
        rotation = np.abs([r["rotation_error_deg"] for r in rows])
        return {
            "shift_residual_mm_median": float(np.median(shift)),
            "shift_residual_mm_p90": float(np.percentile(shift, 90)),
            "scale_error_percent_median": float(np.median(scale)),
            "scale_error_percent_p90": float(np.percentile(scale, 90)),
            "rotation_error_deg_median": float(np.median(rotation)),
            "rotation_error_deg_p90": float(np.percentile(rotation, 90)),
        }

    report = {
        "model": entry.id,
        "split": arguments.split,
        "volumes": len(cases),
        "displacements": {
            name: {
                "applied": dict(zip(("scale", "tx_mm", "ty_mm", "rotation_deg"), values, strict=True)),
                **summary(residuals[name]),
            }
            for name, values in DISPLACEMENTS.items()
        },
    }
    write_report(arguments.out, "reregistration", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
