"""The indices table follows edits made outside the module (the Segment Editor) on the result shown."""

from __future__ import annotations

from collections.abc import Callable

import qt
import slicer


class IndicesFollower:
    """Calls ``refresh()`` shortly after the shown segmentation's labels change in place.

    The Segment Editor modifies the segmentation's labelmap, which makes the segmentation node invoke
    ``vtkSegmentation::SourceRepresentationModified`` (vtkMRMLSegmentationNode::SegmentationModifiedCallback). Its
    Undo and Redo do not: ``vtkSegmentationHistory::RestoreState`` copies the saved segments' labelmaps into the
    segments, which invokes ``vtkSegmentation::SegmentModified`` only; so both events are followed, or the table kept
    the indices of the edit that Undo took back. Each event (re)starts a single-shot timer, so that a brush stroke, or
    a cine played through, gives one refill of the table, not one per event. The module's own edits refill it
    themselves (:class:`GmmSegLib.mrml.logic.GmmSegLogic`).
    """

    EVENTS = (slicer.vtkSegmentation.SourceRepresentationModified, slicer.vtkSegmentation.SegmentModified)

    def __init__(self, refresh: Callable[[], None], delay_ms: int = 500):
        self.timer = qt.QTimer()
        self.timer.singleShot = True
        self.timer.interval = delay_ms
        self.timer.connect("timeout()", refresh)
        self.node, self.tags = None, []

    def follow(self, segmentation) -> None:
        """Follow ``segmentation`` (None: nothing) instead of the one followed so far."""
        self.timer.stop()
        for tag in self.tags:
            self.node.RemoveObserver(tag)
        self.node, self.tags = segmentation, []
        if segmentation is not None:
            self.tags = [
                segmentation.AddObserver(event, lambda _caller, _event: self.timer.start()) for event in self.EVENTS
            ]
