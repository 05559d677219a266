"""Whether a process still runs, for the cleaners of what a killed process left behind (its temporary files)."""

from __future__ import annotations

import os


def process_runs(pid: int) -> bool:
    """Whether process ``pid`` of this computer runs (POSIX: signal 0 probes it; another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
