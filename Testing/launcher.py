"""A stand-in for Slicer's ``PythonSlicer``: a launcher that runs the interpreter as its child.

``PythonSlicer`` is CTK's application launcher (commontk/AppLauncher ``Base/ctkAppLauncher.cpp``, v0.1.34 as
Slicer 5.10.0 and 5.12.3 pin it): it sets up the environment, starts ``python-real`` with ``QProcess::start``,
forwards stdout, stderr and stdin, waits, and exits with the child's code. It installs no signal handler, so a
SIGTERM or SIGKILL ends the launcher alone and the child runs on. This one behaves the same, and
:func:`install_launcher` puts it on PATH as ``PythonSlicer``, where :func:`GmmSegLib.gui.jobs.python_executable`
looks for Slicer's.

The environment it gives the child is the launcher settings' Python part (SuperBuild/External_python.cmake,
``python_ENVVARS_LAUNCHER_INSTALLED``, less ``PYTHONHOME``, which would leave this interpreter without its own
library): ``PYTHONNOUSERSITE=1`` in both releases, and from 5.12 on ``PYTHONUTF8=1`` (Python's UTF-8 mode: its
standard streams and files are UTF-8 whatever the system's locale); Slicer 5.10.0's launcher does not set it, so
there the child's output is in the locale's encoding (a Windows code page, for instance).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

LAUNCHER = """#!{python}
import os, subprocess, sys
os.environ.update({environment!r})
sys.exit(subprocess.call([{python!r}, *sys.argv[1:]]))
"""
LAUNCHER_ENVIRONMENT = {"5.10.0": {"PYTHONNOUSERSITE": "1"}, "5.12.3": {"PYTHONNOUSERSITE": "1", "PYTHONUTF8": "1"}}


def install_launcher(folder: Path, release: str = "5.12.3") -> Path:
    """Write ``PythonSlicer`` of Slicer ``release`` (a key of :data:`LAUNCHER_ENVIRONMENT`) into ``folder`` (a
    POSIX script); returns the launcher."""
    folder.mkdir(parents=True, exist_ok=True)
    launcher = folder / "PythonSlicer"
    launcher.write_text(LAUNCHER.format(python=sys.executable, environment=LAUNCHER_ENVIRONMENT[release]))
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return launcher


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    stat_file = Path(f"/proc/{pid}/stat")
    if stat_file.is_file():
        try:
            return stat_file.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
