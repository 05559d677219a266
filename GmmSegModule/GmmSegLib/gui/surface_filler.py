"""A result's 3D surfaces made one frame at a time while the GUI is idle.

Converting one frame's labels to a closed surface takes about 0.1 s; doing all 20 frames of a cine when the result
arrives blocked the GUI for 2 s (Testing/benchmarks/bench_gui.py), and even the frame shown made the arrival longer.
A result arrives without surfaces (:func:`GmmSegLib.mrml.scene_outputs.add_output_nodes`); this fills them in, the
frame shown first, one per timer tick, so that the event loop runs between them, and stops when the outputs it
fills are no longer shown.
"""

from __future__ import annotations

import qt


class SurfaceFiller:
    """Make the missing 3D surfaces of the outputs shown, one frame per tick of a zero-interval timer."""

    def __init__(self):
        self.timer = qt.QTimer()
        self.timer.interval = 0
        self.timer.connect("timeout()", self._next)
        self.outputs = None
        self.pending: list[int] = []

    def fill(self, outputs) -> None:
        """Fill the surfaces of ``outputs`` (None: stop)."""
        self.timer.stop()
        self.outputs = outputs
        self.pending = outputs.frames_without_surface() if outputs is not None else []
        if self.pending:
            self.timer.start()

    def _next(self) -> None:
        if not self.pending or self.outputs is None or self.outputs.segmentation.GetScene() is None:
            self.timer.stop()  # done, or the outputs were removed (a re-run, a closed scene)
            return
        self.outputs.make_surface(self.pending.pop(0))
        if not self.pending:
            self.timer.stop()
