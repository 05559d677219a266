"""Where the benchmark scripts put their results: ``<out>/<name>.json``, also printed for the log."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(out: str | Path, name: str, report: dict) -> Path:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return path
