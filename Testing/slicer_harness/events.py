"""Running the Qt event loop in a test, and measuring how long the GUI thread was blocked meanwhile.

In the application the event loop always runs; in a test nothing happens (no QTimer fires, no queued call runs)
until the test runs it. :func:`pump` and :func:`wait_until` run it, with a heartbeat QTimer (every 10 ms by
default) whose longest gap between two beats is returned: about the heartbeat interval while the GUI thread
is free, the blocking time when a slot (a QTimer's poll, a button's handler) kept it busy.

An exception raised in a slot is printed by PySide6 (as by PythonQt in Slicer) and the loop goes on; here the
first such exception is raised again once the loop has stopped, so that it fails the test.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from PySide6 import QtCore


def _run(duration: float, predicate: Callable[[], bool] | None, heartbeat_ms: int) -> tuple[float, bool]:
    loop = QtCore.QEventLoop()
    state = {"last": time.perf_counter(), "worst": 0.0, "met": False}
    errors: list[BaseException] = []

    def beat() -> None:
        now = time.perf_counter()
        state["worst"] = max(state["worst"], now - state["last"])
        state["last"] = now
        if predicate is not None and predicate():
            state["met"] = True
            loop.quit()

    def record(kind: type, error: BaseException, trace: object) -> None:
        errors.append(error)
        previous_hook(kind, error, trace)

    heartbeat = QtCore.QTimer()
    heartbeat.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(heartbeat_ms)
    heartbeat.timeout.connect(beat)
    deadline = QtCore.QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    previous_hook, sys.excepthook = sys.excepthook, record
    try:
        heartbeat.start()
        deadline.start(max(0, int(duration * 1000)))
        loop.exec()
    finally:
        sys.excepthook = previous_hook
        heartbeat.stop()
        deadline.stop()
    state["worst"] = max(state["worst"], time.perf_counter() - state["last"])
    if errors:
        raise RuntimeError(f"a slot raised while the event loop ran: {errors[0]!r}") from errors[0]
    return state["worst"], state["met"]


def pump(seconds: float, heartbeat_ms: int = 10) -> float:
    """Run the Qt event loop for ``seconds``; return the longest gap (s) between heartbeats."""
    return _run(seconds, None, heartbeat_ms)[0]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, heartbeat_ms: int = 10) -> float:
    """Run the Qt event loop until ``predicate()`` is true (checked at each heartbeat); return the longest gap (s)
    between heartbeats. Raises TimeoutError if it is still false after ``timeout`` seconds."""
    if predicate():
        return 0.0
    worst, met = _run(timeout, predicate, heartbeat_ms)
    if not met and not predicate():
        raise TimeoutError(f"still not true after {timeout} s of event loop: {predicate}")
    return worst


def from_event_loop(function: Callable[[], object]) -> object:
    """Call ``function()`` from a running event loop, as the application calls every slot (a button's ``clicked``),
    and return its result or raise its exception.

    This matters to modal dialogs: Slicer's ``slicer.util.messageBox`` calls the box's ``deleteLater()`` before its
    ``exec_()``, which Qt carries out when control returns to the loop that was running at the call. Called from a
    loop, the box is deleted after it was answered, as in the application; called with no loop running, the box's
    own loop would delete it at once and ``exec_()`` would return before anyone could answer.
    """
    loop = QtCore.QEventLoop()
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # raised again outside the loop, where the test sees it
            outcome["error"] = error
        finally:
            loop.quit()

    QtCore.QTimer.singleShot(0, call)
    loop.exec()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
