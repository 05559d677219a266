"""Separate-process jobs as the Slicer module runs them (slicer.util.launchConsoleProcess from slicer-core)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("slicer", reason="slicer-core (pip install slicer-core) provides slicer.util")

from GmmSegLib.jobs import ConsoleJob  # noqa: E402


def _wait(job: ConsoleJob, until=lambda lines: False, timeout_s: float = 600) -> tuple[list[str], int | None]:
    """Poll like the widget's QTimer does, until the job ends or ``until(lines)`` holds."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines, code = job.poll()
        seen += lines
        if code is not None or until(seen):
            return seen, code
        time.sleep(0.1)
    job.cancel()
    raise AssertionError(f"job did not finish in {timeout_s} s; output: {seen[-5:]}")


def test_segment_job_reports_its_outputs(tmp_path, phantom_files, shipped_model):
    job = ConsoleJob(["segment", str(phantom_files["volume"]), "--out", str(tmp_path), "--device", "cpu",
                      "--probabilities"])
    lines, code = _wait(job)
    assert code == 0, lines
    report = json.loads(lines[-1])
    assert any(path.endswith("phantom_ed_probabilities.nii.gz") for path in report["outputs"])
    assert not job.cancelled


def test_cancel_stops_training_cleanly_with_its_state_saved(tmp_path, phantom_acdc_dir):
    out = tmp_path / "model.pt"
    job = ConsoleJob(["train", "--out", str(out), "--data", str(phantom_acdc_dir), "--stages", "localiser", "atlas",
                      "pretrain", "--localiser-epochs", "1", "--pretrain-epochs", "200", "--steps-per-epoch", "2",
                      "--batch-size", "2", "--device", "cpu"])

    def pretraining_saved(lines: list[str]) -> bool:
        events = [json.loads(line) for line in lines if line.startswith("{")]
        return any(e["event"] == "saved" and e.get("stage_epoch", 0) >= 1 for e in events) and any(
            e["event"] == "stage" and e["stage"] == "pretrain" for e in events)

    lines, code = _wait(job, pretraining_saved)
    assert code is None, f"training ended before it could be cancelled: {lines[-3:]}"
    job.cancel(grace_seconds=120)  # a loaded CI machine may take a while to finish the step; no kill wanted here
    lines, code = _wait(job)
    assert job.cancelled and code == 143, f"exit code {code}; last output: {lines[-3:]}"
    assert not out.exists()
    assert (tmp_path / "model.work" / "state.pt").is_file()
