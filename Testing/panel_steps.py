"""What a clinician does in the module panel and what it shows, shared by the GUI and MRML tests and
``benchmarks/bench_gui.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from GmmSegLib.clinical.reader_choices import ReaderChoices


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


def paint_in_segment_editor(scene, segmentation, source_volume, segment_id: str, mask: np.ndarray):
    """Paint ``mask`` (Z, Y, X on ``source_volume``'s grid) into segment ``segment_id`` as the Segment Editor's Paint
    effect does in Slicer 5.10 and 5.12: the editor logic (vtkSlicerSegmentEditorLogic, behind
    qSlicerSegmentEditorAbstractEffect::modifySegmentByLabelmap) saves its state for its own Undo, then modifies the
    segment in place in Add mode, taking the voxels from the other segments (the editor node's default overwrite
    mode). Returns the editor logic, whose ``Undo()`` is the Segment Editor's Undo button."""
    import slicer
    from vtk.util.numpy_support import numpy_to_vtk

    from GmmSegLib.mrml.nodes import ijk_to_ras_matrix

    if not scene.IsNodeClassRegistered("vtkMRMLSegmentEditorNode"):
        scene.RegisterNodeClass(slicer.vtkMRMLSegmentEditorNode())  # what the Segmentations module registers
    editor = slicer.vtkSlicerSegmentEditorLogic()
    editor.SetMRMLScene(scene)
    editor.SetSegmentEditorNode(scene.AddNewNodeByClass("vtkMRMLSegmentEditorNode"))
    editor.SetSegmentationNode(segmentation)
    editor.SetSourceVolumeNode(source_volume)
    modifier = slicer.vtkOrientedImageData()
    modifier.SetDimensions(*mask.shape[::-1])
    modifier.SetImageToWorldMatrix(ijk_to_ras_matrix(source_volume))
    modifier.GetPointData().SetScalars(numpy_to_vtk(np.ascontiguousarray(mask, np.uint8).ravel(), deep=True))
    assert editor.SaveStateForUndo()
    editor.ModifySegmentByLabelmap(
        segmentation, segment_id, modifier, editor.ModificationModeAdd, modifier.GetExtent(), True, False
    )
    return editor


def wait_for_job(widget, timeout: float = 300.0) -> None:
    """Run the event loop until the panel's job has finished and its results are shown."""
    from slicer_harness import wait_until

    wait_until(lambda: widget._jobs.job is None, timeout=timeout)


def panel_log(widget) -> str:
    return widget.ui.logTextEdit.toPlainText()


def indices_shown(widget) -> dict[str, str]:
    """The indices table of the panel, as its cells read."""
    table = widget.ui.indicesTableView.mrmlTableNode()
    return {table.GetCellText(row, 0): table.GetCellText(row, 1) for row in range(table.GetNumberOfRows())}


def panel_state(widget) -> dict:
    """What the clinician sees of the result: review rows, the indices table, labels, the Accept stamp."""
    from GmmSegLib.mrml.logic import ACCEPTED

    outputs = widget._results.outputs
    return {
        "review": [dict(item) for item in widget._results.review.items],
        "indices": indices_shown(widget),
        "labels": widget.logic.sceneLogic().all_labels(outputs),
        "accepted": outputs.segmentation.GetAttribute(ACCEPTED),
    }


def same_state(shown: dict, expected: dict) -> bool:
    """Whether two :func:`panel_state` records show the same result."""
    return (
        shown["review"] == expected["review"]
        and shown["indices"] == expected["indices"]
        and np.array_equal(shown["labels"], expected["labels"])
        and shown["accepted"] == expected["accepted"]
    )


def place_with(place_widget, ras) -> None:
    """Press a click placer's place button and click at ``ras`` in a view: the point goes to the node the placer
    holds, and the placer leaves place mode (a one-time place), as in Slicer."""
    from slicer_harness.views import click_in_view

    place_widget.placeButton().click()
    if click_in_view(place_widget.mrmlScene(), ras) is None:
        raise AssertionError(f"the click placer of {place_widget.currentNode()} did not place a point")


def review_row_shows_its_frame_and_slice(widget, harness, browser, outputs) -> dict:
    """Selecting a review row of another frame than the shown one brings that frame and slice into view; the row's
    item."""
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
    return item


def review_brought_segmentation(widget, harness, small_phantom):
    """A segmentation drawn elsewhere (segments LV, MYO, RV on the phantom's first frame) taken up for review through
    the panel's selector and button; the outputs it gives."""
    from GmmSegLib.mrml.inputs import add_volume_nodes
    from GmmSegLib.mrml.nodes import new_segmentation, register_segmentation_converters

    ui = widget.ui
    volume = add_volume_nodes(harness.mrmlScene, small_phantom.image.frame_volume(0), "ED")
    ui.inputSelector.setCurrentNode(volume)
    register_segmentation_converters()
    mine = new_segmentation("drawn by hand", volume, small_phantom.labels[0])
    harness.mrmlScene.AddNode(mine)
    mine.CreateDefaultDisplayNodes()
    assert not ui.reviewSegmentationButton.enabled
    ui.reviewSegmentationSelector.setCurrentNode(mine)
    assert widget._parameterNode.reviewSegmentation is mine and ui.reviewSegmentationButton.enabled
    ui.reviewSegmentationButton.click()
    outputs = widget._results.outputs
    assert outputs is not None and outputs.segmentation is not mine and outputs.input_node is volume
    return outputs


def model_with_click_refiner(folder):
    """A models folder whose default model (untrained, seeded) has a click refiner, with its Models.json."""
    import json

    import torch

    from GmmSegLib.model.bundle import GmmSegModel, save_model

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    sha256 = save_model(GmmSegModel(handedness=False, refiner=True), folder / "with_refiner.pt")
    (folder / "Models.json").write_text(
        json.dumps({"schema": 1, "default": "r", "models": [{"id": "r", "file": "with_refiner.pt", "sha256": sha256}]})
    )


# ---- the indices table (the reader's confirmation, on the scene and in the panel) --------------------------------
def table_rows(outputs) -> dict[str, str]:
    """The indices table as the clinician reads it: index -> value."""
    table = outputs.indices_table
    return {table.GetCellText(row, 0): table.GetCellText(row, 1) for row in range(table.GetNumberOfRows())}


def kept(result) -> np.ndarray:
    """The result's probabilities as the scene keeps them (core.probability_steps)."""
    from GmmSegLib.core.probability_steps import probabilities_as_read, stored_probabilities

    return probabilities_as_read(stored_probabilities(result.probabilities))


def expected_rows(result, choices: ReaderChoices | None = None) -> dict[str, str]:
    """What the table must show of clinical_indices with ``choices`` and the probabilities kept in the scene."""
    from GmmSegLib.clinical.indices import clinical_indices
    from GmmSegLib.mrml.indices_nodes import NO_READER_CHOICE

    spacing = result.summary.spacing_mm
    indices = clinical_indices(result.labels, spacing, choices=choices, probabilities=kept(result))
    low, high = indices.lv_ef_range
    return {
        "ED frame": str(indices.ed_frame),
        "ES frame": str(indices.es_frame),
        "LVEF (%)": f"{indices.lv_ef:.4g}",
        "LV ESV (ml)": f"{indices.lv_esv:.4g}",
        "LVEF range (%)": f"{low:.1f} - {high:.1f}",
        "reader's choices": "; ".join(indices.manual_choices) or NO_READER_CHOICE,
    }


def shown_rows(outputs, expected: dict[str, str]) -> dict[str, str]:
    table = table_rows(outputs)
    return {key: table.get(key) for key in expected}
