"""What the benchmark scripts share: their common options and where results go (``<out>/<name>.json``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

STRUCTURES = ("LV", "MYO", "RV")


def bench_parser(doc: str, default_out: str, selection_split: str | None = None) -> argparse.ArgumentParser:
    """``--out`` (results folder) and ``--model`` (default: the shipped model), described by the script's docstring.

    With ``selection_split`` (e.g. ``auxiliary``), ``--split`` chooses between the validation split (the default,
    where results are reported) and the labelled training patients (where design choices are made).
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=default_out)
    parser.add_argument("--model", default=None)
    if selection_split:
        parser.add_argument("--split", choices=("validation", selection_split), default="validation")
    return parser


def model_and_cases(arguments: argparse.Namespace):
    """The model to measure (with its registry entry), the ACDC folder, and the cases of the chosen split."""
    from GmmSegLib.core.paths import acdc_dir
    from GmmSegLib.io import acdc
    from GmmSegLib.model.registry import load_registered

    model, entry = load_registered(arguments.model)
    root = acdc_dir()
    auxiliary, validation = acdc.split(acdc.list_cases(root))
    return model, entry, root, validation if getattr(arguments, "split", "validation") == "validation" else auxiliary


def shifted_image(image, seed: int):
    """A 3D stack (a ``CardiacImage``) seen through the benchmarks' synthetic new scanner: ``shifted_stack`` with
    ``seed`` (a split's shift seed plus the volume's index in that split, ``GmmSegLib.training.augment``)."""
    from GmmSegLib.training.augment import shifted_stack

    return dataclasses.replace(image, frames=shifted_stack(image.frames[0], seed)[None])


def write_report(out: str | Path, name: str, report: dict) -> Path:
    """Write the results as JSON and print them for the log."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return path


def structure_summary(rows: list[dict]) -> dict[str, float]:
    """Per-structure means of evaluate_pair rows over volumes (HD95 over the volumes where it is defined), mean Dice."""
    result = {}
    for name in STRUCTURES:
        result[f"{name}_dice"] = float(np.mean([row[f"{name}_dice"] for row in rows]))
        result[f"{name}_hd95"] = float(np.nanmean([row[f"{name}_hd95"] for row in rows]))
    result["mean_dice"] = float(np.mean([result[f"{name}_dice"] for name in STRUCTURES]))
    return result


def mean_dice(summary: dict) -> float:
    """The mean of a summary's per-structure Dice (:func:`structure_summary`)."""
    return float(np.mean([summary[f"{name}_dice"] for name in STRUCTURES]))


def site_drop(clean: dict, shifted: dict) -> dict:
    """What a site costs against the clean images: the drop of the mean Dice and of each structure's Dice."""
    return {
        "drop_mean_dice": mean_dice(clean) - mean_dice(shifted),
        "drop": {name: clean[f"{name}_dice"] - shifted[f"{name}_dice"] for name in STRUCTURES},
    }
