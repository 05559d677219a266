"""The Slicer test harness (Testing/slicer_harness): PySide6 with PythonQt's idioms, CTK and qMRML stand-ins,
slicer.app, and Slicer 5.12.3's own Python layer (slicer.util, parameterNodeWrapper, ScriptedLoadableModule)
working together on a real slicer-core scene."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
import textwrap
import time
import types
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Annotated

import pytest

pytest.importorskip("PySide6", reason="PySide6 (pip install PySide6-Essentials) is the Qt of the Slicer harness")
slicer_core = pytest.importorskip("slicer_core", reason="slicer-core (pip install slicer-core) provides the MRML")

import slicer_harness  # noqa: E402

if not (slicer_harness.slicer_python_dir() / "slicer" / "util.py").is_file():
    pytest.skip(
        f"Slicer 5.12.3's Python layer is not at {slicer_harness.slicer_python_dir()} (set "
        f"{slicer_harness.ENVIRONMENT_VARIABLE})",
        allow_module_level=True,
    )

slicer = slicer_harness.install()

import ctk  # noqa: E402
import qt  # noqa: E402
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODULE_UI = ROOT / "Resources" / "UI" / "GmmSegModule.ui"


@pytest.fixture
def scene():
    """The application's scene, emptied before and after (its singletons stay, as after File / Close scene)."""
    slicer.mrmlScene.Clear()
    yield slicer.mrmlScene
    slicer.mrmlScene.Clear()


def _expected_class(class_name: str) -> type:
    for module in (ctk, slicer):
        if isinstance(getattr(module, class_name, None), type):
            return getattr(module, class_name)
    return getattr(qt, class_name)


def _ui_widgets(path: Path) -> list[ElementTree.Element]:
    return [w for w in ElementTree.parse(path).getroot().iter("widget") if w.get("name")]


def _ui_value(prop: ElementTree.Element, cls: type):
    """A .ui property value as Python sees it on the widget."""
    value = next(iter(prop))
    if value.tag == "double":
        return float(value.text)
    if value.tag == "number":
        return int(value.text)
    if value.tag == "bool":
        return value.text == "true"
    if value.tag == "string":
        return value.text or ""
    if value.tag == "stringlist":
        return [s.text for s in value.findall("string")]
    if value.tag in ("set", "enum"):
        result = 0
        for token in value.text.split("|"):
            result |= getattr(cls, token.rpartition("::")[2])
        return result
    raise ValueError(value.tag)


# -- the module's .ui through Slicer's own loadUI -----------------------------------------------------------------
def test_load_ui_builds_every_named_widget_of_the_module_ui_with_its_class():
    ui_widget = slicer.util.loadUI(str(MODULE_UI))
    ui = slicer.util.childWidgetVariables(ui_widget)
    elements = _ui_widgets(MODULE_UI)
    assert len(elements) > 30
    for element in elements:
        widget = getattr(ui, element.get("name"))
        assert type(widget) is _expected_class(element.get("class")), element.get("name")
        assert type(widget).__name__ == element.get("class")
        for prop in element.findall("property"):
            if prop.get("stdset") == "0":  # dynamic properties, such as SlicerParameterName
                assert widget.property(prop.get("name")) == _ui_value(prop, type(widget)), element.get("name")
            elif type(widget).__module__ in ("ctk", "slicer") and next(iter(prop)).tag != "enum":
                assert getattr(widget, prop.get("name")) == pytest.approx(_ui_value(prop, type(widget))), (
                    element.get("name"),
                    prop.get("name"),
                )
    assert ui.modelPathLineEdit.filters == ctk.ctkPathLineEdit.Files
    assert ui.priorCollapsibleButton.collapsed and not ui.priorCollapsibleButton.checked


def test_ui_connections_give_the_child_qmrml_widgets_the_scene():
    connections = ElementTree.parse(MODULE_UI).getroot().find("connections").findall("connection")
    receivers = {c.findtext("receiver") for c in connections if c.findtext("signal").startswith("mrmlSceneChanged")}
    ui_widget = slicer.util.loadUI(str(MODULE_UI))
    ui = slicer.util.childWidgetVariables(ui_widget)
    combos = [w for w in vars(ui).values() if type(w) is slicer.qMRMLNodeComboBox]
    assert combos and {w.name for w in combos} <= receivers
    for name in receivers:
        assert getattr(ui, name).mrmlScene() is None
    assert not any(combo.enabled for combo in combos)  # disabled until they have a scene, as the real one

    ui_widget.setMRMLScene(slicer.mrmlScene)

    for name in receivers:
        assert getattr(ui, name).mrmlScene() is slicer.mrmlScene, name
    assert all(combo.enabled for combo in combos)


def test_a_ui_naming_a_class_without_stand_in_is_an_error(tmp_path):
    path = tmp_path / "unknown.ui"
    path.write_text(
        '<ui version="4.0"><widget class="qMRMLWidget" name="top"><layout class="QVBoxLayout"><item>'
        '<widget class="qMRMLVolumeThresholdWidget" name="threshold"/></item></layout></widget></ui>'
    )
    with pytest.raises(LookupError, match="qMRMLVolumeThresholdWidget"):
        slicer.util.loadUI(str(path))


# -- Slicer's own parameterNodeWrapper bound to the stand-ins ----------------------------------------------------
BINDING_UI = """<?xml version="1.0"?>
<ui version="4.0">
 <widget class="qMRMLWidget" name="top">
  <layout class="QVBoxLayout">
   <item><widget class="qMRMLNodeComboBox" name="inputSelector">
    <property name="noneEnabled"><bool>true</bool></property>
    <property name="SlicerParameterName" stdset="0"><string>inputNode</string></property></widget></item>
   <item><widget class="qMRMLNodeComboBox" name="pointsSelector">
    <property name="nodeTypes"><stringlist><string>vtkMRMLMarkupsFiducialNode</string></stringlist></property>
    <property name="noneEnabled"><bool>true</bool></property>
    <property name="SlicerParameterName" stdset="0"><string>points</string></property></widget></item>
   <item><widget class="QComboBox" name="choiceComboBox">
    <property name="SlicerParameterName" stdset="0"><string>choice</string></property></widget></item>
   <item><widget class="ctkSliderWidget" name="opacitySlider">
    <property name="singleStep"><double>0.05</double></property>
    <property name="SlicerParameterName" stdset="0"><string>opacity</string></property></widget></item>
   <item><widget class="QCheckBox" name="flagCheckBox">
    <property name="SlicerParameterName" stdset="0"><string>flag</string></property></widget></item>
   <item><widget class="ctkPathLineEdit" name="modelPathLineEdit">
    <property name="filters"><set>ctkPathLineEdit::Files</set></property>
    <property name="SlicerParameterName" stdset="0"><string>model</string></property></widget></item>
   <item><widget class="ctkDirectoryButton" name="folderButton">
    <property name="SlicerParameterName" stdset="0"><string>folder</string></property></widget></item>
  </layout>
 </widget>
 <connections>
  <connection><sender>top</sender><signal>mrmlSceneChanged(vtkMRMLScene*)</signal>
   <receiver>inputSelector</receiver><slot>setMRMLScene(vtkMRMLScene*)</slot></connection>
  <connection><sender>top</sender><signal>mrmlSceneChanged(vtkMRMLScene*)</signal>
   <receiver>pointsSelector</receiver><slot>setMRMLScene(vtkMRMLScene*)</slot></connection>
 </connections>
</ui>
"""


@parameterNodeWrapper
class _BindingParameters:
    # a Union of node types needs None in it: without, Slicer's serializer cannot write the default (None)
    inputNode: slicer.vtkMRMLScalarVolumeNode | slicer.vtkMRMLSequenceBrowserNode | None
    points: slicer.vtkMRMLMarkupsFiducialNode
    choice: Annotated[str, Choice(["first", "second", "third"])] = "first"
    opacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    flag: bool = False
    model: pathlib.Path = pathlib.Path("model.pt")
    folder: pathlib.Path = pathlib.Path(".")


def test_parameter_node_wrapper_round_trips_through_the_widgets(scene, tmp_path):
    path = tmp_path / "binding.ui"
    path.write_text(BINDING_UI)
    ui_widget = slicer.util.loadUI(str(path))
    ui = slicer.util.childWidgetVariables(ui_widget)
    ui_widget.setMRMLScene(scene)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "volume")
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", "cine")
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "clicks")
    parameters = _BindingParameters(scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "parameters"))
    tag = parameters.connectGui(ui_widget)

    # the connectors set up the widgets from the field types
    assert ui.inputSelector.nodeTypes == ["vtkMRMLScalarVolumeNode", "vtkMRMLSequenceBrowserNode"]
    assert [ui.choiceComboBox.itemText(i) for i in range(ui.choiceComboBox.count)] == ["first", "second", "third"]
    assert (ui.opacitySlider.minimum, ui.opacitySlider.maximum) == (0.0, 1.0)
    # ... and show the defaults
    assert ui.choiceComboBox.currentText == "first" and ui.opacitySlider.value == 0.5
    assert ui.modelPathLineEdit.currentPath == "model.pt" and ui.inputSelector.currentNode() is None

    # parameter -> widget
    parameters.inputNode = browser
    parameters.points = points
    parameters.choice = "third"
    parameters.opacity = 0.25
    parameters.flag = True
    parameters.model = tmp_path / "adapted.pt"
    parameters.folder = tmp_path
    assert ui.inputSelector.currentNode() is browser and ui.pointsSelector.currentNode() is points
    assert ui.choiceComboBox.currentIndex == 2
    assert ui.opacitySlider.value == 0.25
    assert ui.flagCheckBox.checked is True
    assert ui.modelPathLineEdit.currentPath == str(tmp_path / "adapted.pt")
    assert ui.folderButton.directory == str(tmp_path)

    # widget -> parameter
    ui.inputSelector.setCurrentNode(volume)
    ui.choiceComboBox.currentIndex = 1
    ui.opacitySlider.value = 0.75
    ui.flagCheckBox.checked = False
    ui.modelPathLineEdit.currentPath = str(tmp_path / "other.pt")
    (tmp_path / "export").mkdir()
    ui.folderButton.directory = str(tmp_path / "export")
    assert parameters.inputNode is volume
    assert parameters.choice == "second"
    assert parameters.opacity == 0.75
    assert parameters.flag is False
    assert parameters.model == tmp_path / "other.pt"
    assert parameters.folder == tmp_path / "export"

    # a node the combo box drops (removed from the scene) reaches the parameter node through the widget
    scene.RemoveNode(volume)
    assert ui.inputSelector.currentNode() is browser and parameters.inputNode is browser

    parameters.disconnectGui(tag)
    ui.opacitySlider.value = 0.1
    assert parameters.opacity == 0.75


# -- qMRMLNodeComboBox follows the scene --------------------------------------------------------------------------
def _volume_combo(scene, none_enabled: bool) -> tuple[slicer.qMRMLNodeComboBox, list]:
    combo = slicer.qMRMLNodeComboBox()
    combo.nodeTypes = ["vtkMRMLScalarVolumeNode"]
    combo.hideChildNodeTypes = ["vtkMRMLLabelMapVolumeNode"]
    combo.noneEnabled = none_enabled
    combo.addEnabled = False
    combo.removeEnabled = False
    changes: list = []
    assert combo.connect("currentNodeChanged(vtkMRMLNode*)", changes.append)
    combo.setMRMLScene(scene)
    return combo, changes


def test_node_combo_box_lists_the_matching_nodes_and_selects_the_first(scene):
    combo, changes = _volume_combo(scene, none_enabled=False)
    assert combo.currentNode() is None and combo.nodeCount() == 0

    first = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "first")
    assert combo.currentNode() is first and changes == [first]  # the first item of an empty list is selected
    scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    hidden = slicer.vtkMRMLScalarVolumeNode()
    hidden.SetHideFromEditors(True)
    scene.AddNode(hidden)
    second = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "second")
    assert [combo.nodeFromIndex(i) for i in range(combo.nodeCount())] == [first, second]
    assert combo.currentNode() is first and changes == [first]
    assert combo.currentNodeID == first.GetID()

    later, later_changes = _volume_combo(scene, none_enabled=False)  # nodes exist when it gets the scene
    assert later.currentNode() is first and later_changes == []  # selected while switching scenes: no signal


def test_node_combo_box_with_action_items_selects_nothing_by_itself(scene):
    combo = slicer.qMRMLNodeComboBox()  # addEnabled and removeEnabled true: the list has its action items
    combo.nodeTypes = ["vtkMRMLScalarVolumeNode"]
    combo.setMRMLScene(scene)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "volume")
    assert combo.nodeCount() == 1 and combo.currentNode() is None
    combo.setCurrentNode(volume)
    assert combo.currentNodeID == volume.GetID()


def test_node_combo_box_follows_removal_and_scene_close(scene):
    combo, changes = _volume_combo(scene, none_enabled=False)
    first = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "first")
    second = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "second")
    scene.RemoveNode(first)
    assert combo.currentNode() is second and changes[-1] is second  # the row now at the same place
    scene.RemoveNode(second)
    assert combo.currentNode() is None and changes[-1] is None

    third = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "third")
    assert combo.currentNode() is third
    scene.Clear()
    assert combo.currentNode() is None and changes[-1] is None and combo.nodeCount() == 0


def test_node_combo_box_with_none_enabled(scene):
    combo, changes = _volume_combo(scene, none_enabled=True)
    a = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "a")
    b = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "b")
    assert combo.currentNode() is None and changes == []  # "None" is there: nothing is selected by itself
    combo.setCurrentNode(a)
    assert changes == [a]
    scene.RemoveNode(a)  # Qt's QComboBox takes the item now at the removed row: b, not "None"
    assert combo.currentNode() is b and changes[-1] is b
    b.SetHideFromEditors(True)  # no longer listed: the row goes, "None" is what remains
    assert combo.currentNode() is None and changes[-1] is None and combo.nodeCount() == 0
    b.SetHideFromEditors(False)
    combo.setCurrentNode(b)
    scene.Clear()
    assert combo.currentNode() is None and changes[-1] is None


# -- PythonQt's idioms ---------------------------------------------------------------------------------------------
def test_qt_properties_are_attributes_and_signals_connect_by_signature():
    label = qt.QLabel("first")
    assert label.text == "first"
    label.text = "second"
    assert label.text == "second"
    button = qt.QPushButton("Go")
    button.enabled = False
    button.toolTip = "a tip"
    button.name = "goButton"
    assert (button.enabled, button.toolTip, button.objectName) == (False, "a tip", "goButton")
    with pytest.raises(AttributeError, match="read-only"):
        button.width = 10
    assert isinstance(button.sizeHint(), qt.QSize)  # a virtual getter stays a method (Shiboken looks it up)
    checkbox = qt.QCheckBox()
    checkbox.checked = True
    assert checkbox.checked is True

    clicks, indexes, selections, ticks = [], [], [], []
    button.enabled = True
    assert button.connect("clicked(bool)", clicks.append)
    button.click()
    assert clicks == [False]
    assert button.disconnect("clicked(bool)", clicks.append)
    button.click()
    assert clicks == [False]

    combo = qt.QComboBox()
    combo.addItems(["a", "b", "c"])
    combo.connect("currentIndexChanged(int)", indexes.append)
    combo.currentIndex = 2
    assert indexes == [2] and combo.currentText == "c"

    table = qt.QTableWidget(3, 2)
    table.connect("itemSelectionChanged()", lambda: selections.append(table.currentRow()))
    table.selectRow(1)
    assert selections == [1]

    timer = qt.QTimer()
    timer.singleShot = True
    timer.interval = 5
    timer.connect("timeout()", lambda: ticks.append(1))
    timer.start()
    slicer_harness.wait_until(lambda: ticks, timeout=2.0)
    assert ticks == [1] and timer.singleShot is True
    qt.QTimer.singleShot(0, lambda: ticks.append(2))  # the static method, on the class
    slicer_harness.wait_until(lambda: len(ticks) == 2, timeout=2.0)


def test_the_qt_binding_keeps_pythons_counts_of_none_true_and_false():
    """PySide6 6.12.0 on Python 3.11 releases None once more than it took on every call of a void method, and True
    or False on every bool signal emitted to a Python slot: over the suite their counts run out and Python aborts,
    often at exit ("Fatal Python error: bool_dealloc" / "none_dealloc"). pyproject.toml keeps that release out where
    they are not immortal (before 3.12); this says so at once if such a binding is installed."""
    checkbox = qt.QCheckBox()
    seen = []
    checkbox.connect("toggled(bool)", seen.append)
    calls = 200
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(calls):
        checkbox.setChecked(not checkbox.isChecked())  # a void call that emits toggled(bool) to a Python slot
    seen.clear()
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    lost = {name: b - a for name, b, a in zip(("None", "True", "False"), before, after, strict=True)}
    import PySide6

    assert all(count < calls // 2 for count in lost.values()), (
        f"PySide6 {PySide6.__version__} releases references it does not hold: {lost} lost in {calls} calls"
    )


def test_adapter_classes_are_the_qt_classes_slicer_compares_against():
    assert type(qt.QComboBox()) is qt.QComboBox
    assert isinstance(qt.QLabel(), qt.QWidget) and issubclass(qt.QLabel, qt.QFrame)
    assert isinstance(ctk.ctkComboBox(), qt.QComboBox) and type(ctk.ctkComboBox()) is not qt.QComboBox
    panel = qt.QWidget()
    layout = qt.QVBoxLayout(panel)
    for widget in (qt.QLabel("x"), ctk.ctkSliderWidget(), slicer.qMRMLNodeComboBox()):
        layout.addWidget(widget)
    found = panel.findChildren(qt.QWidget)
    assert {type(w) for w in found} >= {qt.QLabel, ctk.ctkSliderWidget, slicer.qMRMLNodeComboBox}
    panel.show()
    assert panel.visible and slicer_harness.pump(0.05) < 1.0  # painted and laid out without trouble


# -- CTK and qSlicer stand-ins -----------------------------------------------------------------------------------
def test_collapsible_button_hides_its_contents_and_keeps_explicit_hides():
    button = ctk.ctkCollapsibleButton("Section")
    layout = qt.QVBoxLayout(button)
    shown, hidden = qt.QLabel("shown"), qt.QLabel("hidden")
    layout.addWidget(shown)
    layout.addWidget(hidden)
    hidden.visible = False
    collapsed = []
    button.contentsCollapsed.connect(collapsed.append)
    button.show()
    assert button.text == "Section" and shown.visible and not hidden.visible
    button.collapsed = True
    assert not shown.visible and button.checked is False and collapsed == [True]
    shown.show()  # asked for while collapsed: stays hidden until expanded
    assert not shown.visible
    button.checked = True
    assert button.collapsed is False and shown.visible and not hidden.visible and collapsed == [True, False]


def test_slider_path_and_directory_widgets_behave_as_ctk(tmp_path):
    slider = ctk.ctkSliderWidget()
    values = []
    slider.valueChanged.connect(values.append)
    slider.minimum, slider.maximum = 0.0, 1.0
    slider.value = 2.0
    slider.value = 0.1234
    assert values == [1.0, 0.12] and slider.decimals == 2
    slider.singleStep = 5.0  # larger than the range: refused, as ctkSliderWidget does
    assert slider.singleStep == 1.0

    path_edit = ctk.ctkPathLineEdit()
    path_edit.nameFilters = ["*.pt"]
    paths = []
    path_edit.connect("currentPathChanged(QString)", paths.append)
    path_edit.currentPath = str(tmp_path / "notes.txt")  # not a *.pt path: not signalled
    path_edit.currentPath = str(tmp_path / "model.pt")
    assert paths == [str(tmp_path / "model.pt")] and path_edit.currentPath == str(tmp_path / "model.pt")
    path_edit.currentPath = ""  # an emptied field is not acceptable input either (ctkPathLineEdit.cpp)
    assert paths == [str(tmp_path / "model.pt")]

    directory = ctk.ctkDirectoryButton()
    directories, selected = [], []
    directory.directoryChanged.connect(directories.append)
    directory.directorySelected.connect(selected.append)
    assert directory.directory == "." and directory.text == ""
    shown = directory.findChild(qt.QPushButton)
    assert shown.text == qt.QDir(".").absolutePath()  # what CTK's button shows before any folder is set
    assert not shown.icon.isNull()  # the folder icon
    directory.directory = shown.text  # the folder shown chosen: selected, but no change (and no parameter update)
    assert selected == [shown.text] and directories == [] and directory.directory == "."
    directory.directory = str(tmp_path)
    directory.directory = str(tmp_path)  # the same: not signalled again
    assert directories == [str(tmp_path)] and directory.directory == str(tmp_path) and shown.text == str(tmp_path)
    assert selected[1:] == [str(tmp_path)] * 2
    directory.text = "Export here"  # a text set is shown instead of the path
    assert shown.text == "Export here" and directory.directory == str(tmp_path)


def test_markups_place_widget_sets_place_mode_on_the_scene(scene):
    place = slicer.qSlicerMarkupsPlaceWidget()
    place.setMRMLScene(scene)
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "clicks")
    place.setCurrentNode(points)
    interaction = scene.GetNodeByID("vtkMRMLInteractionNodeSingleton")
    selection = scene.GetNodeByID("vtkMRMLSelectionNodeSingleton")
    assert place.currentNode() is points and place.placeModeEnabled is False
    place.placeModeEnabled = True
    assert interaction.GetCurrentInteractionMode() == interaction.Place
    assert selection.GetActivePlaceNodeID() == points.GetID() and place.placeModeEnabled is True
    place.placeModeEnabled = False
    assert interaction.GetCurrentInteractionMode() == interaction.ViewTransform


def test_markups_place_widget_buttons_place_one_point_in_a_view_and_delete_it(scene):
    from slicer_harness.views import click_in_view

    place = slicer.qSlicerMarkupsPlaceWidget()
    place.setMRMLScene(scene)
    assert not place.placeButton().enabled and not place.deleteButton().enabled  # no node yet
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "clicks")
    place.setCurrentNode(points)
    modes = []
    place.activeMarkupsPlaceModeChanged.connect(modes.append)
    assert place.placeButton().enabled and place.placeButton().checkable and not place.deleteButton().enabled
    assert click_in_view(scene, (1.0, 2.0, 3.0)) is None  # not in place mode: a click places nothing
    place.placeButton().click()
    assert place.placeModeEnabled and place.placeButton().checked and modes == [True]
    assert click_in_view(scene, (1.0, 2.0, 3.0)) == 0
    assert list(points.GetNthControlPointPosition(0)) == [1.0, 2.0, 3.0]
    assert not place.placeModeEnabled and not place.placeButton().checked and modes == [True, False]  # one time
    assert place.deleteButton().enabled
    place.placeModePersistency = True
    place.placeButton().click()
    click_in_view(scene, (4.0, 5.0, 6.0))
    assert place.placeModeEnabled and points.GetNumberOfControlPoints() == 2  # persistent: still placing
    place.placeButton().click()
    assert not place.placeModeEnabled
    place.deleteButton().click()
    assert points.GetNumberOfControlPoints() == 1 and list(points.GetNthControlPointPosition(0)) == [1.0, 2.0, 3.0]
    place.buttonsVisible = False
    assert not place.buttonsVisible and place.placeButton().isHidden()


# -- the application and its scene ---------------------------------------------------------------------------------
def test_scene_has_the_start_up_singletons_and_slicer_util_sets_the_slice_views(scene):
    for view, orientation in (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal")):
        assert scene.GetNodeByID(f"vtkMRMLSliceNode{view}").GetOrientation() == orientation
        assert scene.GetNodeByID(f"vtkMRMLSliceCompositeNode{view}").GetLayoutName() == view
    assert scene.GetNodeByID("vtkMRMLSelectionNodeSingleton") is not None
    assert scene.GetNodeByID("vtkMRMLInteractionNodeSingleton") is not None

    background = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "background")
    foreground = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "foreground")
    slicer.util.setSliceViewerLayers(background=background, foreground=foreground, foregroundOpacity=0.4)
    red = scene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetBackgroundVolumeID() == background.GetID() and red.GetForegroundVolumeID() == foreground.GetID()
    assert red.GetForegroundOpacity() == pytest.approx(0.4)

    slicer.vtkMRMLSliceNode.JumpAllSlices(scene, 10.0, 20.0, 30.0)
    positions = {
        view: [scene.GetNodeByID(f"vtkMRMLSliceNode{view}").GetSliceToRAS().GetElement(i, 3) for i in range(3)]
        for view in ("Red", "Yellow", "Green")
    }
    # each view moves along its own normal: axial along S, sagittal along R, coronal along A
    assert positions == {"Red": [0.0, 0.0, 30.0], "Yellow": [10.0, 0.0, 0.0], "Green": [0.0, 20.0, 0.0]}
    slicer.modules.markups.logic().JumpSlicesToLocation(1.0, 2.0, 3.0, True)
    assert scene.GetNodeByID("vtkMRMLSliceNodeRed").GetSliceToRAS().GetElement(2, 3) == pytest.approx(3.0)


def test_slicer_util_saves_and_loads_a_scene_through_the_storage_nodes(scene, tmp_path):
    """slicer.util.saveScene / loadScene reach the application's IO manager: a bundle (.mrb) or a folder is written
    by each node's storage node and read back by it, firing the import events a module observes."""
    import numpy as np

    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "stack")
    voxels = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    slicer.util.updateVolumeFromArray(volume, voxels)
    volume.SetAttribute("note", "kept")
    slicer.util.saveScene(str(tmp_path / "scene.mrb"))
    slicer.util.saveScene(str(tmp_path / "folder"))
    assert (tmp_path / "scene.mrb").stat().st_size > 0 and (tmp_path / "folder" / "folder.mrml").is_file()
    imported = []
    tag = scene.AddObserver(scene.EndImportEvent, lambda *_: imported.append(True))
    for opened in (tmp_path / "scene.mrb", tmp_path / "folder" / "folder.mrml"):
        scene.Clear(0)
        imported.clear()
        slicer.util.loadScene(str(opened))
        back = scene.GetFirstNodeByName("stack")
        assert imported and back.GetAttribute("note") == "kept"
        assert np.array_equal(slicer.util.arrayFromVolume(back), voxels)
    scene.RemoveObserver(tag)


def test_application_testing_mode_settings_and_version(caplog):
    assert slicer.app.testingEnabled() and slicer.app.commandOptions().noMainWindow
    assert slicer.util.mainWindow() is None and slicer.app.layoutManager() is None
    with caplog.at_level(logging.INFO):
        slicer.util.errorDisplay("first problem")
    assert ("root", logging.ERROR, "first problem") in caplog.record_tuples
    # Slicer 5.12.3's confirmOkCancelDisplay returns `True == qt.QMessageBox.Ok` in testing mode: False
    assert slicer.util.confirmOkCancelDisplay("Proceed?") is False
    slicer.app.setTestingEnabled(False)
    try:
        with caplog.at_level(logging.INFO):
            assert slicer.util.errorDisplay("second problem") is None  # no main window: logged only
        assert ("root", logging.ERROR, "second problem") in caplog.record_tuples
    finally:
        slicer.app.setTestingEnabled(True)

    with slicer.util.tryWithErrorDisplay("never shown", waitCursor=True):
        assert qt.QApplication.overrideCursor() is not None
    assert qt.QApplication.overrideCursor() is None

    settings = slicer.app.userSettings()
    settings.setValue("Harness/Answer", 42)
    assert Path(settings.fileName()).is_relative_to(slicer.app.settingsFolder())
    assert qt.QSettings().fileName() == settings.fileName()
    assert not slicer.util.settingsValue("Developer/DeveloperMode", False, converter=slicer.util.toBool)

    assert (slicer.app.majorVersion, slicer.app.minorVersion, slicer.app.mainApplicationPatchVersion) == (5, 12, 3)
    slicer.app.setVersion(5, 8, 1)
    try:
        assert (slicer.app.majorVersion, slicer.app.minorVersion, slicer.app.applicationVersion) == (5, 8, "5.8.1")
    finally:
        slicer.app.setVersion(5, 12, 3)
    assert slicer.app.applicationName == "Slicer"
    assert slicer.app.moduleManager().module("Markups") is slicer.modules.markups
    assert slicer.modules.markups.logic() is slicer.app.moduleLogic("Markups")


def test_message_boxes_outside_testing_mode_show_their_text_and_return_the_button_pressed():
    from slicer_harness import answering, from_event_loop

    slicer.app.setTestingEnabled(False)
    slicer.app.setMainWindowEnabled(True)
    try:
        assert slicer.util.mainWindow() is slicer.app.mainWindow() and not slicer.app.commandOptions().noMainWindow
        with answering("Cancel", "Ok", "Yes", "No", "Ok") as seen:
            answers = from_event_loop(
                lambda: [
                    slicer.util.confirmOkCancelDisplay("Proceed?"),
                    slicer.util.confirmOkCancelDisplay("Proceed?"),
                    slicer.util.confirmYesNoDisplay("Keep?"),
                    slicer.util.confirmYesNoDisplay("Keep?"),
                    slicer.util.errorDisplay("It broke.", detailedText="the details"),
                ]
            )
        assert answers == [False, True, True, False, None]
        assert [(d.text, d.buttons, d.answer) for d in seen[:4]] == [
            ("Proceed?", ("Ok", "Cancel"), "Cancel"),
            ("Proceed?", ("Ok", "Cancel"), "Ok"),
            ("Keep?", ("Yes", "No"), "Yes"),
            ("Keep?", ("Yes", "No"), "No"),
        ]
        assert (seen[4].text, seen[4].detailed_text) == ("It broke.", "the details")
        assert seen[4].icon == qt.QMessageBox.Critical
        with pytest.raises(AssertionError, match="unexpected message boxes"):  # closed, and the test told
            with answering():
                from_event_loop(lambda: slicer.util.warningDisplay("Careful.", windowTitle="Note"))
    finally:
        slicer.app.setMainWindowEnabled(False)
        slicer.app.setTestingEnabled(True)
    assert slicer.util.mainWindow() is None and slicer.app.commandOptions().noMainWindow


def test_install_is_idempotent_and_replaces_slicer_cores_own_slicer_package(monkeypatch, tmp_path):
    assert (
        slicer_harness.slicer_python_dir() == ROOT.parent / "shared" / "slicer-5.12.3-python"
        or slicer_harness.ENVIRONMENT_VARIABLE in os.environ
    )
    with monkeypatch.context() as patch:
        patch.setenv(slicer_harness.ENVIRONMENT_VARIABLE, str(tmp_path))
        assert slicer_harness.slicer_python_dir() == tmp_path
        with pytest.raises(FileNotFoundError, match=slicer_harness.ENVIRONMENT_VARIABLE):
            slicer_harness.install()
    assert slicer_harness.install() is slicer
    saved = {k: v for k, v in sys.modules.items() if k == "slicer" or k.startswith("slicer.")}
    sys.modules["slicer"] = types.ModuleType("slicer")  # as if slicer-core's meta package had been imported
    sys.modules["slicer.util"] = types.ModuleType("slicer.util")
    try:
        assert slicer_harness.install() is slicer
        assert sys.modules["slicer"] is slicer and sys.modules["slicer.util"] is slicer.util
    finally:
        sys.modules.update(saved)
    folder = slicer_harness.slicer_python_dir() / "slicer"
    for name in ("util", "i18n", "parameterNodeWrapper", "ScriptedLoadableModule"):
        assert Path(sys.modules[f"slicer.{name}"].__file__).resolve().is_relative_to(folder.resolve())
    assert slicer.vtkMRMLScene is slicer_core.vtkMRMLScene


@pytest.mark.slow
def test_the_harness_imports_no_torch():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import slicer_harness; slicer_harness.install(); "
        "import slicer.util, slicer.parameterNodeWrapper, slicer.ScriptedLoadableModule; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "Testing")], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-2000:]


# -- scripted modules: load, show, reload ------------------------------------------------------------------------
TINY_MODULE = """
import qt
import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleWidget

GENERATION = {generation}


class TinyHarnessModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Tiny"
        self.parent.categories = ["Testing"]
        self.events = []


class TinyHarnessModuleWidget(ScriptedLoadableModuleWidget):
    def _record(self, what):
        slicer.modules.TinyHarnessModuleInstance.events.append((what, GENERATION, id(self)))

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        self.label = qt.QLabel(f"generation {{GENERATION}}")
        self.layout.addWidget(self.label)
        self._record("setup")

    def enter(self):
        self._record("enter")

    def exit(self):
        self._record("exit")

    def cleanup(self):
        self._record("cleanup")
"""


def test_load_module_and_reload_scripted_module_call_setup_and_cleanup(tmp_path):
    path = tmp_path / "TinyHarnessModule.py"
    path.write_text(textwrap.dedent(TINY_MODULE.format(generation=1)))
    loaded = slicer_harness.load_module(path)
    instance, first = loaded.instance, loaded.widget
    assert slicer.modules.tinyharnessmodule is loaded.module and slicer.moduleNames.TinyHarnessModule
    assert slicer.modules.TinyHarnessModuleWidget is first and loaded.module.title == "Tiny"
    assert loaded.module.path == str(path) and loaded.module.categories == ["Testing"]
    assert slicer.util.getModuleWidget("TinyHarnessModule") is first
    assert [e[:2] for e in instance.events] == [("setup", 1), ("enter", 1)] and loaded.panel.isEntered

    path.write_text(textwrap.dedent(TINY_MODULE.format(generation=2)))
    slicer.util.reloadScriptedModule("TinyHarnessModule")
    second = loaded.widget
    assert second is not first and slicer.modules.TinyHarnessModuleWidget is second
    assert instance.events[2:] == [("cleanup", 1, id(first)), ("setup", 2, id(second))]
    slicer_harness.pump(0.01)  # a widget added to a shown panel is shown by a queued call
    assert first.label.isHidden() and second.label.text == "generation 2" and second.label.visible

    loaded.exit()
    slicer.app.moduleManager().moduleAboutToBeUnloaded.emit("TinyHarnessModule")  # as on application exit
    assert instance.events[4:] == [("exit", 2, id(second)), ("cleanup", 2, id(second))]


STARTUP_MODULES = {  # file name: what the module does at import, in __init__ or in setup()
    "AardvarkFields": "FIELD = slicer.vtkMRMLSequenceBrowserNode  # a Sequences module class, before Annotations",
    "ZebraFields": "FIELD = slicer.vtkMRMLSequenceBrowserNode  # the same, after Annotations\n"
    'SETUP = \'assert not hasattr(slicer.modules, "zebrafields"), "set before setup()"\'',
    "TouchesModulesAtImport": "LOGIC = slicer.modules.markups.logic()",
    "AsksInInit": "INIT = 'slicer.app.layoutManager(); slicer.app.moduleLogic(\"Markups\")'",
    "BadSetupAsksTerminologies": "SETUP = 'slicer.app.moduleLogic(\"Terminologies\")'",
    "DependsOnTerminologies": "SETUP = 'slicer.app.moduleLogic(\"Terminologies\")'\nDEPENDENCIES = ['Terminologies']",
    "UntitledModule": "TITLE = ''",
}
STARTUP_MODULE = """
import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule

INIT = SETUP = ''
DEPENDENCIES = []
TITLE = 'Start-up test'
{code}


class {name}(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = TITLE
        self.parent.dependencies = DEPENDENCIES
        exec(INIT)

    def setup(self):
        exec(SETUP)
"""


@pytest.mark.slow
def test_start_application_imports_modules_where_slicer_does_and_notes_what_they_ask_too_early(tmp_path):
    """A fresh application started with scripted modules: each is imported and made in name order before any module
    is loaded and before the main window exists (so slicer.modules.<name> is missing and the layout manager and
    module logics are None), with the loadable modules' classes only from Annotations on; setup() runs at loading,
    after the modules it depends on and before slicer.modules.<name> is set."""
    for name, code in STARTUP_MODULES.items():
        (tmp_path / f"{name}.py").write_text(STARTUP_MODULE.format(name=name, code=code))
    started = subprocess.run(
        [sys.executable, "-m", "slicer_harness.startup", *sorted(str(p) for p in tmp_path.glob("*.py"))],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT / "Testing",
    )
    assert started.returncode == 0, started.stderr[-3000:]
    record = json.loads(started.stdout.splitlines()[-1])
    assert record["failed"] == {
        "AardvarkFields": "AttributeError: module 'slicer' has no attribute 'vtkMRMLSequenceBrowserNode'",
        "TouchesModulesAtImport": "AttributeError: module 'modules' has no attribute 'markups'",
        "UntitledModule": "RuntimeError: Failed to retrieve module title corresponding to module name: UntitledModule",
    }
    assert record["instantiated"] == [
        "AsksInInit",
        "BadSetupAsksTerminologies",
        "DependsOnTerminologies",
        "Markups",
        "Sequences",
        "Terminologies",
        "UntitledModule",
        "ZebraFields",
    ]
    assert record["loaded"] == [
        "AsksInInit",
        "BadSetupAsksTerminologies",
        "Terminologies",
        "DependsOnTerminologies",
        "Markups",
        "Sequences",
        "ZebraFields",
    ]
    assert record["early"] == [
        "AsksInInit: layoutManager()",
        "AsksInInit: moduleLogic('Markups')",
        "BadSetupAsksTerminologies: moduleLogic('Terminologies')",
    ]


def test_start_application_refuses_a_process_where_the_harness_runs_already():
    with pytest.raises(RuntimeError, match="fresh process"):
        slicer_harness.start_application([])


def test_slicer_release_510_gives_its_launch_signature_version_and_translate_and_puts_5123_back(monkeypatch):
    """5.10.0's launchConsoleProcess(args, useStartupEnvironment, updateEnvironment, cwd) returns the process (no
    non-blocking mode); its translate() needs slicer.app (5.12.3's falls back to the text)."""
    import inspect

    from slicer_harness.releases import slicer_release

    launch, translate = slicer.util.launchConsoleProcess, slicer.i18n.translate
    with slicer_release("5.10.0"):
        assert list(inspect.signature(slicer.util.launchConsoleProcess).parameters) == [
            "args",
            "useStartupEnvironment",
            "updateEnvironment",
            "cwd",
        ]
        assert list(inspect.signature(slicer.util.logProcessOutput).parameters) == ["proc"]
        assert slicer.app.applicationVersion == "5.10.0" and slicer.app.minorVersion == 10
        process = slicer.util.launchConsoleProcess([sys.executable, "-c", "print('five ten')"])
        assert process.stdout.read().strip() == "five ten" and process.wait() == 0
        with monkeypatch.context() as without_app:
            without_app.delattr(slicer, "app")
            with pytest.raises(ImportError):
                slicer.i18n.tr("Segment")
    assert slicer.util.launchConsoleProcess is launch and slicer.i18n.translate is translate
    assert slicer.app.applicationVersion == "5.12.3"
    with monkeypatch.context() as without_app:
        without_app.delattr(slicer, "app")
        assert slicer.i18n.tr("Segment") == "Segment"


# -- the event pump ---------------------------------------------------------------------------------------------------
def test_slicer_util_runs_a_console_process_without_blocking_the_event_loop():
    lines, codes = [], []
    slicer.util.launchConsoleProcess(
        [sys.executable, "-c", "print('first'); print('second')"],
        blocking=False,
        logCallback=lines.append,
        completedCallback=codes.append,
    )
    blocked = slicer_harness.wait_until(lambda: codes, timeout=30.0)
    assert lines == ["first", "second"] and codes == [0] and blocked < 1.0
    environment = slicer.util.startupEnvironment()  # what the default useStartupEnvironment=True launches with
    assert environment.get("PATH") == os.environ.get("PATH")


def test_pump_runs_timers_and_measures_how_long_the_gui_thread_was_blocked():
    fired = []
    qt.QTimer.singleShot(20, lambda: fired.append(True))
    free = slicer_harness.pump(0.15)
    assert fired and free < 0.3
    qt.QTimer.singleShot(20, lambda: time.sleep(0.4))
    assert slicer_harness.pump(0.6) >= 0.4

    flag = []
    qt.QTimer.singleShot(30, lambda: flag.append(1))
    assert slicer_harness.wait_until(lambda: flag, timeout=2.0) < 0.3
    with pytest.raises(TimeoutError):
        slicer_harness.wait_until(lambda: False, timeout=0.05)

    def broken():
        raise ValueError("broken slot")

    qt.QTimer.singleShot(0, broken)
    with pytest.raises(RuntimeError, match="broken slot"):
        slicer_harness.pump(0.05)
