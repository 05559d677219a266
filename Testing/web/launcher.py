"""Starting ``gmmseg serve`` as a user does: for the browser test and the web benchmark (bench_web.py).

The launcher runs from the checkout's module folder on a free port, its sessions' temporary copies under
``temporary`` (TMPDIR), and says its address on its first lines of output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_launcher(served: Path, temporary: Path, wait_s: float = 120.0) -> tuple[subprocess.Popen, str | None]:
    """The launcher process serving ``served`` and the address it printed; None (the process killed) when it printed
    none within ``wait_s`` seconds or ended."""
    process = subprocess.Popen(
        [sys.executable, "-m", "GmmSegLib.cli", "serve", str(served), "--port", "0", "--device", "cpu"],
        cwd=ROOT / "GmmSegModule",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    address = None
    deadline = time.monotonic() + wait_s
    while address is None and time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"open (http://\S+)", process.stdout.readline())
        address = found.group(1) if found else None
    if address is None:
        process.kill()
    return process, address
