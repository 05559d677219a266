"""The GUI benchmark (Testing/benchmarks/bench_gui.py) runs its whole route once, on a short cine: every phase is
measured and checked (the labels shown are the job's, the scene opened again shows the result as saved). No time is
asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import requires_torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gui.py"
PHASES = {
    "segment_to_labels_shown_s",
    "segment_click_s",
    "blocked_while_running_s",
    "blocked_while_importing_s",
    "blocked_while_reading_s",
    *(f"{click}_{step}" for click in ("first", "second") for step in ("refine_click_s", "undo_click_s")),
    *(f"blocked_after_{click}_{step}_s" for click in ("first", "second") for step in ("refine", "undo")),
    "cancel_click_s",
    "cancel_to_processes_gone_s",
    "blocked_after_cancel_s",
    "reopen_to_resumed_s",
    "blocked_saving_s",
    "blocked_closing_s",
    "blocked_reopening_s",
}


@pytest.mark.slow
@requires_torch
def test_the_gui_benchmark_measures_every_phase_of_a_short_cine(harness, tmp_path):
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, str(BENCH), "--frames", "3", "--repeats", "1"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads(run.stdout)
    assert record["frames"] == 3 and record["repeats"] == 1 and len(record["runs"]) == 1
    assert set(record["median"]) == PHASES and set(record["runs"][0]) == PHASES
    assert all(value >= 0 for value in record["median"].values())
    assert record["cycle"]["nodes_added"]["vtkMRMLSegmentationNode"] == 1
