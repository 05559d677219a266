"""Separate-process jobs as the Slicer module runs them: through a launcher like PythonSlicer, with Slicer
5.12.3's own launchConsoleProcess, reported on the Qt event loop; Cancel kills the whole process tree."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time

import pytest
from launcher import alive

from conftest import requires_torch

pytestmark = pytest.mark.usefixtures("harness")


def _run(job_class, arguments, timeout_s: float = 300):
    from slicer_harness import wait_until

    lines, ends = [], []
    job = job_class(arguments, lines.append, lambda code, cancelled: ends.append((code, cancelled)))
    wait_until(lambda: ends, timeout=timeout_s)
    return job, lines, ends[0]


@pytest.mark.slow
def test_a_job_runs_through_the_launcher_and_reports_its_outputs(
    tmp_path, slicer_release, phantom_files, shipped_model
):
    """In Slicer 5.12.3 (launchConsoleProcess reads the output) and 5.10.0 (the job reads it)."""
    import shutil

    from GmmSegLib.gui.jobs import ConsoleJob, python_executable

    assert python_executable() == shutil.which("PythonSlicer") != sys.executable
    job, lines, (code, cancelled) = _run(
        ConsoleJob,
        ["segment", str(phantom_files["volume"]), "--out", str(tmp_path), "--device", "cpu", "--probabilities"],
    )
    assert code == 0 and not cancelled, lines[-5:]
    report = json.loads(lines[-1])
    assert any(path.endswith("phantom_ed_probabilities.nii.gz") for path in report["outputs"])


@pytest.mark.slow  # a command-line run in a subprocess: seconds
@requires_torch
def test_a_user_error_of_the_command_is_reported_as_its_one_line(tmp_path, pythonslicer):
    from GmmSegLib.gui.jobs import ConsoleJob

    job, lines, (code, cancelled) = _run(
        ConsoleJob, ["segment", str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "out")]
    )
    assert code == 2 and not cancelled
    assert any(line.startswith("gmmseg: error:") and "no such file" in line for line in lines), lines
    assert not any("Traceback" in line for line in lines)


@pytest.mark.slow
@requires_torch
def test_cancel_kills_the_launchers_child_too_and_writes_nothing(tmp_path, pythonslicer, phantom_acdc_dir):
    from slicer_harness import wait_until

    from GmmSegLib.gui.jobs import ConsoleJob
    from GmmSegLib.gui.process_tree import descendants

    out = tmp_path / "model.pt"
    lines, ends = [], []
    job = ConsoleJob(
        [
            "train",
            "--out",
            str(out),
            "--data",
            str(phantom_acdc_dir),
            "--stages",
            "localiser",
            "--localiser-epochs",
            "200",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "2",
            "--device",
            "cpu",
        ],
        lines.append,
        lambda code, cancelled: ends.append((code, cancelled)),
    )
    wait_until(lambda: any('"epoch"' in line for line in lines), timeout=300)  # training, not starting up
    children = descendants(job.process.pid)
    assert children, "the launcher has no child: it is not like PythonSlicer"
    started = time.perf_counter()
    job.cancel()
    blocked = time.perf_counter() - started
    wait_until(lambda: not any(alive(pid) for pid in [job.process.pid, *children]), timeout=10.0)
    wait_until(lambda: ends, timeout=5.0)
    assert ends == [(ends[0][0], True)] and blocked < 1.0
    assert not out.exists()


@pytest.mark.slow  # a command-line run in a subprocess: seconds
@requires_torch
def test_a_user_error_reaches_the_log_whole_where_the_locale_is_not_utf8(tmp_path, slicer_release, monkeypatch):
    """The job's lines arrive, none lost to a traceback, in Slicer 5.12.3 and 5.10.0 on a system whose locale is not
    UTF-8 (Windows' code pages; here the C locale with Python's UTF-8 mode and locale coercion off). Whatever mode
    PythonSlicer gives the command (5.12's UTF-8 mode, 5.10's locale encoding), the job writes in the encoding this
    process reads with, escaping what it lacks; and 5.10's launchConsoleProcess has no non-blocking mode, so the job
    reads the output itself."""
    import slicer.util

    from GmmSegLib.gui.jobs import ConsoleJob

    monkeypatch.delenv("PYTHONIOENCODING", raising=False)
    for name, value in (("LC_ALL", "C"), ("PYTHONUTF8", "0"), ("PYTHONCOERCECLOCALE", "0")):
        monkeypatch.setenv(name, value)
    missing = tmp_path / "Ωmega" / "missing.nii.gz"
    job, lines, (code, cancelled) = _run(ConsoleJob, ["segment", str(missing), "--out", str(tmp_path / "out")])
    non_blocking = "blocking" in inspect.signature(slicer.util.launchConsoleProcess).parameters
    assert non_blocking == (slicer_release == "5.12.3")
    assert code == 2 and not cancelled, lines
    errors = [line for line in lines if line.startswith("gmmseg: error:") and "missing.nii.gz" in line]
    assert errors and not any("Traceback" in line for line in lines), lines
    if slicer_release == "5.12.3":  # UTF-8 mode reads the path's letters right; they are written as they are
        # where this process reads UTF-8, else escaped (the job writes in the encoding read with)
        assert str(missing) in errors[0] or str(missing).encode("ascii", "backslashreplace").decode() in errors[0]


@pytest.mark.slow  # a command-line run in a subprocess: seconds
@requires_torch
@pytest.mark.skipif(sys.flags.utf8_mode, reason="this Python reads every pipe as UTF-8 (its UTF-8 mode is on)")
def test_a_user_error_reaches_the_log_when_slicer_itself_reads_in_a_narrower_encoding(tmp_path, slicer_release):
    """Slicer's launchConsoleProcess decodes the job's output in Slicer's own locale encoding, and 5.12.3's reader
    skips a line it cannot decode: on a C locale, a UTF-8 job's error naming a path with non-ASCII letters would
    vanish. The job writes in the encoding Slicer reads with, escaping what it lacks."""
    import locale

    from GmmSegLib.gui.jobs import ConsoleJob

    missing = tmp_path / "Ωmega" / "missing.nii.gz"
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # this process, as Slicer started on a C locale, now reads ASCII
    try:
        job, lines, (code, cancelled) = _run(ConsoleJob, ["segment", str(missing), "--out", str(tmp_path / "out")])
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    errors = [line for line in lines if line.startswith("gmmseg: error:") and "missing.nii.gz" in line]
    assert code == 2 and errors and "\\u03a9mega" in errors[0], lines


@pytest.mark.parametrize("process_table", ["/proc (Linux)", "ps (macOS)"])
def test_process_tree_kill_reaches_grandchildren(pythonslicer, process_table, monkeypatch, tmp_path):
    from slicer_harness import wait_until

    from GmmSegLib.gui import process_tree
    from GmmSegLib.gui.process_tree import descendants, kill_process_tree

    if process_table.startswith("ps"):
        monkeypatch.setattr(process_tree, "PROC", tmp_path / "no proc")

    sleeper = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        " time.sleep(60)"
    )
    launcher = subprocess.Popen([str(pythonslicer), "-c", sleeper])
    try:
        wait_until(lambda: len(descendants(launcher.pid)) >= 2, timeout=10)
        tree = [launcher.pid, *descendants(launcher.pid)]
        kill_process_tree(launcher.pid)
        launcher.wait(timeout=5)
        wait_until(lambda: not any(alive(pid) for pid in tree), timeout=10.0)
    finally:
        if launcher.poll() is None:
            launcher.kill()
