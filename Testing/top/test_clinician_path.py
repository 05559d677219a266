"""The clinician's whole path through the module (../shared/reviews/slicer-module-audit-2.md, section 4), as one test
in the Slicer harness, on a 20-frame cine, over two sittings.

First sitting: load the cine, segment it, review a row, refine with a click, undo, edit in the Segment Editor (the
indices follow; the module's Redo and Undo keep that edit; the Segment Editor's own Undo takes it back), move the prior
and re-run, refine the new result, accept, read the indices, export, save the scene. Second sitting: open the saved
scene, find everything as it was left, and go on: refine, undo, redo, accept, export, and a module reload.

Each step checks what the clinician sees: the labels where the click or the brush went, the exact labels after Undo,
the indices table against :func:`GmmSegLib.clinical.indices.clinical_indices` on the labels as they are, the exported
files against the accepted labels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from panel_steps import (
    click_background_in_the_lv,
    indices_shown,
    paint_in_segment_editor,
    panel_log,
    panel_state,
    review_row_shows_its_frame_and_slice,
    same_state,
    wait_for_job,
)

from conftest import requires_torch

FRAMES = 20


def _clinical_indices(labels: np.ndarray, spacing, outputs=None) -> dict:
    """What the module must report for ``labels``; with ``outputs``, also the EF ranges and the model's confidence
    in each slice limit, from the class probabilities the scene keeps for that result."""
    from GmmSegLib.clinical.indices import clinical_indices

    kept = None if outputs is None else np.stack([outputs.class_probabilities(t) for t in range(outputs.num_frames)])
    return clinical_indices(labels, spacing, probabilities=kept).to_dict()


def _assert_table_shows(widget, indices: dict) -> None:
    """The panel's indices table reads ``indices`` (a clinical_indices record), to the 4 digits it shows."""
    from GmmSegLib.clinical.indices import index_label, scalar_indices

    shown = indices_shown(widget)
    for key, value in scalar_indices(indices).items():
        if isinstance(value, float):
            assert float(shown[index_label(key)]) == pytest.approx(value, rel=5e-4), key
        else:
            assert shown[index_label(key)] == ("n/a" if value is None else str(value)), key


def _click_voxel(widget, outputs) -> tuple[int, int, int]:
    """The voxel (z, y, x) of the shown frame under the background click placed."""
    from GmmSegLib.mrml.nodes import ijk_to_ras

    world = widget._parameterNode.backgroundPoints.GetNthControlPointPositionWorld(0)
    i, j, k = np.rint(np.linalg.inv(ijk_to_ras(outputs.shown_volume)) @ np.append(world, 1.0))[:3].astype(int)
    return int(k), int(j), int(i)


def _refine_at_a_click(widget, outputs) -> tuple[np.ndarray, np.ndarray, int]:
    """A background click in the LV and Refine: the frame's labels before and after, and the slice clicked. Only that
    slice of that frame changes, and the clicked voxel is no longer LV."""
    logic = widget.logic.sceneLogic()
    others = np.delete(logic.all_labels(outputs), outputs.current_frame, axis=0)
    before = click_background_in_the_lv(widget, outputs)
    z, y, x = _click_voxel(widget, outputs)
    widget.ui.refineButton.click()
    after = logic.current_labels(outputs)
    assert before[z, y, x] == 1 and after[z, y, x] != 1  # the blood pool is gone where the clinician clicked
    assert not np.array_equal(after[z], before[z]) and np.array_equal(np.delete(after, z, 0), np.delete(before, z, 0))
    assert np.array_equal(np.delete(logic.all_labels(outputs), outputs.current_frame, axis=0), others)
    assert widget.ui.undoButton.enabled and not widget.ui.redoButton.enabled
    return before, after, z


def _paint_the_lv_wider(widget, harness, outputs, spared_slice: int):
    """In the Segment Editor, paint the LV 2 pixels wider on the slice with the most LV but ``spared_slice``; the
    frame's labels expected after it, and the editor."""
    from scipy import ndimage

    logic = widget.logic.sceneLogic()
    labels = logic.current_labels(outputs)
    lv_area = (labels == 1).sum(axis=(1, 2))
    lv_area[spared_slice] = -1
    z = int(np.argmax(lv_area))
    mask = np.zeros(labels.shape, bool)
    mask[z] = ndimage.binary_dilation(labels[z] == 1, iterations=2)
    expected = labels.copy()
    expected[mask] = 1
    assert (expected != labels).sum() > 0
    editor = paint_in_segment_editor(harness.mrmlScene, outputs.segmentation, outputs.shown_volume, "LV", mask)
    assert np.array_equal(logic.current_labels(outputs), expected)  # painted in place, over MYO and RV
    return expected, editor


def _sitting_one_up_to_the_rerun(module, harness, browser, spacing) -> None:
    """Segment, review, refine, undo and a Segment Editor edit on the ED frame, with Redo and both Undos after it."""
    from slicer_harness import wait_until

    widget, ui = module.widget, module.widget.ui
    ui.inputSelector.setCurrentNode(browser)
    ui.segmentButton.click()
    wait_for_job(widget, timeout=600)
    outputs = widget._results.outputs
    assert outputs is not None and outputs.input_node is browser and outputs.num_frames == FRAMES
    red = harness.mrmlScene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetBackgroundVolumeID() == outputs.shown_volume.GetID()
    assert red.GetForegroundVolumeID() == outputs.uncertainty["total"].GetID()
    logic = widget.logic.sceneLogic()
    model = logic.all_labels(outputs)
    _assert_table_shows(widget, _clinical_indices(model, spacing))

    review_row_shows_its_frame_and_slice(widget, harness, browser, outputs)
    browser.SetSelectedItemNumber(int(indices_shown(widget)["ED frame"]))  # the Sequences toolbar: the ED frame
    segmented = indices_shown(widget)
    before, refined, clicked = _refine_at_a_click(widget, outputs)
    assert indices_shown(widget) != segmented
    _assert_table_shows(widget, _clinical_indices(logic.all_labels(outputs), spacing))
    ui.undoButton.click()
    assert np.array_equal(logic.all_labels(outputs), model) and indices_shown(widget) == segmented
    assert not ui.undoButton.enabled and ui.redoButton.enabled

    painted, editor = _paint_the_lv_wider(widget, harness, outputs, clicked)
    wait_until(lambda: indices_shown(widget) != segmented, timeout=5)  # the table follows the Segment Editor
    assert float(indices_shown(widget)["LV EDV (ml)"]) > float(segmented["LV EDV (ml)"])
    _assert_table_shows(widget, _clinical_indices(logic.all_labels(outputs), spacing))
    ui.redoButton.click()  # the refinement comes back beside the Segment Editor's edit ...
    both = painted.copy()
    both[clicked] = refined[clicked]
    assert np.array_equal(logic.current_labels(outputs), both)
    ui.undoButton.click()  # ... and goes again, leaving that edit
    assert np.array_equal(logic.current_labels(outputs), painted)
    assert editor.CanUndo()
    editor.Undo()  # the Segment Editor's own Undo
    assert np.array_equal(logic.current_labels(outputs), before)
    wait_until(lambda: indices_shown(widget) == segmented, timeout=5)


def _move_the_prior_and_rerun(module, harness, browser):
    """Move the prior with the sliders and re-run: the result is replaced (it was not accepted), and the moved prior
    changes the labels; the new result's outputs."""
    from GmmSegLib.model.phi import Phi

    widget, ui = module.widget, module.widget.ui
    logic = widget.logic.sceneLogic()
    first = widget._results.outputs
    parameters = widget._parameterNode
    parameters.priorShiftX, parameters.priorShiftY = 12.0, -8.0
    ui.applyPriorSlidersButton.click()
    moved = Phi.from_parameters(1.0, 12.0, -8.0, 0.0).array()
    assert logic.phi_from_transform(first).array() == pytest.approx(moved, abs=1e-4)  # the transform moved there
    ui.rerunPriorButton.click()
    arguments = list(widget._jobs.job.console.process.args)
    assert widget._jobs.job.input_node is browser
    assert Phi.parse(arguments[arguments.index("--phi") + 1]).array() == pytest.approx(moved, abs=1e-4)
    wait_for_job(widget, timeout=600)
    outputs = widget._results.outputs
    assert outputs is not first and outputs.input_node is browser
    assert not harness.mrmlScene.IsNodePresent(first.segmentation)  # not accepted: replaced
    assert not np.array_equal(outputs.result.labels, first.result.labels)  # the prior acts at inference
    assert np.array_equal(logic.all_labels(outputs), outputs.result.labels)
    assert not ui.undoButton.enabled and not ui.redoButton.enabled  # a new result, a new history
    return outputs


def _accept(module, outputs) -> str:
    """Accept (undoable, redoable): the stamps, one hidden audit copy; the stamp. Undo gives back the stamp of an
    earlier Accept, if any."""
    from GmmSegLib.mrml.logic import ACCEPTED, MODEL_STAMP

    widget, ui = module.widget, module.widget.ui
    scene = outputs.segmentation.GetScene()
    earlier = outputs.segmentation.GetAttribute(ACCEPTED)
    ui.acceptButton.click()
    stamp = outputs.segmentation.GetAttribute(ACCEPTED)
    assert stamp is not None and outputs.segmentation.GetAttribute(MODEL_STAMP).endswith(
        outputs.result.summary.model.sha256
    )
    audits = [
        scene.GetNthNode(i)
        for i in range(scene.GetNumberOfNodes())
        if scene.GetNthNode(i).GetAttribute("GmmSeg.Role") == "original"
    ]
    assert audits == [outputs.node_of("original")]
    assert not outputs.browser.IsSynchronizedSequenceNodeID(audits[0].GetID(), True)  # never drawn
    ui.undoButton.click()
    assert outputs.segmentation.GetAttribute(ACCEPTED) == earlier
    ui.redoButton.click()
    assert outputs.segmentation.GetAttribute(ACCEPTED) is not None
    assert "Accepted" in panel_log(widget)
    return outputs.segmentation.GetAttribute(ACCEPTED)


def _export(widget, folder, labels: np.ndarray, spacing) -> None:
    """Export: the segmentation of every frame with the accepted labels, the three uncertainty maps and the indices
    of those labels."""
    import SimpleITK as sitk

    folder.mkdir()
    widget._parameterNode.exportFolder = folder
    widget.ui.exportButton.click()
    written = {path.name for path in folder.iterdir()}
    # the names gmmseg segment gives the same maps
    assert written == {
        "cine_seg.nii.gz",
        "cine_indices.json",
        "cine_uncertainty.nii.gz",
        "cine_aleatoric.nii.gz",
        "cine_epistemic.nii.gz",
    }
    exported = sitk.ReadImage(str(folder / "cine_seg.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(exported), labels)
    indices = json.loads((folder / "cine_indices.json").read_text())
    assert indices == json.loads(json.dumps(_clinical_indices(labels, spacing, widget._results.outputs)))
    _assert_table_shows(widget, indices)


def _sitting_two(module, harness, saved: dict, spacing, tmp_path) -> None:
    """The saved scene opened: as it was left, with a fresh Undo history; then refine, undo, redo, accept, export."""
    widget, ui = module.widget, module.widget.ui
    harness.mrmlScene.Clear(0)  # File > Close scene
    assert widget._results.outputs is None and ui.reviewTable.rowCount == 0 and not ui.refineButton.enabled
    harness.util.loadScene(str(tmp_path / "patient.mrb"))
    outputs = widget._results.outputs
    assert outputs is not None and same_state(panel_state(widget), saved)
    assert ui.reviewTable.rowCount == len(saved["review"]) and "Reviewing cine GmmSeg (accepted" in panel_log(widget)
    assert ui.refineButton.enabled and ui.rerunPriorButton.enabled
    assert not ui.undoButton.enabled and not ui.redoButton.enabled  # the Undo history starts afresh
    red = harness.mrmlScene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert red.GetForegroundVolumeID() == outputs.uncertainty["total"].GetID()

    logic = widget.logic.sceneLogic()
    _, refined, _ = _refine_at_a_click(widget, outputs)
    ui.undoButton.click()
    assert np.array_equal(logic.all_labels(outputs), saved["labels"]) and indices_shown(widget) == saved["indices"]
    assert not ui.undoButton.enabled  # nothing from before the scene was opened
    ui.redoButton.click()
    assert np.array_equal(logic.current_labels(outputs), refined)
    final = logic.all_labels(outputs)
    _assert_table_shows(widget, _clinical_indices(final, spacing))
    assert _accept(module, outputs) is not None
    _export(widget, tmp_path / "second export", final, spacing)

    harness.util.reloadScriptedModule(module.name)  # Reload: a new widget takes up the same result
    reloaded = module.widget
    assert reloaded is not widget and reloaded._results.outputs.segmentation is outputs.segmentation
    assert np.array_equal(reloaded.logic.sceneLogic().all_labels(reloaded._results.outputs), final)


@pytest.mark.slow
@requires_torch
def test_the_clinicians_whole_path_on_a_20_frame_cine_over_two_sittings(module, harness, tmp_path):
    from GmmSegLib.io.phantom import make_cine_phantom
    from GmmSegLib.mrml.inputs import add_volume_nodes

    image = make_cine_phantom(frames=FRAMES, seed=5).image
    spacing = image.spacing_xyz
    browser = add_volume_nodes(harness.mrmlScene, image, "cine")  # a cine loaded as a volume sequence
    _sitting_one_up_to_the_rerun(module, harness, browser, spacing)
    outputs = _move_the_prior_and_rerun(module, harness, browser)
    widget = module.widget
    _refine_at_a_click(widget, outputs)
    _accept(module, outputs)
    accepted = widget.logic.sceneLogic().all_labels(outputs)
    _assert_table_shows(widget, _clinical_indices(accepted, spacing))
    _export(widget, tmp_path / "first export", accepted, spacing)
    saved = panel_state(widget)
    assert harness.util.saveScene(str(tmp_path / "patient.mrb"))
    _sitting_two(module, harness, saved, spacing, tmp_path)
