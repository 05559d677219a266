"""Long work in a separate process: a ``gmmseg`` command run by Slicer's Python, read line by line.

The Slicer module must not freeze, so segmenting, re-running with a moved prior and adapting run as
``PythonSlicer -m GmmSegLib.cli ...`` started by ``slicer.util.launchConsoleProcess``. A thread reads the
output lines into a queue; the caller (the widget's QTimer, or a test) calls :meth:`ConsoleJob.poll` to
collect them and learn when the process ended. :meth:`ConsoleJob.cancel` sends SIGTERM first, so the
trainer stops cleanly with its last state saved (exit code 143), and kills the process if it lingers.
No Qt here: the polling clock belongs to the caller.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

LIBRARY_PARENT = Path(__file__).resolve().parents[1]
CANCELLED_CODES = (143, -signal.SIGTERM, -signal.SIGKILL)


def python_executable() -> str:
    """Slicer's ``PythonSlicer`` when running inside Slicer, else this interpreter."""
    return shutil.which("PythonSlicer") or sys.executable


class ConsoleJob:
    """One ``gmmseg`` command in its own process."""

    def __init__(self, arguments: list[str]):
        import slicer.util

        environment = {"PYTHONPATH": os.pathsep.join(p for p in (str(LIBRARY_PARENT), os.environ.get("PYTHONPATH"))
                                                     if p)}
        self.process = slicer.util.launchConsoleProcess([python_executable(), "-m", "GmmSegLib.cli", *arguments],
                                                        useStartupEnvironment=False, updateEnvironment=environment,
                                                        cwd=str(LIBRARY_PARENT))
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))

    def poll(self) -> tuple[list[str], int | None]:
        """New output lines, and the exit code once the process has ended and all its output was read."""
        lines = []
        while not self._lines.empty():
            lines.append(self._lines.get())
        finished = self.process.poll() is not None and not self._reader.is_alive()
        if finished:
            while not self._lines.empty():
                lines.append(self._lines.get())
        return lines, self.process.returncode if finished else None

    def cancel(self, grace_seconds: float = 10.0) -> None:
        """Ask the process to stop (SIGTERM), kill it if it has not stopped after ``grace_seconds``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM on POSIX
        try:
            self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def cancelled(self) -> bool:
        return self.process.returncode in CANCELLED_CODES
