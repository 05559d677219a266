"""What a clinician does in the module panel and what it shows, shared by the GUI tests and ``bench_gui.py``."""

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
    place_with(widget.ui.backgroundPlaceWidget, click)
    return labels


def panel_state(widget) -> dict:
    """What the clinician sees of the shown result: review rows, the indices table, labels, the Accept stamp."""
    from GmmSegLib.mrml.logic import ACCEPTED

    outputs = widget._results.outputs
    table = outputs.indices_table.GetTable()
    return {"review": [dict(item) for item in widget._results.review.items],
            "indices": {table.GetValue(r, 0).ToString(): table.GetValue(r, 1).ToString()
                        for r in range(table.GetNumberOfRows())},
            "labels": widget.logic.sceneLogic().all_labels(outputs),
            "accepted": outputs.segmentation.GetAttribute(ACCEPTED)}


def same_state(shown: dict, expected: dict) -> bool:
    """Whether two :func:`panel_state` records show the same result."""
    return (shown["review"] == expected["review"] and shown["indices"] == expected["indices"]
            and np.array_equal(shown["labels"], expected["labels"]) and shown["accepted"] == expected["accepted"])


def place_with(place_widget, ras) -> None:
    """Press a click placer's place button and click at ``ras`` in a view: the point goes to the node the placer
    holds, and the placer leaves place mode (a one-time place), as in Slicer."""
    from slicer_harness.views import click_in_view

    place_widget.placeButton().click()
    if click_in_view(place_widget.mrmlScene(), ras) is None:
        raise AssertionError(f"the click placer of {place_widget.currentNode()} did not place a point")
