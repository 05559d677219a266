"""Whether a change to inference keeps the labels: segment the 50 validation volumes and count changed voxels.

A speed-up must leave the product's labels as they were, or be measured for accuracy like a new model (issue
"Speed near the limit"). Run once on the code before the change with ``--save``, once after with ``--compare``:

    python Testing/benchmarks/label_drift.py --save runs/labels_before.npz [--orders 2]
    python Testing/benchmarks/label_drift.py --compare runs/labels_before.npz [--orders 2]

``--orders 2`` segments each volume also with its columns reversed (stored with the other handedness), ``--orders
8`` in all eight in-plane storage orders (four quarter turns, kept and mirrored;
:func:`GmmSegLib.inference.handedness.storage_orders`): that is where the localisation and handedness steps can
decide differently. ``--compare`` prints, per storage order, the voxels whose label changed, the volumes
with any change, and whether the crop was judged mirrored differently; the result goes to ``<out>/label_drift.json``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "GmmSegModule"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import bench_parser, model_and_cases  # noqa: E402

from GmmSegLib.inference.handedness import storage_orders  # noqa: E402
from GmmSegLib.inference.segmentation import segment  # noqa: E402
from GmmSegLib.io import acdc  # noqa: E402


def stored_in_order(image, order: int):
    """``image`` (a 3D stack) in storage order ``order`` of :func:`storage_orders`, spacing following its axes."""
    slices, spacing, _ = storage_orders(image.frames[0], image.spacing_xyz)[order]
    geometry = replace(image.geometry, spacing=(*spacing, *image.geometry.spacing[3:]))
    return replace(image, frames=slices[None], geometry=geometry)


# --orders: which of storage_orders() are segmented (0: as stored, 4: columns reversed)
ORDERS = {1: (0,), 2: (0, 4), 8: tuple(range(8))}


def segment_all(model, root: Path, cases, orders: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Labels (and whether the crop was taken as mirrored) of every case in each storage order of ``orders``."""
    results = {}
    for case in cases:
        image, _ = acdc.load_case(root, case)
        for order in orders:
            result = segment(stored_in_order(image, order), model)
            results[f"{case.case}/{order}/labels"] = result.labels[0]
            results[f"{case.case}/{order}/mirrored"] = np.array(result.location.mirrored)
        print(case.case, flush=True)
    return results


def drift(before: dict[str, np.ndarray], after: dict[str, np.ndarray], orders: tuple[int, ...]) -> dict:
    """Per storage order: voxels changed, volumes with any change, volumes whose mirrored decision changed."""
    report = {}
    for order in orders:
        keys = sorted(k for k in before if k.endswith(f"/{order}/labels"))
        changed = [int((before[k] != after[k]).sum()) for k in keys]
        flips = sum(
            bool(before[k.replace("labels", "mirrored")] != after[k.replace("labels", "mirrored")]) for k in keys
        )
        report[str(order)] = {
            "volumes": len(keys),
            "voxels": int(sum(before[k].size for k in keys)),
            "voxels_changed": int(sum(changed)),
            "volumes_changed": sum(c > 0 for c in changed),
            "mirrored_decisions_changed": flips,
        }
    return report


def main() -> None:
    parser = bench_parser(__doc__, "runs/label_drift")
    parser.add_argument("--orders", type=int, choices=sorted(ORDERS), default=1)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", help="write the labels of this code to this .npz")
    action.add_argument("--compare", help="compare the labels of this code with this .npz")
    arguments = parser.parse_args()
    model, entry, root, cases = model_and_cases(arguments)
    model.prepared_for_inference("cpu")
    orders = ORDERS[arguments.orders]
    labels = segment_all(model, root, cases, orders)
    if arguments.save:
        Path(arguments.save).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(arguments.save, **labels)
        return
    with np.load(arguments.compare) as stored:
        before = {key: stored[key] for key in stored.files}
    report = {"model": entry.id, "compared_with": arguments.compare, "orders": drift(before, labels, orders)}
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "label_drift.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
