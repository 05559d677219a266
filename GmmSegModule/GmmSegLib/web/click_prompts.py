"""The prompts a reader places on the page for click refinement: foreground and background points, and scribbles.

Four markups point lists, as the panel's ``foregroundPoints``, ``backgroundPoints``, ``scribblePoints`` and
``backgroundScribblePoints`` (a scribble's points, in the order placed, are joined into one stroke along the
structure or along where it should not be, GmmSegLib.core.clicks.scribble),
placed by clicking in a slice view once the page asks for a kind of prompt (Slicer's interaction node in Place mode,
through trame-slicer's markups logic); Refine reads their world positions and clears them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import slicer

KINDS = {
    "foreground": "GmmSeg foreground clicks",
    "background": "GmmSeg background clicks",
    "scribble": "GmmSeg scribble",
    "background scribble": "GmmSeg background scribble",
}
COLOURS = {
    "foreground": (0.1, 0.9, 0.1),
    "background": (0.9, 0.1, 0.9),
    "scribble": (0.1, 0.8, 0.9),
    "background scribble": (0.9, 0.5, 0.1),
}


class ClickPrompts:
    """The prompts' point lists of ``scene``, placed with ``markups_logic`` (trame_slicer.core.markups_logic);
    ``on_change`` is called when a point is placed or removed."""

    def __init__(self, scene, markups_logic, on_change: Callable[[], None]):
        self.scene, self.markups_logic, self.on_change = scene, markups_logic, on_change
        self.nodes: dict[str, object] = {}

    def place(self, kind: str) -> None:
        """Each click in a slice view from now on adds a ``kind`` point (until :meth:`stop_placing`)."""
        node = self.nodes.get(kind)
        if node is None or not self.scene.IsNodePresent(node):
            node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", KINDS[kind])
            node.CreateDefaultDisplayNodes()
            node.GetDisplayNode().SetSelectedColor(COLOURS[kind])
            for event in (
                slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent,
                slicer.vtkMRMLMarkupsNode.PointRemovedEvent,
            ):
                node.AddObserver(event, lambda *_: self.on_change())  # the page shows how many are placed
            self.nodes[kind] = node
        self.markups_logic.place_node(node, persistent=True)

    def stop_placing(self) -> None:
        self.markups_logic.disable_place_mode()

    def positions(self, kind: str) -> list[np.ndarray]:
        """The world (RAS) positions of the ``kind`` points placed."""
        node = self.nodes.get(kind)
        if node is None or not self.scene.IsNodePresent(node):
            return []
        points = []
        for index in range(node.GetNumberOfControlPoints()):
            position = np.zeros(3)
            node.GetNthControlPointPositionWorld(index, position)
            points.append(position)
        return points

    def count(self) -> int:
        return sum(len(self.positions(kind)) for kind in KINDS)

    def clear(self) -> None:
        for node in self.nodes.values():
            if self.scene.IsNodePresent(node):
                node.RemoveAllControlPoints()

    def remove(self) -> None:
        """Take the point lists out of the scene (another patient is opened)."""
        self.stop_placing()
        for node in self.nodes.values():
            if self.scene.IsNodePresent(node):
                self.scene.RemoveNode(node)
        self.nodes.clear()
