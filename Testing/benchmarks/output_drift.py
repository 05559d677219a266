"""Whether a change keeps every output of ``gmmseg segment``: compare two output folders file by file.

A refactoring must leave the product's files as they were (issue "The seams of the house"): each label map and
uncertainty, prior and probability map voxel for voxel (values and geometry), each JSON summary key for key, the
timings aside. Segment the same inputs with the code before and after, then compare:

    python Testing/benchmarks/output_drift.py --list runs/validation.txt   # the 50 validation volumes, one a line
    gmmseg segment @runs/validation.txt --out runs/before --device cpu   # with the code before the change
    gmmseg segment @runs/validation.txt --out runs/after --device cpu    # and after
    python Testing/benchmarks/output_drift.py runs/before runs/after

It prints, per kind of file, how many were compared and which differ (and where), and exits 1 if any differs or
is missing on one side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "GmmSegModule"))

IGNORED_KEYS = ("timings_s",)  # wall-clock times differ between any two runs


def validation_list(path: Path) -> int:
    """Write the validation split's image paths, one a line (``gmmseg segment @path``); returns their count."""
    from GmmSegLib.core.paths import acdc_dir
    from GmmSegLib.io import acdc

    root = acdc_dir()
    _, validation = acdc.split(acdc.list_cases(root))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{acdc.image_path(root, case)}\n" for case in validation))
    return len(validation)


def image_difference(before: Path, after: Path) -> str | None:
    """What differs between two images (geometry or voxels), or None if they are identical."""
    first, second = sitk.ReadImage(str(before)), sitk.ReadImage(str(after))
    for what in ("GetSize", "GetNumberOfComponentsPerPixel", "GetSpacing", "GetOrigin", "GetDirection"):
        if getattr(first, what)() != getattr(second, what)():
            return f"{what[3:].lower()} {getattr(first, what)()} != {getattr(second, what)()}"
    if first.GetPixelIDValue() != second.GetPixelIDValue():
        return f"pixel type {first.GetPixelIDTypeAsString()} != {second.GetPixelIDTypeAsString()}"
    a, b = sitk.GetArrayViewFromImage(first), sitk.GetArrayViewFromImage(second)
    changed = np.count_nonzero(a != b)
    return None if changed == 0 else f"{changed} of {a.size} values differ (largest {np.abs(a - b).max():g})"


def json_difference(before: Path, after: Path) -> str | None:
    """The keys whose values differ between two JSON summaries (``IGNORED_KEYS`` aside), or None."""
    first, second = (json.loads(path.read_text()) for path in (before, after))
    keys = sorted((set(first) | set(second)) - set(IGNORED_KEYS))
    differing = [key for key in keys if first.get(key, KeyError) != second.get(key, KeyError)]
    if not differing and [k for k in first if k not in IGNORED_KEYS] != [k for k in second if k not in IGNORED_KEYS]:
        return "the same keys and values in another order"
    return None if not differing else "keys " + ", ".join(differing)


def compare_folders(before: Path, after: Path) -> dict:
    """Every file of ``before`` against its namesake in ``after``."""
    names = sorted({p.name for p in before.iterdir()} | {p.name for p in after.iterdir()})
    report = {"compared": {}, "missing": [], "different": {}}
    for name in names:
        if not (before / name).is_file() or not (after / name).is_file():
            report["missing"].append(name)
            continue
        kind = "json" if name.endswith(".json") else name.rsplit("_", 1)[-1].split(".")[0]
        compare = json_difference if kind == "json" else image_difference
        report["compared"][kind] = report["compared"].get(kind, 0) + 1
        difference = compare(before / name, after / name)
        if difference:
            report["different"][name] = difference
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="BEFORE AFTER: two output folders of gmmseg segment")
    parser.add_argument("--list", type=Path, help="write the validation volumes' paths to this file and stop")
    arguments = parser.parse_args(argv)
    if arguments.list:
        print(f"{validation_list(arguments.list)} validation volumes listed in {arguments.list}")
        return 0
    if len(arguments.folders) != 2:
        parser.error("give two output folders (BEFORE AFTER), or --list FILE")
    report = compare_folders(*arguments.folders)
    print(json.dumps(report, indent=2))
    return 1 if report["missing"] or report["different"] else 0


if __name__ == "__main__":
    sys.exit(main())
