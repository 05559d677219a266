"""Slicer 5.10.0's Python layer where it differs from 5.12.3's in what the module uses: :func:`slicer_release`.

The harness runs Slicer 5.12.3's files. ``git diff v5.10.0 v5.12.3 -- Base/Python/slicer`` changes, of what the module
calls (``slicer.util.*``, ``slicer.i18n``, ``parameterNodeWrapper``):

* ``util.launchConsoleProcess``: 5.10.0 has ``(args, useStartupEnvironment=True, updateEnvironment=None, cwd=None)``
  and returns the process; 5.12.3 adds ``blocking``, ``logCallback`` and ``completedCallback`` and, with
  ``blocking=False``, reads the output itself. Everything before that (the environment, the Popen) is the same text,
  so 5.10.0's function is 5.12.3's called with ``blocking=True``;
* ``util.logProcessOutput``: 5.10.0 has ``(proc)`` only (5.12.3 adds ``logCallback``);
* ``i18n.translate``: 5.10.0 does ``from slicer import app`` with no fallback, so a text marked for translation
  raises ImportError where ``slicer`` has no ``app`` (a ``PythonSlicer`` process); 5.12.3 returns the text;
* ``parameterNodeWrapper``'s ``disconnectGui`` leaves connectGui's VTK observer in 5.10.0 (not made here: the module
  binds its GUI once, see ``GmmSegModuleWidget.exit``, and Testing/gui/test_module_widget.py checks that).

The other functions the module calls are the same in both. The launcher's difference (``PYTHONUTF8=1`` from 5.12 on)
is in Testing/launcher.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

RELEASES = ("5.12.3", "5.10.0")


def _launch_console_process_510(launch_5123: Any) -> Any:
    def launchConsoleProcess(args, useStartupEnvironment=True, updateEnvironment=None, cwd=None):
        return launch_5123(args, useStartupEnvironment, updateEnvironment, cwd)

    return launchConsoleProcess


def _log_process_output_510(log_5123: Any) -> Any:
    def logProcessOutput(proc):
        return log_5123(proc)

    return logProcessOutput


def _translate_510(context, text):
    from slicer import app

    return app.translate(context, text)


@contextmanager
def slicer_release(release: str) -> Iterator[str]:
    """The installed harness behaving as Slicer ``release`` (one of :data:`RELEASES`) inside the block: its version,
    and for 5.10.0 the functions above; everything is put back after."""
    if release not in RELEASES:
        raise ValueError(f"no such release in the harness: {release} (one of {', '.join(RELEASES)})")
    slicer = sys.modules["slicer"]
    version = tuple(int(part) for part in release.split("."))
    saved = {"util": dict(vars(slicer.util)), "i18n": dict(vars(slicer.i18n))}
    saved_version = (slicer.app.majorVersion, slicer.app.minorVersion, slicer.app.mainApplicationPatchVersion)
    slicer.app.setVersion(*version)
    if version < (5, 12, 0):
        slicer.util.launchConsoleProcess = _launch_console_process_510(slicer.util.launchConsoleProcess)
        slicer.util.logProcessOutput = _log_process_output_510(slicer.util.logProcessOutput)
        slicer.i18n.translate = _translate_510
    try:
        yield release
    finally:
        slicer.app.setVersion(*saved_version)
        for name in ("launchConsoleProcess", "logProcessOutput"):
            setattr(slicer.util, name, saved["util"][name])
        slicer.i18n.translate = saved["i18n"]["translate"]
