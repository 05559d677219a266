"""Stand-ins of Slicer's qMRML and qSlicer widgets (C++ classes that exist only inside the application).

Each mirrors the header of Slicer 5.12.3 named in its docstring: the same base class and, of what the module and
Slicer's Python layer use, the same property, signal and slot names and behaviour, working on the real MRML
scene of slicer-core. A ``vtkMRMLScene*`` or ``vtkMRMLNode*`` argument of a signal is a Python object here.
Classes said to be "bare" exist only because Slicer's parameterNodeWrapper compares widget types against them.
"""

from __future__ import annotations

import weakref
from typing import Any

import shiboken6
import slicer_core
import vtk
from PySide6 import QtWidgets
from PySide6.QtCore import Property, Signal

from .ctk_standins import ctkColorPickerButton, ctkDoubleSpinBox, ctkRangeWidget, ctkSliderWidget
from .qt_adapter import qt


class qMRMLWidget(qt.QWidget):
    """Libs/MRML/Widgets/qMRMLWidget.h: a QWidget with a scene, ``setMRMLScene`` / ``mrmlScene()`` and the
    ``mrmlSceneChanged(vtkMRMLScene*)`` signal (emitted when the scene changes), which .ui files connect to the
    ``setMRMLScene`` slot of their qMRML children."""

    mrmlSceneChanged = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._mrmlScene = None

    def mrmlScene(self) -> Any:
        return self._mrmlScene

    def setMRMLScene(self, scene: Any) -> None:
        if scene is self._mrmlScene:
            return
        self._mrmlScene = scene
        self.mrmlSceneChanged.emit(scene)


class qSlicerWidget(qMRMLWidget):
    """Base/QTGUI/qSlicerWidget.h: a QWidget with a scene (qSlicerObject's); the same scene API as qMRMLWidget.

    (In C++ it derives from QWidget and qSlicerObject, not qMRMLWidget; the Python-visible API is the same.)"""


class _SceneFilter:
    """Which scene nodes a qMRMLNodeComboBox lists: qMRMLSortFilterProxyModel::filterAcceptsNode's rules (without
    attribute filters), in scene order. With no ``nodeTypes`` every node is listed, as there; a node whose ID is in
    ``hiddenNodeIDs`` never is."""

    def __init__(self) -> None:
        self.nodeTypes: list[str] = []
        self.hideChildNodeTypes: list[str] = []
        self.hiddenNodeIDs: list[str] = []
        self.showHidden = False
        self.showChildNodeTypes = True

    def of_type(self, node: Any) -> bool:
        if not self.nodeTypes:
            return True
        for node_type in self.nodeTypes:
            if not node.IsA(node_type) or (not self.showChildNodeTypes and node_type != node.GetClassName()):
                continue
            return not (self.showChildNodeTypes and any(node.IsA(t) for t in self.hideChildNodeTypes))
        return False

    def accepts(self, node: Any) -> bool:
        if node.GetID() in self.hiddenNodeIDs:
            return False
        return (self.showHidden or not node.GetHideFromEditors()) and self.of_type(node)


class qMRMLSortFilterProxyModel(qt.QObject):
    """Libs/MRML/Widgets/qMRMLSortFilterProxyModel.h, as a qMRMLNodeComboBox's ``sortFilterProxyModel()``: of its
    properties only ``hiddenNodeIDs`` (the nodes never listed); setting it filters the combo box's list again."""

    def __init__(self, combo: qMRMLNodeComboBox) -> None:
        super().__init__(combo)
        self._combo = combo

    def _getHiddenNodeIDs(self) -> list[str]:
        return list(self._combo._filter.hiddenNodeIDs)

    def setHiddenNodeIDs(self, nodeIDs: list[str]) -> None:
        nodeIDs = [str(nodeID) for nodeID in nodeIDs]
        if nodeIDs != self._combo._filter.hiddenNodeIDs:
            self._combo._filter.hiddenNodeIDs = nodeIDs
            self._combo._update()

    hiddenNodeIDs = Property("QStringList", _getHiddenNodeIDs, setHiddenNodeIDs)


def _filter_property(name: str, kind: Any) -> Property:
    """A qMRMLNodeComboBox property kept in its scene filter; setting it lists the scene again."""

    def getter(self: qMRMLNodeComboBox) -> Any:
        value = getattr(self._filter, name)
        return list(value) if isinstance(value, list) else value

    def setter(self: qMRMLNodeComboBox, value: Any) -> None:
        if isinstance(getattr(self._filter, name), list):
            value = [str(v) for v in value if str(v)]  # empty names are removed, as setNodeTypes does
        setattr(self._filter, name, value)
        if self._scene is not None:
            for index in range(self._scene.GetNumberOfNodes()):
                self._watchNode(self._scene.GetNthNode(index))
        self._update()

    return Property(kind, getter, setter)


def _flag_property(name: str) -> Property:
    """A qMRMLNodeComboBox item flag (noneEnabled, addEnabled, ...); setting it lists the scene again."""

    def getter(self: qMRMLNodeComboBox) -> bool:
        return self._flags[name]

    def setter(self: qMRMLNodeComboBox, value: bool) -> None:
        self._flags[name] = bool(value)
        self._update()

    return Property(bool, getter, setter)


class qMRMLNodeComboBox(qt.QWidget):
    """Libs/MRML/Widgets/qMRMLNodeComboBox.h: a combo box of the scene's nodes of ``nodeTypes``.

    Lists (``nodeCount()``, ``nodeFromIndex(i)``) the scene's nodes that are of one of ``nodeTypes`` (all nodes if
    it is empty) and of none of ``hideChildNodeTypes``, without HideFromEditors nodes unless ``showHidden``. The
    defaults are the header's: ``addEnabled`` and ``removeEnabled`` true, the rest false. It follows the scene as
    the real one does, whose list is a QComboBox over a model of the scene (items: "None" if ``noneEnabled``, the
    nodes, then action items if any of ``addEnabled``/``removeEnabled``/``editEnabled``/``renameEnabled``):

    * when the current node stops being listed (removed from the scene, hidden, or the scene closed), the
      QComboBox rule picks the item now at the same position (the next node; else the previous one; "None" if
      that is what remains); with no item left, nothing; an action item is replaced by the last node;
    * when the first item appears in an empty list with nothing selected (``noneEnabled`` false and no action
      items: with the default ``addEnabled`` there are, and a first node added is not selected), it is selected;
    * ``currentNodeChanged(vtkMRMLNode*)`` is emitted when the current node changes, except while the scene is
      being set (``setMRMLScene`` selects silently, then restores the previous choice or a requested node).

    The widget is disabled until it has a scene. Action items are not shown (nothing is displayed).
    """

    currentNodeChanged = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._filter = _SceneFilter()
        self._proxyModel = qMRMLSortFilterProxyModel(self)
        self._flags = {
            "noneEnabled": False,
            "addEnabled": True,
            "removeEnabled": True,
            "editEnabled": False,
            "renameEnabled": False,
        }
        self._scene = None
        self._sceneObservers: list[int] = []
        self._nodeObservers: dict[str, tuple[Any, int]] = {}
        self._items: list[str] = []  # node IDs and the "None"/action pseudo-items, as the QComboBox's rows
        self._current: str | None = None  # the current row (a node ID or a pseudo-item), None for -1
        self._requested: str | None = None  # node ID set while there was no scene
        self._lastNode = None  # the current node as last seen (it may have left the scene since)
        self._switchingScene = False
        self.setEnabled(False)

    # -- the list -------------------------------------------------------------------------------------------
    _NONE = "\x00None"

    def _actionItems(self) -> list[str]:
        flags = self._flags
        if not (flags["addEnabled"] or flags["removeEnabled"] or flags["editEnabled"] or flags["renameEnabled"]):
            return []
        count = 1 + flags["renameEnabled"] + flags["editEnabled"] + flags["removeEnabled"]
        count += flags["addEnabled"] * len(self._filter.nodeTypes) * (1 + flags["renameEnabled"])
        return [f"\x00action{i}" for i in range(count)]

    def _listedNodeIDs(self, leaving: Any = None) -> list[str]:
        if self._scene is None:
            return []
        ids = []
        for index in range(self._scene.GetNumberOfNodes()):
            node = self._scene.GetNthNode(index)
            if node is not leaving and self._filter.accepts(node):
                ids.append(node.GetID())
        return ids

    def _wantedItems(self, leaving: Any = None) -> list[str]:
        if self._scene is None:
            return []
        return ([self._NONE] if self._flags["noneEnabled"] else []) + self._listedNodeIDs(leaving) + self._actionItems()

    def _update(self, leaving: Any = None, reset: bool = False) -> None:
        """Bring the rows to the scene's state: the removed rows go first, then the new ones come, as in the model.

        ``leaving``: a node being removed (still in the scene). ``reset``: all node rows go and the listed nodes
        come back, as qMRMLSceneModel::updateScene does after the scene was closed or imported.
        """
        before = self._lastNode
        wanted = self._wantedItems(leaving)
        staying = [item for item in wanted if item.startswith("\x00")] if reset else wanted
        kept = [item for item in self._items if item in staying]
        if len(kept) != len(self._items):
            index = self._items.index(self._current) if self._current in self._items else -1
            self._items = kept
            if self._current is not None and self._current not in kept:
                self._current = kept[min(len(kept) - 1, max(index, 0))] if kept else None
                if self._current is not None and self._current.startswith("\x00action"):
                    listed = [item for item in kept if not item.startswith("\x00")]
                    self._current = listed[-1] if listed else self._current
        for position, item in enumerate(wanted):
            if item not in self._items:
                wasEmpty = not self._items
                self._items.insert(position, item)
                if wasEmpty and self._current is None:
                    self._current = item
        self._emitIfChanged(before)

    def _emitIfChanged(self, before: Any) -> None:
        node = self.currentNode()
        self._lastNode = node
        if node is not before and not self._switchingScene:
            self.currentNodeChanged.emit(node)

    # -- scene -------------------------------------------------------------------------------------------------
    def mrmlScene(self) -> Any:
        return self._scene

    def setMRMLScene(self, scene: Any) -> None:
        if scene is self._scene:
            return
        oldCurrent = self.currentNodeID
        previousSceneWasValid = self.nodeCount() > 0
        self._unobserveScene()
        self._switchingScene = True
        try:
            self._scene = scene
            self._items, self._current = [], None
            self._update()
        finally:
            self._switchingScene = False
        self._observeScene()
        if previousSceneWasValid:
            self.setCurrentNodeID(oldCurrent)
        else:
            self.setCurrentNodeID(self._requested if self._requested is not None else self.currentNodeID)
        self._requested = None
        self.setEnabled(scene is not None)

    def _observeScene(self) -> None:
        scene = self._scene
        if scene is None:
            return
        events = (
            (scene.NodeAddedEvent, self._onNodeAdded),
            (scene.NodeAboutToBeRemovedEvent, self._onNodeRemoving),
            (scene.EndCloseEvent, self._onSceneReset),
            (scene.EndImportEvent, self._onSceneReset),
        )
        self._sceneObservers = [scene.AddObserver(event, callback) for event, callback in events]
        for index in range(scene.GetNumberOfNodes()):
            self._watchNode(scene.GetNthNode(index))

    def _unobserveScene(self) -> None:
        if self._scene is not None:
            for tag in self._sceneObservers:
                self._scene.RemoveObserver(tag)
        for node, tag in self._nodeObservers.values():
            node.RemoveObserver(tag)
        self._sceneObservers, self._nodeObservers = [], {}

    def _watchNode(self, node: Any) -> None:
        """Re-filter when a node of the types changes (HideFromEditors), as the proxy model does."""
        if self._filter.of_type(node) and node.GetID() not in self._nodeObservers:
            tag = node.AddObserver(vtk.vtkCommand.ModifiedEvent, self._onNodeModified)
            self._nodeObservers[node.GetID()] = (node, tag)

    def _busy(self) -> bool:
        return bool(self._scene.IsClosing() or self._scene.IsImporting())

    def _alive(self) -> bool:
        """False once the C++ widget is deleted: then the scene observations end (they hold this object)."""
        if shiboken6.isValid(self):
            return True
        self._unobserveScene()
        return False

    def _onNodeAdded(self, scene: Any, event: Any, node: Any) -> None:
        if not self._alive():
            return
        self._watchNode(node)
        if not self._busy():
            self._update()

    _onNodeAdded.CallDataType = vtk.VTK_OBJECT

    def _onNodeRemoving(self, scene: Any, event: Any, node: Any) -> None:
        if not self._alive():
            return
        watched = self._nodeObservers.pop(node.GetID(), None)
        if watched is not None:
            node.RemoveObserver(watched[1])
        if not self._busy():
            self._update(leaving=node)

    _onNodeRemoving.CallDataType = vtk.VTK_OBJECT

    def _onSceneReset(self, scene: Any, event: Any) -> None:
        if not self._alive():
            return
        for node_id in [i for i, (node, _) in self._nodeObservers.items() if scene.GetNodeByID(i) is not node]:
            self._nodeObservers.pop(node_id)
        for index in range(scene.GetNumberOfNodes()):
            self._watchNode(scene.GetNthNode(index))
        self._update(reset=True)

    def _onNodeModified(self, node: Any, event: Any) -> None:
        if not self._alive():
            return
        listed = node.GetID() in self._items
        if listed != self._filter.accepts(node) and not self._busy():
            self._update()

    # -- selection -----------------------------------------------------------------------------------------------
    def sortFilterProxyModel(self) -> qMRMLSortFilterProxyModel:
        return self._proxyModel

    def currentNode(self) -> Any:
        if self._scene is None or self._current is None or self._current.startswith("\x00"):
            return None
        return self._scene.GetNodeByID(self._current)

    def _getCurrentNodeID(self) -> str:
        node = self.currentNode()
        return node.GetID() if node is not None else ""

    def setCurrentNodeID(self, nodeID: str | None) -> None:
        if self._scene is None:
            self._requested = nodeID or ""
            return
        before = self._lastNode
        if nodeID and nodeID in self._items:
            self._current = nodeID
        else:
            self._current = self._NONE if self._flags["noneEnabled"] else None
        self._emitIfChanged(before)

    currentNodeID = Property(str, _getCurrentNodeID, setCurrentNodeID)

    def setCurrentNode(self, node: Any) -> None:
        if isinstance(node, str):  # the deprecated setCurrentNode(const QString& nodeID)
            self.setCurrentNodeID(node)
            return
        self.setCurrentNodeID(node.GetID() if node is not None else "")

    def nodeCount(self) -> int:
        return len([item for item in self._items if not item.startswith("\x00")]) if self._scene else 0

    def nodeFromIndex(self, index: int) -> Any:
        listed = [item for item in self._items if not item.startswith("\x00")]
        return self._scene.GetNodeByID(listed[index]) if 0 <= index < len(listed) else None

    # -- filter and item properties -------------------------------------------------------------------------------
    nodeTypes = _filter_property("nodeTypes", "QStringList")
    hideChildNodeTypes = _filter_property("hideChildNodeTypes", "QStringList")
    showHidden = _filter_property("showHidden", bool)
    showChildNodeTypes = _filter_property("showChildNodeTypes", bool)
    noneEnabled = _flag_property("noneEnabled")
    addEnabled = _flag_property("addEnabled")
    removeEnabled = _flag_property("removeEnabled")
    editEnabled = _flag_property("editEnabled")
    renameEnabled = _flag_property("renameEnabled")


class qMRMLTableView(qt.QTableView):
    """Libs/MRML/Widgets/qMRMLTableView.h: a QTableView of a table node; ``setMRMLScene``, ``mrmlScene()``,
    ``setMRMLTableNode(node)``, ``mrmlTableNode()``. The table's cells are not shown (nothing is displayed)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = None
        self._tableNode = None

    def mrmlScene(self) -> Any:
        return self._scene

    def setMRMLScene(self, scene: Any) -> None:
        self._scene = scene

    def mrmlTableNode(self) -> Any:
        return self._tableNode

    def setMRMLTableNode(self, node: Any) -> None:
        self._tableNode = node


class qSlicerMarkupsPlaceWidget(qSlicerWidget):
    """Modules/Loadable/Markups/Widgets/qSlicerMarkupsPlaceWidget.h: the buttons that place a markups node's points.

    ``setMRMLScene`` (takes the scene's selection and interaction singletons), ``setCurrentNode`` /
    ``currentNode()``, and ``placeModeEnabled`` / ``currentNodeActive`` / ``placeModePersistency``, which work on
    those nodes and the Markups module logic (``slicer.app.moduleLogic("Markups")``) as the C++ widget does:
    enabling place mode makes the node the active list and sets the interaction mode to Place.
    The buttons of its .ui (Resources/UI/qSlicerMarkupsPlaceWidget.ui): ``placeButton()``, a checkable tool button
    whose ``toggled`` sets place mode and which ``updateWidget`` checks while the node is placed (so it unchecks when
    a single point is placed and the interaction mode returns to ViewTransform), enabled while the node takes
    points; ``deleteButton()``, which deletes the last point (unsets it when the node has a fixed number of points),
    enabled while there is one; the colour and "more" buttons (bare). ``buttonsVisible`` shows or hides them all.
    The widget follows the interaction, selection and current nodes (ModifiedEvent, PointAdded/RemovedEvent) and
    emits ``activeMarkupsPlaceModeChanged(bool)`` when its place mode changes, as ``updateWidget()`` does.
    """

    activeMarkupsPlaceModeChanged = Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        import slicer  # the installed module (the application), as the C++ widget asks its module logic

        self._markupsLogic = slicer.app.moduleLogic("Markups")
        self._currentNode = None
        self._selectionNode = None
        self._interactionNode = None
        self._observations: list[tuple[Any, int]] = []
        self._lastSignaledPlaceMode = False
        # the C++ widget's qvtk connections end with it: the observers go when it is destroyed (no self captured)
        self.destroyed.connect(lambda _object=None, observations=self._observations: _remove_observers(observations))
        layout = qt.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._buttons = {}
        for name, tip in (
            ("ColorButton", "Select the display color."),
            ("PlaceButton", "Place a control point"),
            ("DeleteButton", "Delete last added control point"),
            ("MoreButton", "Click for more options"),
        ):
            button = ctkColorPickerButton(self) if name == "ColorButton" else qt.QToolButton(self)
            button.setObjectName(name)
            button.setToolTip(tip)
            layout.addWidget(button)
            self._buttons[name] = button
        self._buttons["PlaceButton"].setCheckable(True)
        self._buttons["PlaceButton"].toggled.connect(self.setPlaceModeEnabled)
        self._buttons["DeleteButton"].clicked.connect(self.modifyLastPoint)
        self.updateWidget()

    def setMRMLScene(self, scene: Any) -> None:
        super().setMRMLScene(scene)
        logicScene = self._markupsLogic.GetMRMLScene() if self._markupsLogic is not None else None
        self._selectionNode = logicScene.GetNodeByID("vtkMRMLSelectionNodeSingleton") if logicScene else None
        self._interactionNode = logicScene.GetNodeByID("vtkMRMLInteractionNodeSingleton") if logicScene else None
        self._observe()

    def currentNode(self) -> Any:
        return self._currentNode

    def setCurrentNode(self, node: Any) -> None:
        self._currentNode = node if isinstance(node, slicer_core.vtkMRMLMarkupsNode) else None
        self._observe()

    def selectionNode(self) -> Any:
        return self._selectionNode

    def interactionNode(self) -> Any:
        return self._interactionNode

    def placeButton(self) -> Any:
        return self._buttons["PlaceButton"]

    def deleteButton(self) -> Any:
        return self._buttons["DeleteButton"]

    def _observe(self) -> None:
        """qvtkReconnect of the interaction, selection and current nodes' events to updateWidget()."""
        _remove_observers(self._observations)
        widget = weakref.ref(self)

        def update(_caller: Any, _event: Any) -> None:
            alive = widget()
            if alive is not None and shiboken6.isValid(alive):
                alive.updateWidget()

        events = {
            self._interactionNode: (vtk.vtkCommand.ModifiedEvent,),
            self._selectionNode: (vtk.vtkCommand.ModifiedEvent,),
            self._currentNode: (
                vtk.vtkCommand.ModifiedEvent,
                slicer_core.vtkMRMLMarkupsNode.PointAddedEvent,
                slicer_core.vtkMRMLMarkupsNode.PointRemovedEvent,
            ),
        }
        for node, node_events in events.items():
            for event in node_events if node is not None else ():
                self._observations.append((node, node.AddObserver(event, update)))
        self.updateWidget()

    def updateWidget(self) -> None:
        """The buttons follow the nodes (qSlicerMarkupsPlaceWidget::updateWidget)."""
        node = self._currentNode
        ready = self._ready()
        for name in ("ColorButton", "MoreButton"):
            self._buttons[name].setEnabled(ready)
        self._buttons["PlaceButton"].setEnabled(ready and not node.GetControlPointPlacementComplete())
        self._buttons["DeleteButton"].setEnabled(ready and node.GetNumberOfControlPoints() > 0)
        placing = self._getPlaceModeEnabled()
        if ready:
            self._buttons["PlaceButton"].setChecked(placing)
        if placing != self._lastSignaledPlaceMode:
            self._lastSignaledPlaceMode = placing
            self.activeMarkupsPlaceModeChanged.emit(placing)

    def _ready(self) -> bool:
        return None not in (self._markupsLogic, self.mrmlScene(), self._interactionNode, self._currentNode)

    def _getCurrentNodeActive(self) -> bool:
        if not self._ready() or self._selectionNode is None:
            return False
        active = self._markupsLogic.GetActiveListID() == self._currentNode.GetID()
        return active and self._selectionNode.GetActivePlaceNodeClassName() == self._currentNode.GetClassName()

    def setCurrentNodeActive(self, active: bool) -> None:
        if self._markupsLogic is None or self.mrmlScene() is None or self._interactionNode is None:
            return
        if self._getCurrentNodeActive() != active:
            if active:
                self._markupsLogic.SetActiveList(self._currentNode)
            else:
                self._markupsLogic.SetActiveList(None)
                self._interactionNode.SetCurrentInteractionMode(self._interactionNode.ViewTransform)

    currentNodeActive = Property(bool, _getCurrentNodeActive, setCurrentNodeActive)

    def _getPlaceModeEnabled(self) -> bool:
        if not self._getCurrentNodeActive():
            return False
        return self._interactionNode.GetCurrentInteractionMode() == self._interactionNode.Place

    def setPlaceModeEnabled(self, enable: bool) -> None:
        if not self._ready():
            return
        if enable:
            if not self._getCurrentNodeActive():
                self._markupsLogic.SetActiveList(self._currentNode)
            self._interactionNode.SetCurrentInteractionMode(self._interactionNode.Place)
        else:
            self._interactionNode.SetCurrentInteractionMode(self._interactionNode.ViewTransform)

    placeModeEnabled = Property(bool, _getPlaceModeEnabled, setPlaceModeEnabled)

    def _getPlaceModePersistency(self) -> bool:
        return bool(self._interactionNode is not None and self._interactionNode.GetPlaceModePersistence())

    def setPlaceModePersistency(self, persistent: bool) -> None:
        if self._interactionNode is not None:
            self._interactionNode.SetPlaceModePersistence(int(persistent))

    placeModePersistency = Property(bool, _getPlaceModePersistency, setPlaceModePersistency)

    def _getButtonsVisible(self) -> bool:
        return all(not button.isHidden() for button in self._buttons.values())

    def setButtonsVisible(self, visible: bool) -> None:
        for button in self._buttons.values():
            button.setVisible(visible)

    buttonsVisible = Property(bool, _getButtonsVisible, setButtonsVisible)

    def modifyLastPoint(self) -> None:
        """The Delete button: the last point is deleted, or unset when the node has a fixed number of points."""
        if self._currentNode is None:
            return
        if self._currentNode.GetFixedNumberOfControlPoints():
            self.unsetLastDefinedPoint()
        else:
            self.deleteLastPoint()

    def deleteLastPoint(self) -> None:
        if self._currentNode is not None and self._currentNode.GetNumberOfControlPoints() > 0:
            self._currentNode.RemoveNthControlPoint(self._currentNode.GetNumberOfControlPoints() - 1)

    def deleteAllPoints(self) -> None:
        if self._currentNode is not None:
            self._currentNode.RemoveAllControlPoints()

    def unsetLastDefinedPoint(self) -> None:
        node = self._currentNode
        for index in reversed(range(node.GetNumberOfControlPoints() if node is not None else 0)):
            if node.GetNthControlPointPositionStatus(index) == node.PositionDefined:
                node.UnsetNthControlPointPosition(index)
                return


def _remove_observers(observations: list[tuple[Any, int]]) -> None:
    for node, tag in observations:
        node.RemoveObserver(tag)
    observations.clear()


class qMRMLSliderWidget(ctkSliderWidget):
    """Libs/MRML/Widgets/qMRMLSliderWidget.h (a ctkSliderWidget): bare."""


class qMRMLSpinBox(ctkDoubleSpinBox):
    """Libs/MRML/Widgets/qMRMLSpinBox.h (a ctkDoubleSpinBox): bare."""


class qMRMLRangeWidget(ctkRangeWidget):
    """Libs/MRML/Widgets/qMRMLRangeWidget.h (a ctkRangeWidget): bare."""


STANDINS = (
    qMRMLWidget,
    qSlicerWidget,
    qMRMLNodeComboBox,
    qMRMLTableView,
    qSlicerMarkupsPlaceWidget,
    qMRMLSliderWidget,
    qMRMLSpinBox,
    qMRMLRangeWidget,
    qMRMLSortFilterProxyModel,
)
"""The classes put into the ``slicer`` module."""

for _cls in STANDINS:
    _cls.__module__ = "slicer"
