"""The module's panel driven along the clinician's path, in the Slicer harness (Testing/slicer_harness).

The widget is GmmSegModule.py's own, built from the real .ui and bound by Slicer 5.12.3's parameterNodeWrapper;
jobs run as separate processes through a launcher that, like PythonSlicer, runs the interpreter as its child;
their results come back by the route the GUI uses (files -> CaseResult.read -> the scene).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types

import numpy as np
import pytest
from launcher import alive
from panel_steps import click_background_in_the_lv

from conftest import ROOT, requires_torch

MODULE_FILE = ROOT / "GmmSegModule" / "GmmSegModule.py"


class _PyTorchUtilsLogic:
    """Stands for SlicerPyTorch's PyTorchUtils.PyTorchUtilsLogic (PyTorchUtils/PyTorchUtils.py): torchInstalled()
    tells whether torch can be imported; installTorch() would download it, which a test must not do."""

    @staticmethod
    def torchInstalled() -> bool:
        return importlib.util.find_spec("torch") is not None

    def installTorch(self, askConfirmation=False, **_options):
        raise AssertionError("a test must not install PyTorch")


@pytest.fixture
def module(harness, pythonslicer, monkeypatch, tmp_path):
    """The module loaded and shown in an empty scene, with the PyTorch extension present and the user's models
    folder in tmp_path; unloaded afterwards as at Slicer exit."""
    from slicer_harness import load_module

    harness.mrmlScene.Clear()
    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=_PyTorchUtilsLogic))
    monkeypatch.setenv("GMMSEG_USER_MODELS_DIR", str(tmp_path / "user models"))
    loaded = load_module(MODULE_FILE)
    yield loaded
    harness.app.moduleManager().moduleAboutToBeUnloaded.emit(loaded.name)
    harness.mrmlScene.Clear()


def _volume(harness, phantom, name="ED"):
    from GmmSegLib.mrml.inputs import add_volume_nodes

    return add_volume_nodes(harness.mrmlScene, phantom.image.frame_volume(0), name)


def _cine(harness, phantom, name="cine"):
    from GmmSegLib.mrml.inputs import add_volume_nodes

    return add_volume_nodes(harness.mrmlScene, phantom.image, name)


def _start_buttons(ui) -> list:
    return [ui.segmentButton, ui.adaptButton, ui.rerunPriorButton, ui.refineButton, ui.acceptButton,
            ui.exportButton, ui.undoButton, ui.redoButton, ui.applyPriorSlidersButton]


def _wait_for_job(widget, timeout: float = 300.0) -> None:
    from slicer_harness import wait_until

    wait_until(lambda: widget._jobs.job is None, timeout=timeout)


def _running_children(widget) -> list[int]:
    """The launcher and what it started, once the interpreter runs under it."""
    from slicer_harness import wait_until

    from GmmSegLib.mrml.process_tree import descendants

    pid = widget._jobs.job.console.process.pid
    wait_until(lambda: descendants(pid), timeout=30)
    return [pid, *descendants(pid)]


def _log(widget) -> str:
    return widget.ui.logTextEdit.toPlainText()


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
    assert "the whole cine is segmented" in _log(widget)


# ---- the clinician's path -----------------------------------------------------------------------------------
def _review_row_shows_its_frame_and_slice(widget, harness, browser, outputs) -> None:
    """Selecting a review row of another frame than the shown one brings that frame and slice into view."""
    from slicer_harness import pump

    logic = widget.logic.sceneLogic()
    items = widget._results.review.items
    row = next(i for i, item in enumerate(items) if item["frame"] != browser.GetSelectedItemNumber())
    item = widget._results.review.items[row]
    widget.ui.reviewTable.selectRow(row)
    pump(0.05)
    assert browser.GetSelectedItemNumber() == item["frame"]
    world = logic.world_position(outputs, (0, 0, item["slice"]), item["frame"])
    assert harness.mrmlScene.GetNodeByID("vtkMRMLSliceNodeRed").GetSliceOffset() == pytest.approx(world[2], abs=1e-3)


def _refine_undo_redo_and_accept(module, browser, outputs) -> np.ndarray:
    """A click, Refine, Undo and Redo by the buttons and by the platform's keys, then Accept; the refined labels."""
    from PySide6 import QtGui
    from PySide6.QtTest import QTest
    from slicer_harness import pump

    from GmmSegLib.mrml.logic import ACCEPTED

    widget, ui = module.widget, module.widget.ui
    logic = widget.logic.sceneLogic()
    before = click_background_in_the_lv(widget, outputs)
    ui.refineButton.click()
    refined = logic.current_labels(outputs)
    assert not np.array_equal(refined, before)
    assert widget._parameterNode.backgroundPoints.GetNumberOfControlPoints() == 0  # the clicks are used up
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
    assert widget._jobs.job is not None and not any(button.enabled for button in _start_buttons(ui))
    widget.onSegment()  # a second job is refused while one runs
    widget.onAdapt()
    first_job = widget._jobs.job
    _wait_for_job(widget)
    shown = widget._results.outputs
    assert shown is not None and shown.input_node is volume and first_job.console.finished

    browser = _cine(harness, small_phantom)
    ui.inputSelector.setCurrentNode(browser)
    ui.segmentButton.click()
    _wait_for_job(widget)
    outputs = widget._results.outputs
    assert outputs.input_node is browser and outputs.segmentation is browser.GetProxyNode(outputs.sequences[
        "segmentation"])
    red = harness.mrmlScene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetBackgroundVolumeID() == outputs.shown_volume.GetID()
    assert red.GetForegroundVolumeID() == outputs.uncertainty["total"].GetID()

    _review_row_shows_its_frame_and_slice(widget, harness, browser, outputs)
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
    _wait_for_job(widget)
    assert widget._results.outputs.input_node is browser and widget._results.outputs is not outputs
    assert harness.mrmlScene.IsNodePresent(outputs.segmentation)  # the accepted result is kept


@pytest.mark.slow
@requires_torch
def test_a_rerun_replaces_a_result_that_was_not_accepted(module, harness, small_phantom):
    widget = module.widget
    browser = _cine(harness, small_phantom)
    widget.ui.inputSelector.setCurrentNode(browser)
    widget.ui.segmentButton.click()
    _wait_for_job(widget)
    nodes = harness.mrmlScene.GetNumberOfNodes()
    first = widget._results.outputs
    widget.ui.segmentButton.click()
    _wait_for_job(widget)
    assert widget._results.outputs is not first and not harness.mrmlScene.IsNodePresent(first.segmentation)
    assert harness.mrmlScene.GetNumberOfNodes() == nodes
    assert browser.GetNumberOfSynchronizedSequenceNodes() == len(widget._results.outputs.sequences)


# ---- stopping jobs -----------------------------------------------------------------------------------------
@requires_torch
def test_cancel_of_an_adaptation_stops_every_process_and_writes_no_model(module, harness, small_phantom,
                                                                        phantom_files, tmp_path):
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
    _wait_for_job(widget, timeout=10)
    assert "Cancelled" in _log(widget)
    assert not (tmp_path / "user models").exists() or not any((tmp_path / "user models").iterdir())
    assert not work_folder.exists()


@requires_torch
@pytest.mark.parametrize("event", ["scene closed", "input deleted", "module reloaded", "Slicer exits"])
def test_a_job_whose_patient_leaves_is_cancelled_and_its_results_go_nowhere(module, harness, small_phantom,
                                                                            event):
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
        _volume(harness, small_phantom, "patient B")  # the next patient, in the new scene
    pump(1.0)  # let any late report of the killed job arrive
    segmentations = harness.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    assert segmentations == 0 and widget._results.outputs is None


@requires_torch
def test_a_failing_job_gives_its_one_line_and_no_traceback(module, harness, small_phantom, tmp_path, caplog):
    widget = module.widget
    tampered = tmp_path / "model.pt"
    tampered.write_bytes(b"not a model")
    widget._parameterNode.modelPath = tampered
    widget.ui.inputSelector.setCurrentNode(_volume(harness, small_phantom))
    with caplog.at_level(logging.ERROR):
        widget.ui.segmentButton.click()
        _wait_for_job(widget)
    shown = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert shown and "model.pt" in shown[-1] and "Traceback" not in shown[-1]
    assert widget._results.outputs is None and widget.ui.segmentButton.enabled


def test_an_unusable_input_is_refused_with_a_message_and_starts_no_job(module, harness, small_phantom, caplog):
    widget = module.widget
    volume = _volume(harness, small_phantom)
    harness.util.updateVolumeFromArray(volume, small_phantom.image.frames[0, :1])  # a single slice
    widget.ui.inputSelector.setCurrentNode(volume)
    with caplog.at_level(logging.ERROR):
        widget.ui.segmentButton.click()
    assert widget._jobs.job is None
    assert any("2D" in record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR)


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
    assert widget.ui.indicesTableView.mrmlTableNode() is None and "patient A" not in _log(widget)
    assert not widget.ui.refineButton.enabled and not widget.ui.exportButton.enabled


def test_an_implausible_result_is_said_aloud_and_marked(module, harness, small_phantom, caplog):
    from conftest import known_result
    from GmmSegLib.mrml.scene_outputs import IMPLAUSIBLE, REVIEW_ADVISED

    widget = module.widget
    volume = _volume(harness, small_phantom)
    result = known_result(small_phantom, [0])
    result.summary.update(implausible=["no LV cavity was segmented"], review_advised=True)
    with caplog.at_level(logging.WARNING):
        widget._results.take(volume, result, [])
    assert any("no LV cavity was segmented" in record.getMessage() for record in caplog.records)
    segmentation = widget._results.outputs.segmentation
    assert segmentation.GetAttribute(IMPLAUSIBLE) == "no LV cavity was segmented"
    assert segmentation.GetAttribute(REVIEW_ADVISED) == "true"


# ---- results that survive: a saved scene opened again, a reload, a segmentation brought by the user -------------
def _panel_state(widget) -> dict:
    """What the clinician sees of the result: review rows, the indices table, labels, the Accept stamp."""
    from GmmSegLib.mrml.logic import ACCEPTED

    outputs = widget._results.outputs
    table = outputs.indices_table.GetTable()
    return {"review": [dict(item) for item in widget._results.review.items],
            "indices": {table.GetValue(r, 0).ToString(): table.GetValue(r, 1).ToString()
                        for r in range(table.GetNumberOfRows())},
            "labels": widget.logic.sceneLogic().all_labels(outputs),
            "accepted": outputs.segmentation.GetAttribute(ACCEPTED)}


def _same_state(shown: dict, expected: dict) -> bool:
    return (shown["review"] == expected["review"] and shown["indices"] == expected["indices"]
            and np.array_equal(shown["labels"], expected["labels"]) and shown["accepted"] == expected["accepted"])


@pytest.mark.slow
@requires_torch
def test_a_cine_segmented_edited_accepted_and_saved_goes_on_after_the_scene_is_opened_again(module, harness,
                                                                                           tmp_path):
    """The clinician's path over two sittings, on a 20-frame cine: segment, edit, accept, save the scene, close it,
    open it, and go on (refine, undo, accept, export); then a module reload finds the result again too."""
    import json

    from GmmSegLib.io.phantom import make_cine_phantom
    from GmmSegLib.mrml.inputs import add_volume_nodes

    widget, ui = module.widget, module.widget.ui
    cine = add_volume_nodes(harness.mrmlScene, make_cine_phantom(frames=20, seed=5).image, "cine")
    ui.inputSelector.setCurrentNode(cine)
    ui.segmentButton.click()
    _wait_for_job(widget, timeout=600)
    outputs = widget._results.outputs
    assert outputs is not None and outputs.num_frames == 20
    click_background_in_the_lv(widget, outputs)
    ui.refineButton.click()
    ui.acceptButton.click()
    saved = _panel_state(widget)
    assert saved["accepted"] is not None and saved["review"] and "lv_ef" in saved["indices"]
    harness.util.saveScene(str(tmp_path / "patient.mrb"))

    harness.mrmlScene.Clear(0)  # File > Close scene
    assert widget._results.outputs is None and ui.reviewTable.rowCount == 0 and not ui.refineButton.enabled
    harness.util.loadScene(str(tmp_path / "patient.mrb"))  # File > Add data: the scene bundle
    assert widget._results.outputs is not None and ui.reviewTable.rowCount == len(saved["review"])
    assert _same_state(_panel_state(widget), saved)
    assert "Reviewing cine GmmSeg (accepted" in _log(widget)
    assert ui.refineButton.enabled and ui.rerunPriorButton.enabled and not ui.undoButton.enabled
    red = harness.mrmlScene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetForegroundVolumeID() == widget._results.outputs.uncertainty["total"].GetID()

    outputs = widget._results.outputs
    before = click_background_in_the_lv(widget, outputs)
    ui.refineButton.click()
    logic = widget.logic.sceneLogic()
    assert not np.array_equal(logic.current_labels(outputs), before) and ui.undoButton.enabled
    ui.undoButton.click()
    assert np.array_equal(logic.all_labels(outputs), saved["labels"])
    ui.acceptButton.click()
    widget._parameterNode.exportFolder = tmp_path / "export"
    (tmp_path / "export").mkdir()
    ui.exportButton.click()
    exported = json.loads((tmp_path / "export" / "cine_indices.json").read_text())
    assert f"{exported['lv_ef']:.4g}" == saved["indices"]["lv_ef"]  # the indices are those saved
    assert _panel_state(widget)["indices"] == saved["indices"]

    harness.util.reloadScriptedModule(module.name)  # Reload: a new widget finds the same result
    reloaded = module.widget
    assert reloaded is not widget and reloaded._results.outputs is not None
    assert reloaded._results.outputs.segmentation is outputs.segmentation
    assert np.array_equal(reloaded.logic.sceneLogic().all_labels(reloaded._results.outputs), saved["labels"])


@requires_torch
def test_a_segmentation_brought_by_the_user_is_reviewed_refined_and_measured(module, harness, small_phantom):
    from GmmSegLib.mrml.nodes import new_segmentation, register_segmentation_converters

    widget, ui = module.widget, module.widget.ui
    volume = _volume(harness, small_phantom)
    ui.inputSelector.setCurrentNode(volume)
    register_segmentation_converters()
    mine = new_segmentation("drawn by hand", volume, small_phantom.labels[0])  # segments LV, MYO, RV
    harness.mrmlScene.AddNode(mine)
    mine.CreateDefaultDisplayNodes()
    assert not ui.reviewSegmentationButton.enabled
    ui.reviewSegmentationSelector.setCurrentNode(mine)
    assert widget._parameterNode.reviewSegmentation is mine and ui.reviewSegmentationButton.enabled
    ui.reviewSegmentationButton.click()
    outputs = widget._results.outputs
    assert outputs is not None and outputs.segmentation is not mine and outputs.input_node is volume
    assert "has no uncertainty maps" in _log(widget)
    assert ui.reviewTable.rowCount > 0 and ui.reviewTable.item(0, 3).text() == "n/a"
    assert ui.refineButton.enabled and ui.acceptButton.enabled and ui.exportButton.enabled
    assert not ui.rerunPriorButton.enabled and not ui.applyPriorSlidersButton.enabled  # no prior to move
    red = harness.mrmlScene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetBackgroundVolumeID() == volume.GetID() and red.GetForegroundVolumeID() is None
    assert float(_panel_state(widget)["indices"]["LV volume (ml)"]) > 0
    before = click_background_in_the_lv(widget, outputs)
    ui.refineButton.click()
    assert not np.array_equal(widget.logic.sceneLogic().current_labels(outputs), before)  # its labels guide it
    assert "Refined LV" in _log(widget)
