"""What a clinician does in the module panel, shared by the GUI tests and ``bench_gui.py``."""

from __future__ import annotations

import numpy as np


def click_background_in_the_lv(widget, outputs) -> np.ndarray:
    """Place one background click at the LV's middle on the slice where the shown frame's LV is largest, as a
    clinician marks blood pool drawn too far; the labels before the click."""
    logic = widget.logic.sceneLogic()
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 1)
    click = logic.world_position(outputs, (float(np.median(xs)), float(np.median(ys)), z), outputs.current_frame)
    widget._parameterNode.backgroundPoints.AddControlPoint(*click)
    return labels
