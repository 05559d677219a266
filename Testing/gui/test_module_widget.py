"""The module's panel driven along the clinician's path, in the Slicer harness (Testing/slicer_harness).

The widget is GmmSegModule.py's own, built from the real .ui and bound by Slicer 5.12.3's parameterNodeWrapper;
jobs run as separate processes through a launcher that, like PythonSlicer, runs the interpreter as its child;
their results come back by the route the GUI uses (files -> CaseResult.read -> the scene).
"""

from __future__ import annotations

import logging
import sys
import types

import numpy as np
import pytest
from launcher import alive
from panel_steps import (
    click_background_in_the_lv,
    model_with_click_refiner,
    panel_log,
    panel_state,
    place_with,
    review_brought_segmentation,
    review_row_shows_its_frame_and_slice,
    wait_for_job,
)

from conftest import MODULE_FILE, ROOT, PyTorchUtilsStandIn, requires_torch


@pytest.fixture
def at_the_screen(harness):
    """A clinician at the screen: testing mode off and a main window, so that Slicer's message functions show their
    boxes (slicer.util._messageDisplay) and a test answers them (slicer_harness.answering); testing mode after."""
    harness.app.setTestingEnabled(False)
    harness.app.setMainWindowEnabled(True)
    yield harness.app
    harness.app.setMainWindowEnabled(False)
    harness.app.setTestingEnabled(True)


def _torch_in_range(monkeypatch) -> None:
    """The PyTorch extension reports a torch within the product's range, also where this Python has none."""
    from GmmSegLib.gui import pytorch_install

    monkeypatch.setattr(PyTorchUtilsStandIn, "torchInstalled", staticmethod(lambda: True))
    monkeypatch.setattr(pytorch_install, "installed_torch_version", lambda: "2.5.1")


def _volume(harness, phantom, name="ED"):
    from GmmSegLib.mrml.inputs import add_volume_nodes

    return add_volume_nodes(harness.mrmlScene, phantom.image.frame_volume(0), name)


def _cine(harness, phantom, name="cine"):
    from GmmSegLib.mrml.inputs import add_volume_nodes

    return add_volume_nodes(harness.mrmlScene, phantom.image, name)


def _start_buttons(ui) -> list:
    return [
        ui.segmentButton,
        ui.adaptButton,
        ui.rerunPriorButton,
        ui.refineButton,
        ui.acceptButton,
        ui.exportButton,
        ui.undoButton,
        ui.redoButton,
        ui.applyPriorSlidersButton,
    ]


def _running_children(widget) -> list[int]:
    """The launcher and what it started, once the interpreter runs under it."""
    from slicer_harness import wait_until

    from GmmSegLib.gui.process_tree import descendants

    pid = widget._jobs.job.console.process.pid
    wait_until(lambda: descendants(pid), timeout=30)
    return [pid, *descendants(pid)]


# ---- the panel --------------------------------------------------------------------------------------------
def test_the_panel_sets_up_with_every_parameter_bound(module, harness, small_phantom):
    widget = module.widget
    ui = widget.ui
    parameters = widget._parameterNode
    assert ui is not None and parameters is not None
    assert tuple(ui.inputSelector.nodeTypes) == ("vtkMRMLScalarVolumeNode", "vtkMRMLSequenceBrowserNode")
    assert not ui.segmentButton.enabled  # nothing to segment in an empty scene
    volume = _volume(harness, small_phantom)
    ui.inputSelector.setCurrentNode(volume)
    assert parameters.inputNode is volume and ui.segmentButton.enabled
    ui.uncertaintyKindComboBox.currentIndex = 2
    assert parameters.uncertaintyKind == "epistemic"
    parameters.priorScale = 1.5
    assert ui.priorScaleSlider.value == 1.5
    assert not any(button.enabled for button in _start_buttons(ui)[2:])  # no result yet
    assert "5.10" in module.instance.parent.helpText and "5.12" in module.instance.parent.helpText
    loaded = __import__("vtk").vtkStringArray()
    harness.modules.terminologies.logic().GetLoadedTerminologyNames(loaded)
    assert "GmmSeg cardiac short-axis" in [loaded.GetValue(i) for i in range(loaded.GetNumberOfValues())]


def test_an_older_slicer_is_told_which_release_it_needs(harness, monkeypatch):
    from slicer_harness import load_module

    harness.app.setVersion(5, 8, 1)
    try:
        loaded = load_module(MODULE_FILE)
    finally:
        harness.app.setVersion(5, 12, 3)
    assert loaded.widget.ui is None
    labels = [child.text for child in loaded.panel.findChildren(__import__("qt").QLabel)]
    assert any("needs 3D Slicer 5.10 or later" in text and "5.8" in text for text in labels), labels
    harness.app.moduleManager().moduleAboutToBeUnloaded.emit(loaded.name)


def test_a_cines_frame_chosen_as_input_stands_for_the_whole_cine(module, harness, small_phantom):
    widget = module.widget
    volume = _volume(harness, small_phantom)
    browser = _cine(harness, small_phantom)
    widget.ui.inputSelector.setCurrentNode(volume)
    proxy = browser.GetProxyNode(browser.GetMasterSequenceNode())
    widget.ui.inputSelector.setCurrentNode(proxy)
    assert widget._parameterNode.inputNode is browser
    assert widget.ui.inputSelector.currentNode() is browser
    assert "the whole cine is segmented" in panel_log(widget)


# ---- the clinician's path -----------------------------------------------------------------------------------
def _refine_undo_redo_and_accept(module, browser, outputs) -> np.ndarray:
    """A click, Refine, Undo and Redo by the buttons and by the platform's keys, then Accept; the refined labels."""
    from PySide6 import QtGui
    from PySide6.QtTest import QTest
    from slicer_harness import pump

    from GmmSegLib.mrml.logic import ACCEPTED

    widget, ui = module.widget, module.widget.ui
    logic = widget.logic.sceneLogic()
    # the shipped model has no click refiner: its results offer no box (which it would refuse), and say why
    assert ui.refineButton.enabled and not ui.boxPlaceWidget.enabled and "no click refiner" in ui.boxLabel.toolTip
    before = click_background_in_the_lv(widget, outputs)
    ui.refineButton.click()
    refined = logic.current_labels(outputs)
    assert not np.array_equal(refined, before)
    assert widget._parameterNode.backgroundPoints.GetNumberOfControlPoints() == 0  # the clicks are used up
    from slicer_harness import wait_until

    wait_until(lambda: not outputs.frames_without_surface(), timeout=30)  # the stored frame's new 3D, while idle
    assert ui.undoButton.enabled and not ui.redoButton.enabled
    ui.undoButton.click()
    assert np.array_equal(logic.current_labels(outputs), before) and ui.redoButton.enabled
    QTest.keySequence(module.panel, QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Redo))
    pump(0.05)
    assert np.array_equal(logic.current_labels(outputs), refined)
    QTest.keySequence(module.panel, QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Undo))
    pump(0.05)
    assert np.array_equal(logic.current_labels(outputs), before)
    ui.redoButton.click()
    ui.acceptButton.click()
    assert outputs.segmentation.GetAttribute(ACCEPTED) is not None
    audit = outputs.node_of("original")
    assert audit is not None and not browser.IsSynchronizedSequenceNodeID(audit.GetID(), True)
    return refined


@pytest.mark.slow
@requires_torch
def test_segment_review_refine_undo_accept_export_and_rerun_on_a_cine(module, harness, small_phantom, tmp_path):
    widget, ui = module.widget, module.widget.ui
    volume = _volume(harness, small_phantom)
    ui.inputSelector.setCurrentNode(volume)
    ui.segmentButton.click()
    assert widget._jobs.job is not None and not any(button.enabled for button in _start_buttons(ui)[1:])
    assert ui.segmentButton.text == "Cancel"
    widget.onSegment()  # a second job is refused while one runs
    widget.onAdapt()
    first_job = widget._jobs.job
    wait_for_job(widget)
    shown = widget._results.outputs
    assert shown is not None and shown.input_node is volume and first_job.console.finished
    from slicer_harness import wait_until

    wait_until(lambda: not shown.frames_without_surface(), timeout=30)  # its 3D surface, made while idle

    browser = _cine(harness, small_phantom)
    ui.inputSelector.setCurrentNode(browser)
    ui.segmentButton.click()
    wait_for_job(widget)
    outputs = widget._results.outputs
    assert outputs.input_node is browser and outputs.segmentation is browser.GetProxyNode(
        outputs.sequences["segmentation"]
    )
    red = harness.mrmlScene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetBackgroundVolumeID() == outputs.shown_volume.GetID()
    assert red.GetForegroundVolumeID() == outputs.uncertainty["total"].GetID()
    wait_until(lambda: not outputs.frames_without_surface(), timeout=30)  # the other frames' 3D, while idle

    review_row_shows_its_frame_and_slice(widget, harness, browser, outputs)
    refined = _refine_undo_redo_and_accept(module, browser, outputs)

    # Export reads the edited frames
    widget._parameterNode.exportFolder = tmp_path / "export"
    (tmp_path / "export").mkdir()
    ui.exportButton.click()
    import SimpleITK as sitk

    exported = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "export" / "cine_seg.nii.gz")))
    assert np.array_equal(exported[outputs.current_frame], refined)

    # the prior moved -> Re-run segments the result's own input, whatever the selector shows now
    widget._parameterNode.priorShiftX = 20.0
    ui.applyPriorSlidersButton.click()
    ui.inputSelector.setCurrentNode(volume)
    ui.rerunPriorButton.click()
    arguments = widget._jobs.job.console.process.args
    assert widget._jobs.job.input_node is browser and "--phi" in arguments and "--location" in arguments
    wait_for_job(widget)
    assert widget._results.outputs.input_node is browser and widget._results.outputs is not outputs
    assert harness.mrmlScene.IsNodePresent(outputs.node_of("segmentation sequence"))  # the accepted result is kept


@pytest.mark.slow
@requires_torch
def test_a_rerun_replaces_a_result_that_was_not_accepted(module, harness, small_phantom):
    widget = module.widget
    browser = _cine(harness, small_phantom)
    widget.ui.inputSelector.setCurrentNode(browser)
    widget.ui.segmentButton.click()
    wait_for_job(widget)
    nodes = harness.mrmlScene.GetNumberOfNodes()
    first = widget._results.outputs
    widget.ui.segmentButton.click()
    wait_for_job(widget)
    assert widget._results.outputs is not first and not harness.mrmlScene.IsNodePresent(first.segmentation)
    assert harness.mrmlScene.GetNumberOfNodes() == nodes
    assert browser.GetNumberOfSynchronizedSequenceNodes() == len(widget._results.outputs.sequences)


# ---- stopping jobs -----------------------------------------------------------------------------------------
@requires_torch
def test_cancel_of_an_adaptation_stops_every_process_and_writes_no_model(
    module, harness, small_phantom, phantom_files, tmp_path
):
    from slicer_harness import wait_until

    widget = module.widget
    images = tmp_path / "site images"
    images.mkdir()
    (images / "a.nii.gz").write_bytes(phantom_files["volume"].read_bytes())
    widget._parameterNode.adaptFolder = images
    widget.ui.adaptButton.click()
    work_folder = widget._jobs.job.work_folder
    tree = _running_children(widget)
    widget.ui.cancelButton.click()
    wait_until(lambda: not any(alive(pid) for pid in tree), timeout=10)
    wait_for_job(widget, timeout=10)
    assert "Cancelled" in panel_log(widget)
    assert not (tmp_path / "user models").exists() or not any((tmp_path / "user models").iterdir())
    assert not work_folder.exists()


@requires_torch
@pytest.mark.parametrize("event", ["scene closed", "input deleted", "module reloaded", "Slicer exits"])
def test_a_job_whose_patient_leaves_is_cancelled_and_its_results_go_nowhere(module, harness, small_phantom, event):
    from slicer_harness import pump, wait_until

    widget = module.widget
    volume = _volume(harness, small_phantom, "patient A")
    widget.ui.inputSelector.setCurrentNode(volume)
    widget.ui.segmentButton.click()
    job = widget._jobs.job
    tree = _running_children(widget)
    if event == "scene closed":
        harness.mrmlScene.Clear()
    elif event == "input deleted":
        harness.mrmlScene.RemoveNode(volume)
    elif event == "module reloaded":
        harness.util.reloadScriptedModule(module.name)
    else:
        harness.app.moduleManager().moduleAboutToBeUnloaded.emit(module.name)
    wait_until(lambda: not any(alive(pid) for pid in tree), timeout=10)
    assert widget._jobs.job is None and not job.work_folder.exists()
    if event == "scene closed":
        assert "The job was cancelled: the scene was closed." in panel_log(widget)  # the log says why
        _volume(harness, small_phantom, "patient B")  # the next patient, in the new scene
    pump(1.0)  # let any late report of the killed job arrive
    segmentations = harness.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    assert segmentations == 0 and widget._results.outputs is None


@requires_torch
def test_the_segment_button_is_the_cancel_button_while_a_job_runs(module, harness, small_phantom, slicer_release):
    """In Slicer 5.12.3 and 5.10.0 (launchConsoleProcess without a non-blocking mode, PythonSlicer without UTF-8
    mode)."""
    from slicer_harness import wait_until

    widget, ui = module.widget, module.widget.ui
    ui.inputSelector.setCurrentNode(_volume(harness, small_phantom))
    assert ui.segmentButton.text == "Segment"
    ui.segmentButton.click()
    tree = _running_children(widget)
    assert ui.segmentButton.text == "Cancel" and ui.segmentButton.enabled
    ui.segmentButton.click()
    wait_until(lambda: not any(alive(pid) for pid in tree), timeout=10)
    wait_for_job(widget, timeout=10)
    assert "Cancelled" in panel_log(widget) and widget._results.outputs is None
    assert ui.segmentButton.text == "Segment" and ui.segmentButton.enabled


@pytest.mark.slow  # a command-line run in a subprocess: seconds
@requires_torch
def test_a_failing_job_gives_its_one_line_and_no_traceback(module, harness, small_phantom, tmp_path, at_the_screen):
    from slicer_harness import answering, from_event_loop

    widget = module.widget
    tampered = tmp_path / "model.pt"
    tampered.write_bytes(b"not a model")
    widget._parameterNode.modelPath = tampered
    widget.ui.inputSelector.setCurrentNode(_volume(harness, small_phantom))
    with answering("Ok") as seen:
        from_event_loop(widget.ui.segmentButton.click)
        wait_for_job(widget)  # the job's end, and its error box, come while the event loop runs
    assert len(seen) == 1 and seen[0].icon == seen[0].icon.Critical
    assert "model.pt" in seen[0].text and "\n" not in seen[0].text and "Traceback" not in seen[0].text
    assert widget._results.outputs is None and widget.ui.segmentButton.enabled


def test_an_unusable_input_is_refused_with_a_message_and_starts_no_job(module, harness, small_phantom, at_the_screen):
    from slicer_harness import answering, from_event_loop

    widget = module.widget
    volume = _volume(harness, small_phantom)
    harness.util.updateVolumeFromArray(volume, small_phantom.image.frames[0, :1])  # a single slice
    widget.ui.inputSelector.setCurrentNode(volume)
    with answering("Ok") as seen:
        from_event_loop(widget.ui.segmentButton.click)
    assert widget._jobs.job is None
    assert len(seen) == 1 and seen[0].text.startswith("Cannot segment this input.\n\n") and "2D" in seen[0].text
    assert seen[0].icon == seen[0].icon.Critical and "Traceback" not in seen[0].detailed_text + seen[0].text


@pytest.mark.slow
@requires_torch
def test_the_slicer_self_test_runs_the_pytest_body_on_a_scene_of_its_own(module, harness, small_phantom):
    """What Slicer's Reload & Test runs: GmmSegModuleTest, whose body is run_logic_self_test (also in pytest)."""
    volume = _volume(harness, small_phantom)
    nodes = harness.mrmlScene.GetNumberOfNodes()
    harness.selfTests[module.name](msec=0)
    assert harness.mrmlScene.GetNumberOfNodes() == nodes and harness.mrmlScene.IsNodePresent(volume)
    assert not harness.mrmlScene.GetUndoFlag()  # the user's scene never gets undo switched on


def test_the_click_placers_follow_the_chosen_markups_nodes(module, harness):
    widget = module.widget
    other = harness.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "my own clicks")
    widget.ui.foregroundPointsSelector.setCurrentNode(other)
    assert widget._parameterNode.foregroundPoints is other
    assert widget.ui.foregroundPlaceWidget.currentNode() is other
    place_with(widget.ui.foregroundPlaceWidget, (1.0, 2.0, 3.0))  # the clinician's click lands in the chosen node
    assert other.GetNumberOfControlPoints() == 1
    assert widget._parameterNode.backgroundPoints.GetNumberOfControlPoints() == 0


def _click_nodes_are_the_modules_own(widget) -> None:
    parameters, ui = widget._parameterNode, widget.ui
    assert parameters.foregroundPoints.GetName() == "GmmSeg foreground clicks"
    assert parameters.backgroundPoints.GetName() == "GmmSeg background clicks"
    assert ui.foregroundPointsSelector.currentNode() is parameters.foregroundPoints
    assert ui.backgroundPointsSelector.currentNode() is parameters.backgroundPoints
    assert ui.backgroundPlaceWidget.currentNode() is parameters.backgroundPoints


def test_the_foreground_and_background_clicks_are_two_markups_nodes(module, harness, small_phantom, tmp_path):
    """The clicks' selectors take the first markups node that appears in their empty list (and list the scene afresh
    after an import): the background clicks must still have a node of their own, in the first scene, in the next one,
    and in a saved scene opened again, where they are the saved scene's."""
    from conftest import known_result

    widget = module.widget
    _click_nodes_are_the_modules_own(widget)
    harness.mrmlScene.Clear()  # File > Close scene: a new parameter node, new click nodes
    _click_nodes_are_the_modules_own(widget)
    widget._results.take(_volume(harness, small_phantom), known_result(small_phantom, [0]), [])
    saved = {field: getattr(widget._parameterNode, field).GetID() for field in ("foregroundPoints", "backgroundPoints")}
    assert harness.util.saveScene(str(tmp_path / "patient.mrb"))
    harness.mrmlScene.Clear()
    harness.util.loadScene(str(tmp_path / "patient.mrb"))  # imported: the saved click nodes get new IDs
    _click_nodes_are_the_modules_own(widget)
    opened = {field: getattr(widget._parameterNode, field).GetID() for field in saved}
    assert set(opened.values()).isdisjoint(saved.values())  # the opened scene's nodes, not the closed scene's
    assert widget._parameterNode.inputNode.GetName() == "ED" and widget._results.outputs is not None


def test_the_review_table_shows_each_slice_s_estimated_dice_largest_error_first(module, harness, small_phantom):
    from conftest import known_result

    widget = module.widget
    result = known_result(small_phantom, [0])
    widget._results.show(widget.logic.sceneLogic().add_outputs(_volume(harness, small_phantom), result))
    table, items = widget.ui.reviewTable, widget._results.review.items
    assert table.horizontalHeaderItem(3).text() == "Est. Dice" and table.rowCount == len(items) > 0
    assert [item["slice_score"] for item in items] == sorted((item["slice_score"] for item in items), reverse=True)
    assert all(0.0 < item["estimated_dice"] <= 1.0 for item in items)
    assert [table.item(row, 3).text() for row in range(table.rowCount)] == [
        f"{item['estimated_dice']:.2f}" for item in items
    ]


def test_a_closed_scene_takes_the_previous_patients_review_and_indices_with_it(module, harness, small_phantom):
    from conftest import known_result

    widget = module.widget
    volume = _volume(harness, small_phantom)
    result = known_result(small_phantom, [0])
    widget._results.show(widget.logic.sceneLogic().add_outputs(volume, result))
    assert widget.ui.reviewTable.rowCount > 0 and widget.ui.indicesTableView.mrmlTableNode() is not None
    widget._log("patient A's log")
    harness.mrmlScene.Clear()
    assert widget._results.outputs is None and widget.ui.reviewTable.rowCount == 0
    assert widget.ui.indicesTableView.mrmlTableNode() is None and "patient A" not in panel_log(widget)
    assert not widget.ui.refineButton.enabled and not widget.ui.exportButton.enabled


def test_an_implausible_result_is_said_aloud_and_marked(module, harness, small_phantom, at_the_screen):
    from slicer_harness import answering, from_event_loop

    from conftest import known_result
    from GmmSegLib.mrml.scene_outputs import IMPLAUSIBLE, REVIEW_ADVISED

    widget = module.widget
    volume = _volume(harness, small_phantom)
    result = known_result(small_phantom, [0])
    result.summary.implausible = result.summary.review_reasons = ["no LV cavity was segmented"]
    with answering("Ok") as seen:
        from_event_loop(lambda: widget._results.take(volume, result, []))
    assert [(dialog.title, dialog.icon) for dialog in seen] == [("GmmSeg: review advised", seen[0].icon.Warning)]
    assert seen[0].text.startswith("Review this result before using it:")
    assert "no LV cavity was segmented" in seen[0].text
    segmentation = widget._results.outputs.segmentation
    assert segmentation.GetAttribute(IMPLAUSIBLE) == "no LV cavity was segmented"
    assert segmentation.GetAttribute(REVIEW_ADVISED) == "true"


# ---- results that survive: a saved scene opened again, a reload, a segmentation brought by the user -------------
@requires_torch
def test_a_segmentation_brought_by_the_user_is_reviewed_refined_and_measured(module, harness, small_phantom):
    widget, ui = module.widget, module.widget.ui
    outputs = review_brought_segmentation(widget, harness, small_phantom)
    volume = outputs.input_node
    assert "has no uncertainty maps" in panel_log(widget)
    assert ui.reviewTable.rowCount > 0 and ui.reviewTable.item(0, 3).text() == "n/a"
    assert ui.refineButton.enabled and ui.acceptButton.enabled and ui.exportButton.enabled
    assert not ui.rerunPriorButton.enabled and not ui.applyPriorSlidersButton.enabled  # no prior to move
    red = harness.mrmlScene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetBackgroundVolumeID() == volume.GetID() and red.GetForegroundVolumeID() is None
    assert float(panel_state(widget)["indices"]["LV volume (ml)"]) > 0
    before = click_background_in_the_lv(widget, outputs)
    ui.refineButton.click()
    assert not np.array_equal(widget.logic.sceneLogic().current_labels(outputs), before)  # its labels guide it
    assert "Refined LV" in panel_log(widget)


@requires_torch
def test_a_scribble_and_a_box_refine_through_the_models_click_refiner(
    module, harness, small_phantom, tmp_path, monkeypatch
):
    """The scribble (a curve's points) and the box (an ROI) reach the refinement with the clicks, are kept with the
    edit in the image's pixels, and are cleared after Refine, as the clicks are."""
    from slicer_harness.views import click_in_view

    models = tmp_path / "models"
    model_with_click_refiner(models)
    monkeypatch.setenv("GMMSEG_MODELS_DIR", str(models))
    widget, ui = module.widget, module.widget.ui
    outputs = review_brought_segmentation(widget, harness, small_phantom)
    logic = widget.logic.sceneLogic()
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 3).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 3)
    ui.refineStructureComboBox.currentText = "RV"
    ui.scribblePlaceWidget.placeModePersistency = True  # a stroke: points placed one after another
    ui.scribblePlaceWidget.placeButton().click()
    for x, y in ((xs.min(), ys.min()), (xs.max(), ys.max())):
        assert (
            click_in_view(harness.mrmlScene, logic.world_position(outputs, (float(x), float(y), float(z)), 0))
            is not None
        )
    ui.scribblePlaceWidget.placeButton().click()
    box = widget._parameterNode.refineBox
    centre = logic.world_position(outputs, ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, float(z)), 0)
    box.SetXYZ(*centre)
    box.SetRadiusXYZ(40.0, 40.0, 1.0)
    ui.refineButton.click()
    assert "Refined RV" in panel_log(widget)
    clicks, boxes = outputs.history.prompts_on(0, z)
    assert len(clicks) > 2 and all(c.structure == "RV" and c.foreground for c in clicks)
    assert len(boxes) == 1 and boxes[0].structure == "RV" and boxes[0].x1 - boxes[0].x0 > xs.max() - xs.min()
    for node in (widget._parameterNode.scribblePoints, box):
        assert node.GetNumberOfControlPoints() == 0


@requires_torch
def test_a_background_scribble_placed_in_the_panel_trims_the_structure_along_it(module, harness, small_phantom):
    """The second scribble, along where the structure should not be, reaches the refinement as background stroke
    points (the geodesic path: the shipped model has no click refiner) and is cleared after Refine."""
    from slicer_harness.views import click_in_view

    widget, ui = module.widget, module.widget.ui
    outputs = review_brought_segmentation(widget, harness, small_phantom)
    logic = widget.logic.sceneLogic()
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 3).sum(axis=(1, 2))))
    row = int(np.median(np.nonzero(labels[z] == 3)[0]))
    along = np.flatnonzero(labels[z, row] == 3)
    ui.refineStructureComboBox.currentText = "RV"
    ui.backgroundScribblePlaceWidget.placeModePersistency = True
    ui.backgroundScribblePlaceWidget.placeButton().click()
    for x in (along[0], along[-1]):
        position = logic.world_position(outputs, (float(x), float(row), float(z)), 0)
        assert click_in_view(harness.mrmlScene, position) is not None
    ui.backgroundScribblePlaceWidget.placeButton().click()
    ui.refineButton.click()
    assert "Refined RV" in panel_log(widget)
    assert not (logic.current_labels(outputs)[z, row, along[0] : along[-1] + 1] == 3).any()
    clicks, _ = outputs.history.prompts_on(0, z)
    assert len(clicks) > 2 and all(c.structure == "RV" and not c.foreground and c.stroke for c in clicks)
    assert widget._parameterNode.backgroundScribblePoints.GetNumberOfControlPoints() == 0


# ---- which model the next job uses --------------------------------------------------------------------------
def _adapted_model(folder, name: str):
    """A model file with its sidecar description, as an adaptation leaves it (the content is not read here)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.pt"
    model.write_bytes(b"weights")
    (folder / f"{name}.pt.json").write_text(json.dumps({"id": name, "sha256": "0" * 64}))
    return model


def test_each_listed_model_says_what_it_learnt_from_and_how_well_it_does(module):
    """The model list's tooltip for the shipped model: title, training data, validation Dice and HD95, speed, all
    from Models.json; an adapted model's description holds fewer keys and says only what it has."""
    import qt

    from GmmSegLib.gui.model_choice import model_description
    from GmmSegLib.model.registry import default_entry

    combo = module.widget.ui.modelComboBox
    shipped = default_entry()
    tip = combo.itemData(combo.findText(shipped.id), qt.Qt.ToolTipRole)
    assert tip.splitlines()[0] == shipped.record["title"] and f"Trained on: {shipped.record['trained_on']}" in tip
    dice = shipped.record["validation_metrics"]["gmmseg"]["MYO_dice"]
    assert f"MYO {dice:.2f}" in tip and "per 20-frame cine" in tip
    assert model_description({"id": "my_adapted_model", "sha256": "0" * 64}) == "my_adapted_model"
    cross_validated = {**shipped.record, "validation_metrics": {**shipped.record["validation_metrics"]}}
    cross_validated["validation_metrics"].update(metrics="out-of-fold", validation_volumes=100)
    assert "Cross-validation (100 volumes, each by a model that never saw it): Dice LV" in model_description(
        cross_validated
    )


def test_the_model_file_override_can_be_cleared_and_the_panel_says_which_model_is_used(module, tmp_path):
    widget, ui = module.widget, module.widget.ui
    parameters = widget._parameterNode
    listed = ui.modelComboBox.currentData
    assert listed and ui.modelComboBox.currentText in ui.modelInUseLabel.text and ui.modelPathLineEdit.currentPath == ""
    override = _adapted_model(tmp_path / "elsewhere", "my_model")
    ui.modelPathLineEdit.currentPath = str(override)
    assert widget._models.model(parameters.modelPath) == str(override) and str(override) in ui.modelInUseLabel.text
    ui.modelPathLineEdit.currentPath = ""  # CTK emits nothing for an emptied field: the override stays ...
    assert widget._models.model(parameters.modelPath) == str(override) and str(override) in ui.modelInUseLabel.text
    ui.clearModelPathButton.click()  # ... until the clinician asks for the list's model
    assert widget._models.model(parameters.modelPath) == listed
    assert ui.modelComboBox.currentText in ui.modelInUseLabel.text and str(override) not in ui.modelInUseLabel.text
    ui.modelPathLineEdit.currentPath = str(override)
    published = widget._models.publish(_adapted_model(tmp_path / "adapted", "adapted_site"))  # what Adapt does
    assert widget._models.model(parameters.modelPath) == str(published) and ui.modelPathLineEdit.currentPath == ""
    assert "adapted_site" in ui.modelInUseLabel.text
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.findData(listed))  # a model chosen in the list is used
    assert widget._models.model(parameters.modelPath) == listed


def test_a_model_override_set_in_the_parameter_node_shows_in_the_field(module, tmp_path):
    widget, ui = module.widget, module.widget.ui
    override = _adapted_model(tmp_path, "saved_override")
    widget._parameterNode.modelPath = override  # as a saved scene brings it back
    assert ui.modelPathLineEdit.currentPath == str(override) and str(override) in ui.modelInUseLabel.text
    widget._parameterNode.modelPath = __import__("pathlib").Path()
    assert ui.modelPathLineEdit.currentPath == "" and ui.modelComboBox.currentText in ui.modelInUseLabel.text


def test_the_export_folder_shown_is_the_folder_written(module, harness, small_phantom, tmp_path, monkeypatch):
    from conftest import known_result

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    harness.mrmlScene.Clear()  # a new scene: a new parameter node, made with this HOME
    widget, ui = module.widget, module.widget.ui
    shown = ui.exportFolderButton.findChild(__import__("qt").QPushButton).text
    assert shown == str(tmp_path / "home") and ui.exportFolderButton.directory == shown
    assert ui.adaptFolderButton.directory == shown
    volume = _volume(harness, small_phantom)
    widget._results.show(widget.logic.sceneLogic().add_outputs(volume, known_result(small_phantom, [0])))
    ui.exportButton.click()
    assert (tmp_path / "home" / "ED_seg.nii.gz").is_file()


# ---- what the views show -------------------------------------------------------------------------------------
def _red_view_rgb(harness) -> np.ndarray:
    """The Red slice view's composited image (Y, X, RGB) as slicer-core's vtkMRMLSliceLogic makes it."""
    from vtk.util.numpy_support import vtk_to_numpy

    logic = harness.app.applicationLogic().GetSliceLogicByLayoutName("Red")
    producer = logic.GetImageDataConnection().GetProducer()
    producer.Update()
    image = producer.GetOutputDataObject(0)
    width, height, _ = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[..., :3].astype(int)


def _map_under_red_view(harness, volume) -> np.ndarray:
    """``volume``'s value (nearest voxel) under each pixel of the Red slice view (Y, X); NaN outside it."""
    import vtk

    slice_node = harness.mrmlScene.GetNodeByID("vtkMRMLSliceNodeRed")
    width, height, _ = slice_node.GetDimensions()
    xy_to_ras = harness.util.arrayFromVTKMatrix(slice_node.GetXYToRAS())
    ras_to_ijk = vtk.vtkMatrix4x4()
    volume.GetRASToIJKMatrix(ras_to_ijk)
    ras_to_ijk = harness.util.arrayFromVTKMatrix(ras_to_ijk)
    ys, xs = np.mgrid[0:height, 0:width]
    xy = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size), np.ones(xs.size)])
    ijk = np.rint(ras_to_ijk @ xy_to_ras @ xy)[:3].astype(int)
    array = harness.util.arrayFromVolume(volume)
    inside = np.all((ijk >= 0) & (ijk < np.array(array.shape[::-1])[:, None]), axis=0)
    values = np.full(xs.size, np.nan)
    values[inside] = array[ijk[2, inside], ijk[1, inside], ijk[0, inside]]
    return values.reshape(height, width)


def test_the_uncertainty_overlay_tints_the_image_in_proportion_to_the_uncertainty(module, harness, small_phantom):
    """A scalar volume's colour-table alpha is drawn as 0 or 255 (vtkMRMLScalarVolumeDisplayNode's AlphaLogic): the
    overlay must still leave a sure pixel as it is and tint a slightly unsure one far less than a very unsure one."""
    from conftest import known_result

    widget = module.widget
    volume = _volume(harness, small_phantom)
    widget._results.show(widget.logic.sceneLogic().add_outputs(volume, known_result(small_phantom, [0])))
    uncertainty = widget._results.outputs.uncertainty["total"]
    ramp = np.zeros(harness.util.arrayFromVolume(uncertainty).shape, np.float32)
    ramp[..., :] = np.repeat([0.0, 0.05, 0.3, 1.0], -(-ramp.shape[-1] // 4))[: ramp.shape[-1]]
    harness.util.updateVolumeFromArray(uncertainty, ramp)
    slice_node = harness.mrmlScene.GetNodeByID("vtkMRMLSliceNodeRed")
    slice_node.SetDimensions(64, 64, 1)
    harness.app.applicationLogic().GetSliceLogicByLayoutName("Red").FitSliceToAll()
    under = _map_under_red_view(harness, uncertainty)
    shown = _red_view_rgb(harness)
    widget._parameterNode.uncertaintyOpacity = 0.0
    image_alone = _red_view_rgb(harness)
    tint = np.abs(shown - image_alone).sum(axis=-1)
    level = {u: tint[under == np.float32(u)].mean() for u in (0.0, 0.05, 0.3, 1.0)}
    assert level[0.0] == 0 and 0 < level[0.05] < 0.2 * level[1.0] and level[0.05] < level[0.3] < level[1.0], level


def test_the_indices_follow_an_edit_made_in_the_segment_editor(module, harness, small_phantom):
    """The Segment Editor paints into the segmentation's labelmap in place; the table is refilled shortly after."""
    from slicer_harness import pump, wait_until
    from vtk.util.numpy_support import vtk_to_numpy

    from conftest import known_result

    widget = module.widget
    volume = _volume(harness, small_phantom)
    widget._results.show(widget.logic.sceneLogic().add_outputs(volume, known_result(small_phantom, [0])))
    table = widget.ui.indicesTableView.mrmlTableNode()

    def lv_volume() -> str:
        return next(
            table.GetCellText(row, 1)
            for row in range(table.GetNumberOfRows())
            if table.GetCellText(row, 0) == "LV volume (ml)"
        )

    before = lv_volume()
    segmentation = widget._results.outputs.segmentation
    labelmap = segmentation.GetBinaryLabelmapInternalRepresentation("LV")  # shared by the three segments
    scalars = vtk_to_numpy(labelmap.GetPointData().GetScalars())
    scalars[scalars == 1] = 0  # the LV erased everywhere, as the eraser would
    labelmap.Modified()
    pump(0.05)
    wait_until(lambda: lv_volume() != before, timeout=5)
    assert float(lv_volume()) == 0.0


def test_the_indices_follow_the_segment_editors_own_undo_and_redo(module, harness, small_phantom):
    """The Segment Editor's Undo restores the segments (vtkSegmentationHistory), which says SegmentModified only: the
    table must still go back to the indices of the labels on screen."""
    from panel_steps import indices_shown, paint_in_segment_editor
    from slicer_harness import wait_until

    from conftest import known_result

    widget = module.widget
    volume = _volume(harness, small_phantom)
    widget._results.show(widget.logic.sceneLogic().add_outputs(volume, known_result(small_phantom, [0])))
    outputs = widget._results.outputs
    before = indices_shown(widget)
    mask = small_phantom.labels[0] == 2  # the whole myocardium painted as LV cavity
    editor = paint_in_segment_editor(harness.mrmlScene, outputs.segmentation, volume, "LV", mask)
    wait_until(lambda: indices_shown(widget) != before, timeout=5)
    painted = indices_shown(widget)
    assert float(painted["MYO volume (ml)"]) == 0.0
    editor.Undo()
    wait_until(lambda: indices_shown(widget) == before, timeout=5)
    editor.Redo()
    wait_until(lambda: indices_shown(widget) == painted, timeout=5)


def test_the_input_selector_offers_inputs_but_not_the_modules_outputs(module, harness, small_phantom):
    from conftest import known_result

    widget, selector = module.widget, module.widget.ui.inputSelector
    volume = _volume(harness, small_phantom)
    browser = _cine(harness, small_phantom)
    offered_before = {selector.nodeFromIndex(i).GetID() for i in range(selector.nodeCount())}
    widget._results.take(browser, known_result(small_phantom), [])
    outputs = widget._results.outputs
    offered = {selector.nodeFromIndex(i) for i in range(selector.nodeCount())}
    made = {outputs.prior, *outputs.uncertainty.values()}  # the browser's proxies of the maps
    assert made and not made & offered
    assert {volume, browser} <= offered and {node.GetID() for node in offered} == offered_before
    assert harness.mrmlScene.IsNodePresent(outputs.prior) and not outputs.prior.GetHideFromEditors()  # still saved


def test_the_device_list_offers_what_this_platform_can_have(module):
    from GmmSegLib.core.device import offered_devices

    combo = module.widget.ui.deviceComboBox
    offered = [combo.itemText(i) for i in range(combo.count)]
    assert offered == list(offered_devices()) and "cpu" in offered
    assert ("mps" in offered) == (sys.platform == "darwin") and ("cuda" in offered) != (sys.platform == "darwin")
    assert "cuda" not in offered_devices("darwin") and "mps" not in offered_devices("win32")


@requires_torch
def test_a_gpu_that_pytorch_does_not_find_is_refused_before_a_job_starts(module, harness, small_phantom, caplog):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this computer has a CUDA GPU")
    widget = module.widget
    widget.ui.inputSelector.setCurrentNode(_volume(harness, small_phantom))
    widget._parameterNode.device = "cuda"
    with caplog.at_level(logging.ERROR):
        widget.ui.segmentButton.click()
    assert widget._jobs.job is None
    assert any("no cuda device" in record.getMessage() for record in caplog.records), caplog.text


# ---- the reader's confirmation of ED/ES and slices -----------------------------------------------------------
def _panel_with_cine_result(module, harness, phantom):
    """The panel showing a known cine result (as a finished job hands it over), with its indices table."""
    from conftest import known_result

    widget = module.widget
    browser = _cine(harness, phantom)
    result = known_result(phantom)
    widget._results.take(browser, result, [])
    return widget, widget._results.outputs, result


def test_the_section_shows_the_models_choices_and_each_change_recomputes_the_table(module, harness, small_phantom):
    from panel_steps import expected_rows, shown_rows, table_rows

    from GmmSegLib.clinical.indices import clinical_indices
    from GmmSegLib.clinical.reader_choices import ReaderChoices
    from GmmSegLib.mrml.indices_nodes import NO_READER_CHOICE
    from GmmSegLib.mrml.logic import MANUAL_CHOICES

    widget, outputs, result = _panel_with_cine_result(module, harness, small_phantom)
    ui = widget.ui
    model = clinical_indices(result.labels, small_phantom.image.spacing_xyz, probabilities=result.probabilities)
    limits = model.slice_limits["LV ES"]
    assert ui.confirmCollapsibleButton.enabled and ui.esFrameSpinBox.value == model.es_frame
    assert ui.esFrameModelLabel.text == f"model: {model.es_frame}"
    assert (ui.lvEsFirstSpinBox.value, ui.lvEsLastSpinBox.value) == (limits["first"], limits["last"])
    assert ui.lvEsModelLabel.text == (
        f"model: {limits['first']}-{limits['last']} "
        f"({limits['first_confidence']:.2f} / {limits['last_confidence']:.2f})"
    )
    assert table_rows(outputs)["reader's choices"] == NO_READER_CHOICE and not ui.undoButton.enabled

    ui.lvEsFirstSpinBox.stepUp()  # the basal limit moved by one slice
    moved = ReaderChoices(limits={"LV ES": (limits["first"] + 1, limits["last"])})
    assert shown_rows(outputs, expected_rows(result, moved)) == expected_rows(result, moved)
    assert "LV ES slices" in ui.confirmNoteLabel.text and ui.undoButton.enabled

    ui.esFrameSpinBox.value = 1
    ui.excludePhaseComboBox.currentIndex = 0
    ui.excludeSliceSpinBox.value = 3
    ui.excludeSliceButton.click()
    chosen = ReaderChoices(es_frame=1, limits=moved.limits, excluded={"ED": [3]})
    assert outputs.reader_choices() == chosen
    assert shown_rows(outputs, expected_rows(result, chosen)) == expected_rows(result, chosen)
    assert ui.excludedLabel.text == "Excluded slices: ED 3" and ui.excludeSliceButton.text == "Include again"

    ui.acceptButton.click()
    assert outputs.segmentation.GetAttribute(MANUAL_CHOICES) == "; ".join(chosen.manual())
    ui.undoButton.click()  # Accept undone
    ui.undoButton.click()  # the exclusion undone
    assert outputs.reader_choices() == ReaderChoices(es_frame=1, limits=moved.limits)
    assert ui.excludedLabel.text == "Excluded slices: none" and ui.excludeSliceButton.text == "Exclude"

    ui.modelChoicesButton.click()
    assert shown_rows(outputs, expected_rows(result)) == expected_rows(result)
    assert (ui.esFrameSpinBox.value, ui.lvEsFirstSpinBox.value) == (model.es_frame, limits["first"])


def test_a_refused_choice_is_said_and_the_section_shows_the_choices_as_they_stay(module, harness, small_phantom):
    from panel_steps import table_rows

    widget, outputs, result = _panel_with_cine_result(module, harness, small_phantom)
    ui = widget.ui
    before = table_rows(outputs)
    ui.esFrameSpinBox.value = ui.edFrameSpinBox.value  # ES on the ED frame
    assert "Cannot use this choice. ED and ES are the same frame" in ui.logTextEdit.toPlainText()
    assert table_rows(outputs) == before and ui.esFrameSpinBox.value == int(before["ES frame"])


def test_the_slice_shown_in_the_red_view_is_the_one_excluded(module, harness, small_phantom):
    widget, outputs, _result = _panel_with_cine_result(module, harness, small_phantom)
    ui, logic = widget.ui, widget.logic.sceneLogic()
    logic.show_stack_planes(outputs)
    harness.vtkMRMLSliceNode.JumpAllSlices(
        harness.mrmlScene, *logic.world_position(outputs, (5, 5, 5)), harness.vtkMRMLSliceNode.CenteredJumpSlice
    )
    ui.excludePhaseComboBox.currentIndex = 1
    ui.sliceShownButton.click()
    ui.excludeSliceButton.click()
    assert outputs.reader_choices().excluded == {"ES": [5]} and ui.excludedLabel.text == "Excluded slices: ES 5"


def test_the_section_follows_an_edit_made_in_the_segment_editor(module, harness, small_phantom):
    """Erasing the LV on its basal slice of the shown (ED) frame moves the model's LV limit at ED and the volumes."""
    from panel_steps import table_rows
    from slicer_harness import pump, wait_until
    from vtk.util.numpy_support import vtk_to_numpy

    from GmmSegLib.clinical.indices import clinical_indices

    widget, outputs, result = _panel_with_cine_result(module, harness, small_phantom)
    ui = widget.ui
    assert outputs.current_frame == outputs.indices["ed_frame"]
    first = ui.lvEdFirstSpinBox.value
    labelmap = outputs.segmentation.GetBinaryLabelmapInternalRepresentation("LV")
    extent = labelmap.GetExtent()
    scalars = vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(
        extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1
    )
    scalars[first - extent[4]][scalars[first - extent[4]] == 1] = 0  # the eraser on the basal LV slice
    labelmap.Modified()
    pump(0.05)
    wait_until(lambda: ui.lvEdFirstSpinBox.value != first, timeout=5)
    labels = widget.logic.sceneLogic().all_labels(outputs)
    edited = clinical_indices(labels, small_phantom.image.spacing_xyz, probabilities=result.probabilities)
    assert ui.lvEdFirstSpinBox.value == edited.slice_limits["LV ED"]["first"] > first
    assert table_rows(outputs)["LV EDV (ml)"] == f"{edited.lv_edv:.4g}"


# ---- PyTorch ---------------------------------------------------------------------------------------------------
class _MissingTorch(PyTorchUtilsStandIn):
    """The PyTorch extension is there but has not installed torch yet; installTorch() records what it was asked."""

    asked: list = []
    failure: Exception | None = None

    @staticmethod
    def torchInstalled() -> bool:
        return False

    def installTorch(self, askConfirmation=False, **options):
        self.asked.append(options)
        if self.failure is not None:
            raise self.failure
        return object()


def test_pytorch_is_installed_within_the_products_range_once_the_user_agrees(module, at_the_screen, monkeypatch):
    import tomllib
    from slicer_harness import answering, from_event_loop

    from GmmSegLib.gui.pytorch_install import TORCH_REQUIREMENT, ensure_pytorch

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=_MissingTorch))
    monkeypatch.setattr(_MissingTorch, "asked", [])
    with answering("Cancel", "Ok") as seen:
        assert from_event_loop(ensure_pytorch) is False and _MissingTorch.asked == []  # no: nothing is downloaded
        assert from_event_loop(ensure_pytorch) is True
    assert [dialog.text for dialog in seen] == [seen[0].text] * 2 and "Download and install it now" in seen[0].text
    assert _MissingTorch.asked == [{"torchVersionRequirement": TORCH_REQUIREMENT}]
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch" + TORCH_REQUIREMENT in dependencies


def test_a_failed_or_impossible_pytorch_install_is_shown_in_an_error_box(module, at_the_screen, monkeypatch):
    from slicer_harness import answering, from_event_loop

    from GmmSegLib.gui.pytorch_install import ensure_pytorch

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=_MissingTorch))
    monkeypatch.setattr(_MissingTorch, "failure", RuntimeError("no network"))
    with answering("Ok", "Ok") as seen:
        assert from_event_loop(ensure_pytorch) is False
    assert seen[1].text.startswith("Installing PyTorch failed: no network") and seen[1].icon == seen[1].icon.Critical
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # the extension is not installed: import fails
    with answering("Ok") as seen:
        assert from_event_loop(ensure_pytorch) is False
    assert "Install 'PyTorch' from the Extensions Manager" in seen[0].text


def test_an_older_pytorch_in_slicer_is_named_and_not_used(module, harness, small_phantom, monkeypatch, caplog):
    from GmmSegLib.gui import pytorch_install

    monkeypatch.setattr(PyTorchUtilsStandIn, "torchInstalled", staticmethod(lambda: True))  # also where torch is not
    monkeypatch.setattr(pytorch_install, "installed_torch_version", lambda: "1.13.1+cu117")
    module.widget.ui.inputSelector.setCurrentNode(_volume(harness, small_phantom))
    with caplog.at_level(logging.ERROR):
        module.widget.ui.segmentButton.click()
    assert module.widget._jobs.job is None
    assert any("1.13.1+cu117" in r.getMessage() and ">=2.2,<3" in r.getMessage() for r in caplog.records), caplog.text


def test_torch_and_the_refinement_are_imported_on_a_thread_once_a_result_is_shown(
    module, harness, small_phantom, monkeypatch, tmp_path
):
    """The first Refine click does not wait for torch's import: the panel starts it on a worker thread when it shows
    a result, once per session, and only for a torch within the product's range (the click reports the others)."""
    import importlib.util
    import threading

    from conftest import known_result
    from GmmSegLib.gui import pytorch_install

    (tmp_path / "refinement_stand_in.py").write_text("import threading\nIMPORTED_ON = threading.current_thread()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(pytorch_install, "REFINEMENT_MODULE", "refinement_stand_in")
    monkeypatch.setattr(pytorch_install, "_import_ahead", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: object() if name == "torch" else None)
    monkeypatch.setattr(pytorch_install, "installed_torch_version", lambda: "1.13.1+cu117")
    assert pytorch_install.import_refinement_ahead() is None  # outside the range: nothing
    monkeypatch.setattr(pytorch_install, "installed_torch_version", lambda: "2.5.1")

    module.widget._results.show(
        module.widget.logic.sceneLogic().add_outputs(
            _volume(harness, small_phantom), known_result(small_phantom, frames=[0])
        )
    )
    thread = pytorch_install._import_ahead
    assert thread is not None and thread is not threading.current_thread()
    thread.join(timeout=60)
    assert sys.modules["refinement_stand_in"].IMPORTED_ON is thread
    assert pytorch_install.import_refinement_ahead() is None  # once per session
    monkeypatch.delitem(sys.modules, "refinement_stand_in")


def test_after_a_reload_of_the_shown_module_its_result_is_taken_up_and_the_undo_keys_work(
    module, harness, small_phantom
):
    """F9: a Reload makes a new widget (setup() only); it takes up the result shown before (the resume of a saved
    scene) and installs the Undo and Redo keys, so the result is not orphaned."""
    from PySide6 import QtGui
    from PySide6.QtTest import QTest
    from slicer_harness import pump

    from conftest import known_result
    from GmmSegLib.mrml.logic import ACCEPTED

    volume = _volume(harness, small_phantom)
    module.widget._results.take(volume, known_result(small_phantom, [0]), [])
    shown = module.widget._results.outputs.segmentation
    harness.util.reloadScriptedModule(module.name)  # Reload, while the module is shown
    widget = module.widget
    assert widget._results.outputs is not None and widget._results.outputs.segmentation is shown
    assert widget.ui.acceptButton.enabled and widget.ui.reviewTable.rowCount > 0
    widget.ui.acceptButton.click()
    segmentation = widget._results.outputs.segmentation
    assert segmentation.GetAttribute(ACCEPTED) is not None
    pump(0.05)  # the clinician presses the key later: the event loop has run since
    QTest.keySequence(module.panel, QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Undo))
    pump(0.05)
    assert segmentation.GetAttribute(ACCEPTED) is None


@pytest.mark.slow
def test_a_rerun_of_an_accepted_cine_leaves_one_overlay_and_keeps_the_accepted_result(module, harness, small_phantom):
    from conftest import known_result
    from GmmSegLib.mrml.logic import ACCEPTED
    from GmmSegLib.mrml.scene_outputs import SUPERSEDED

    widget, scene = module.widget, harness.mrmlScene
    browser = _cine(harness, small_phantom)
    result = known_result(small_phantom)
    widget._results.take(browser, result, [])
    widget.ui.acceptButton.click()
    accepted = widget._results.outputs.sequences["segmentation"]
    widget._results.take(browser, result, [])  # what a re-run delivers
    nodes = scene.GetNumberOfNodes()
    outputs = widget._results.outputs
    assert not browser.IsSynchronizedSequenceNodeID(accepted.GetID(), True)
    assert browser.IsSynchronizedSequenceNodeID(outputs.sequences["segmentation"].GetID(), True)
    assert browser.GetNumberOfSynchronizedSequenceNodes() == len(outputs.sequences)  # the new result's only
    shown = [
        scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
        for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))
    ]
    assert shown == [outputs.segmentation]  # one segmentation in the views
    assert scene.IsNodePresent(accepted) and accepted.GetAttribute(SUPERSEDED) == "true"
    assert accepted.GetNthDataNode(0).GetAttribute(ACCEPTED) is not None  # kept, frame by frame, with its stamp
    widget._results.take(browser, result, [])  # and a re-run of the new, not accepted, result adds nothing
    assert scene.GetNumberOfNodes() == nodes


def test_leaving_and_entering_the_module_binds_the_gui_once(module, monkeypatch):
    """Slicer 5.10's disconnectGui leaves connectGui's VTK observer on the parameter node: one binding per enter()
    would leave one more observer each time."""
    widget = module.widget
    wrapper_class = type(widget._parameterNode)
    bindings = []
    connect = wrapper_class.connectGui
    monkeypatch.setattr(wrapper_class, "connectGui", lambda self, gui: bindings.append(gui) or connect(self, gui))
    for _ in range(3):
        module.panel.exit()
        module.panel.enter()
    assert bindings == []
    widget._parameterNode.priorScale = 1.5  # and the GUI follows the parameter node still
    assert widget.ui.priorScaleSlider.value == 1.5
    widget.ui.priorShiftXSlider.value = 12.0
    assert widget._parameterNode.priorShiftX == 12.0


def test_the_progress_bar_names_the_step_the_frame_and_the_time_left(module):
    from GmmSegLib.gui.job_runner import progress_display

    segmenting = {"event": "progress", "stage": "Segmenting", "frame": 7, "frames": 20, "eta_s": 12.6}
    assert progress_display(segmenting) == (7, 20, "Segmenting: frame 7 of 20, about 12 s left")
    adapting = {"event": "progress", "stage": "adapt", "epoch": 2, "epochs": 5, "step": 3, "steps": 10, "eta_s": 80}
    assert progress_display(adapting) == (13, 50, "adapt epoch 2/5, about 80 s left")


def test_a_cine_is_segmented_only_once_the_clinician_confirms_all_its_frames(
    module, harness, small_phantom, at_the_screen, monkeypatch
):
    from slicer_harness import answering, from_event_loop

    widget = module.widget
    widget.ui.inputSelector.setCurrentNode(_cine(harness, small_phantom, "patient cine"))
    with answering("Cancel") as seen:
        from_event_loop(widget.ui.segmentButton.click)
    assert [dialog.text for dialog in seen] == [f"Segment all {small_phantom.image.num_frames} frames of patient cine?"]
    assert widget._jobs.job is None  # Cancel: nothing starts
    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=_MissingTorch))
    written = []
    logic_class = type(widget.logic.sceneLogic())
    write_input = logic_class.write_input
    monkeypatch.setattr(
        logic_class, "write_input", staticmethod(lambda node: written.append(write_input(node)) or written[-1])
    )
    with answering("Ok", "Cancel") as seen:  # yes to all frames, no to downloading PyTorch
        from_event_loop(widget.ui.segmentButton.click)
    assert "PyTorch" in seen[1].text and widget._jobs.job is None
    assert written and not written[0].parent.exists()  # the patient's images copied for the job are removed


def test_an_adaptation_without_images_says_so_in_an_error_box(module, at_the_screen, tmp_path, monkeypatch):
    from slicer_harness import answering, from_event_loop

    _torch_in_range(monkeypatch)
    widget = module.widget
    widget._parameterNode.adaptFolder = tmp_path
    with answering("Ok") as seen:
        from_event_loop(widget.ui.adaptButton.click)
    assert [dialog.text for dialog in seen] == [f"No NIfTI/NRRD images found in '{tmp_path}'."]
    assert seen[0].icon == seen[0].icon.Critical and widget._jobs.job is None


def test_a_review_row_turns_the_views_to_the_planes_of_an_oblique_stack(module, harness, small_phantom):
    import vtk
    from slicer_harness import pump

    from conftest import known_result

    widget = module.widget
    volume = _volume(harness, small_phantom)
    angle = np.radians(30.0)  # a double-oblique short-axis stack, as scanners acquire it
    tilt = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    directions = vtk.vtkMatrix4x4()
    volume.GetIJKToRASDirectionMatrix(directions)
    directions.DeepCopy(
        harness.util.vtkMatrixFromArray(
            np.block(
                [
                    [turn @ tilt @ harness.util.arrayFromVTKMatrix(directions)[:3, :3], np.zeros((3, 1))],
                    [np.zeros(3), 1],
                ]
            )
        )
    )
    volume.SetIJKToRASDirectionMatrix(directions)
    volume.GetIJKToRASDirectionMatrix(directions)
    rotated = harness.util.arrayFromVTKMatrix(directions)[:3, :3]  # the stack's I, J, K axes as the columns
    widget._results.show(widget.logic.sceneLogic().add_outputs(volume, known_result(small_phantom, [0])))
    widget.ui.reviewTable.selectRow(0)
    pump(0.05)
    for view, axis in (("Red", 2), ("Yellow", 0), ("Green", 1)):
        slice_to_ras = harness.util.arrayFromVTKMatrix(
            harness.mrmlScene.GetNodeByID(f"vtkMRMLSliceNode{view}").GetSliceToRAS()
        )
        assert abs(slice_to_ras[:3, 2] @ rotated[:, axis]) == pytest.approx(1.0, abs=1e-6), view


def test_the_modules_title_and_help_go_through_slicers_translation(harness, monkeypatch):
    from slicer_harness import load_module

    monkeypatch.setattr(harness.app, "translate", lambda context, text: f"[{context}] {text}")
    loaded = load_module(MODULE_FILE)
    try:
        parent = loaded.instance.parent
        assert parent.title == "[GmmSegModule] GmmSeg Cardiac"
        assert parent.categories == ["[qSlicerAbstractCoreModule] Segmentation"]
        assert parent.helpText.startswith("[GmmSegModule] ") and parent.acknowledgementText.startswith("[GmmSegModule]")
        ui = loaded.widget.ui  # the panel's texts too, each in its file's context (slicer.i18n.getContext)
        assert ui.segmentButton.text == "[GmmSegModule] Segment"
        assert ui.modelInUseLabel.text.startswith("[gui.model_choice] ")
    finally:
        harness.app.moduleManager().moduleAboutToBeUnloaded.emit(loaded.name)
