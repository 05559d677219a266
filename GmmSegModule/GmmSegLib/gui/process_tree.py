"""Stopping a process together with every process it started, on Linux, macOS and Windows.

Inside Slicer a job runs as ``PythonSlicer -m GmmSegLib.cli ...``. ``PythonSlicer`` is CTK's application
launcher: it starts the real interpreter (``python-real``) as its child with ``QProcess::start`` and installs
no signal handler (commontk/AppLauncher ``Base/ctkAppLauncher.cpp`` at v0.1.34, the release Slicer 5.12.3
pins in ``SuperBuild/External_CTKAPPLAUNCHER.cmake``). Terminating the launcher therefore leaves the
computation running; the whole tree has to go. Slicer bundles no ``psutil``, so the tree is read from
``/proc`` (Linux) or ``ps`` (macOS), and Windows' own ``taskkill /T`` stops it there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...), parents before their children."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_links():
        children.setdefault(parent, []).append(child)
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def kill_process_tree(pid: int) -> None:
    """Kill ``pid`` and all its descendants at once; returns without waiting for them to end."""
    if os.name == "nt":
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(pid)],
            capture_output=True,
            creationflags=subprocess.CREATE_NO_WINDOW,
            check=False,
        )
        return
    import signal

    # the tree is read before anything dies: a killed launcher's children would be re-parented and lost
    for target in [*reversed(descendants(pid)), pid]:
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # already gone


PROC = Path("/proc")  # Linux's process table; absent on macOS, where ps reads it


def _parent_links() -> list[tuple[int, int]]:
    """(pid, parent pid) of every process this user can see (POSIX)."""
    if not (PROC / "self" / "stat").is_file():
        table = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True, check=False)
        return [
            (int(pid), int(ppid)) for pid, ppid in (line.split() for line in table.stdout.splitlines() if line.strip())
        ]
    links = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended while the table was read
            # the command name (2nd field) may hold spaces and parentheses: the fields after it are safe
            links.append((int(entry.name), int(stat.rsplit(")", 1)[1].split()[1])))
    return links
