"""Long work in a separate process: a ``gmmseg`` command run by Slicer's Python, its output read line by line.

The Slicer module must not freeze, so segmenting, re-running with a moved prior and adapting run as
``PythonSlicer -m GmmSegLib.cli ...`` started by ``slicer.util.launchConsoleProcess``. Output lines and the
end of the process reach the caller's callbacks on the GUI thread: through Slicer's own non-blocking mode
(``blocking=False``, Slicer 5.12: a reader thread and a ``QTimer``, ``Base/Python/slicer/util.py``), or, on
Slicer 5.10 whose ``launchConsoleProcess`` has no such mode, through the same arrangement made here.

:meth:`ConsoleJob.cancel` kills the whole process tree (:mod:`.process_tree`): ``PythonSlicer`` is a
launcher whose child does the work. It does not wait for the process; the end is reported through ``on_finished`` with
``cancelled`` true, whatever exit code the killed launcher gives (-9 on POSIX, 1 on Windows).
"""

from __future__ import annotations

import inspect
import locale
import os
import queue
import shutil
import sys
import threading
from collections.abc import Callable

from ..core.paths import MODULE_DIR
from .process_tree import kill_process_tree

POLL_MS = 100


def python_executable() -> str:
    """Slicer's ``PythonSlicer`` when running inside Slicer, else this interpreter."""
    return shutil.which("PythonSlicer") or sys.executable


class ConsoleJob:
    """One ``gmmseg`` command in its own process, reported to ``on_line(text)`` and ``on_finished(code, cancelled)``."""

    def __init__(self, arguments: list[str], on_line: Callable[[str], None], on_finished: Callable[[int, bool], None]):
        import slicer.util

        self._on_line = on_line
        self._on_finished = on_finished
        self.cancel_requested = False
        self.finished = False
        environment = {
            "PYTHONPATH": os.pathsep.join(p for p in (str(MODULE_DIR), os.environ.get("PYTHONPATH")) if p),
            # launchConsoleProcess reads the output in this process's locale encoding, and 5.12.3 drops
            # a line it cannot decode: the job writes in that encoding, escaping what it lacks (a path's
            # non-ASCII letters on a C locale), whatever PythonSlicer's UTF-8 mode would choose
            "PYTHONIOENCODING": f"{locale.getpreferredencoding(False)}:backslashreplace",
        }
        command = [python_executable(), "-m", "GmmSegLib.cli", *arguments]
        options = {"useStartupEnvironment": False, "updateEnvironment": environment, "cwd": str(MODULE_DIR)}
        launch = slicer.util.launchConsoleProcess
        if "blocking" in inspect.signature(launch).parameters:  # Slicer 5.12 and later
            self.process = launch(
                command, blocking=False, logCallback=on_line, completedCallback=self._ended, **options
            )
        else:
            self.process = launch(command, **options)
            _deliver_output(self.process, on_line, self._ended)

    @property
    def running(self) -> bool:
        return not self.finished

    def cancel(self) -> None:
        """Kill the command and everything it started, now; the end is still reported through ``on_finished``.

        Only the kill happens here (a few milliseconds: signals on POSIX, ``taskkill`` on Windows), never a wait
        for the process: once it returns the processes are stopped, and their files can be removed."""
        if self.finished or self.cancel_requested:
            return
        self.cancel_requested = True
        kill_process_tree(self.process.pid)

    def _ended(self, code: int) -> None:
        self.finished = True
        self._on_finished(code, self.cancel_requested)


def _deliver_output(process, on_line: Callable[[str], None], on_end: Callable[[int], None]) -> None:
    """Read ``process``'s output on a thread and hand lines and the exit code to the GUI thread by a QTimer
    (what Slicer 5.12's ``launchConsoleProcess(blocking=False)`` does, for Slicer 5.10)."""
    import qt

    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(("line", line.rstrip("\n")))
        lines.put(("end", process.wait()))

    def deliver() -> None:
        while True:
            try:
                kind, value = lines.get_nowait()
            except queue.Empty:
                qt.QTimer.singleShot(POLL_MS, deliver)
                return
            if kind == "end":
                on_end(value)
                return
            on_line(value)

    threading.Thread(target=read, daemon=True).start()
    qt.QTimer.singleShot(0, deliver)


class BackgroundTask:
    """``work()`` on a thread, its outcome handed to ``on_done(value, error)`` on the GUI thread by a QTimer.

    For pure computation of the widget's (reading result files, ranking the review queue) that would otherwise
    hold the Qt event loop for a second; never for MRML, which is not thread-safe.
    """

    def __init__(self, work: Callable[[], object], on_done: Callable[[object, BaseException | None], None]):
        import qt

        self._outcome: queue.Queue = queue.Queue()

        def run() -> None:
            try:
                self._outcome.put((work(), None))
            except BaseException as error:  # handed to the GUI thread, which decides what the user sees
                self._outcome.put((None, error))

        def deliver() -> None:
            try:
                value, error = self._outcome.get_nowait()
            except queue.Empty:
                qt.QTimer.singleShot(POLL_MS, deliver)
                return
            on_done(value, error)

        threading.Thread(target=run, daemon=True).start()
        qt.QTimer.singleShot(POLL_MS, deliver)
