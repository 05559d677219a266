"""What the benchmark scripts share: their common options and where results go (``<out>/<name>.json``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


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
    from GmmSegLib import acdc
    from GmmSegLib.registry import load_registered

    model, entry = load_registered(arguments.model)
    root = acdc.default_acdc_dir()
    auxiliary, validation = acdc.split(acdc.list_cases(root))
    return model, entry, root, validation if getattr(arguments, "split", "validation") == "validation" else auxiliary


def write_report(out: str | Path, name: str, report: dict) -> Path:
    """Write the results as JSON and print them for the log."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return path
