"""A click in a view, for what the harness has no views for: placing a markups point in Place mode.

In the application a left click in a slice view, while the interaction node is in Place mode, reaches the markups
displayable manager's widget of the active place node (the selection node's ``ActivePlaceNodeID``), whose
``vtkSlicerMarkupsWidget::PlacePoint`` (Modules/Loadable/Markups/VTKWidgets/vtkSlicerMarkupsWidget.cxx, 5.12.3) adds
a defined control point there and, for a one-time place (``PlaceModePersistence`` off, no required number of
points), or when a node with a fixed number of points has them all, returns the interaction mode to ViewTransform.
:func:`click_in_view` does that on the scene; outside Place mode a click places nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def click_in_view(scene: Any, ras: Sequence[float]) -> int | None:
    """A left click at the world position ``ras`` (mm): the index of the control point it placed, or None."""
    interaction = scene.GetNodeByID("vtkMRMLInteractionNodeSingleton")
    selection = scene.GetNodeByID("vtkMRMLSelectionNodeSingleton")
    if interaction.GetCurrentInteractionMode() != interaction.Place:
        return None
    node = scene.GetNodeByID(selection.GetActivePlaceNodeID() or "")
    if node is None or not node.IsA("vtkMRMLMarkupsNode") or node.GetControlPointPlacementComplete():
        return None
    scene.SaveStateForUndo()
    index = node.AddControlPoint(*ras[:3])
    required = node.GetRequiredNumberOfControlPoints()
    undefined = node.GetNumberOfUndefinedControlPoints() > 0
    required_reached = required > 0 and node.GetNumberOfControlPoints() >= required and not undefined
    one_time = not interaction.GetPlaceModePersistence() and (required_reached or required <= 0)
    if one_time or (node.GetFixedNumberOfControlPoints() and not undefined):
        interaction.SetCurrentInteractionMode(interaction.ViewTransform)
    return index
