"""The named stages of a segmentation and the seconds each took (the JSON's ``timings_s``, ``gmmseg bench``).

:func:`~GmmSegLib.inference.segmentation.segment` runs them in this order; a stage entered several times (one
prediction per frame) adds up:

- ``locate``: the localiser finds the heart in the first frame as stored;
- ``orient``: the handedness net decides whether the stack is stored mirrored (locating it again if unsure);
- ``centre``: the crop is re-centred on GmmSeg's segmentation of the first frame (its last pass is that frame's
  prediction);
- ``predict``: GmmSeg's networks on the canonical crops of the other frames;
- ``native_grid``: probabilities, uncertainty maps and prior back onto the input's grid, labels decided;
- ``summarise``: volumes and per-slice review scores;
- ``check``: the quality check's second pass of the first frame (a cine's end-diastolic and end-systolic ones,
  found from the volumes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("locate", "orient", "centre", "predict", "native_grid", "summarise", "check")


class StageClock:
    """Seconds per stage of :data:`STAGES`, added up over the times each was entered."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in self.seconds:
            raise ValueError(f"{name!r} is not a stage of a segmentation ({', '.join(STAGES)})")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def timings(self, total_s: float) -> dict[str, float]:
        """``<stage>_s`` for every stage, in order, then ``total_s``."""
        return {**{f"{name}_s": seconds for name, seconds in self.seconds.items()}, "total_s": total_s}
