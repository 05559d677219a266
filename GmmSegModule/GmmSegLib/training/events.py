"""The trainer's progress as JSON lines on stdout, for the Slicer module, the command line and logs.

Events: ``start``, ``stage``, ``progress`` (every step, with an ETA over all remaining steps), ``epoch``,
``saved``, ``calibration``, ``stopped``, ``done`` and ``error``. Only rank 0 of a data-parallel run prints.
"""

from __future__ import annotations

import json
import time


class Progress:
    """JSON-lines progress on stdout (rank 0 only), with an ETA over all remaining steps."""

    def __init__(self, total_steps: int, enabled: bool):
        self.total_steps, self.enabled = max(total_steps, 1), enabled
        self.done_steps, self.start = 0, time.perf_counter()

    def emit(self, event: str, **fields) -> None:
        if self.enabled:
            print(json.dumps({"event": event, **fields}), flush=True)

    def step(self, **fields) -> None:
        self.done_steps += 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done_steps * (self.total_steps - self.done_steps)
        self.emit("progress", **fields, eta_s=round(eta, 1), elapsed_s=round(elapsed, 1))
