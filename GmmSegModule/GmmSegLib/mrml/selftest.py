"""The module's end-to-end logic test, one body for pytest (bare MRML scene) and Slicer's self-test.

It segments a generated phantom volume and a phantom cine through :class:`GmmSegLogic` with the
shipped model and checks what a clinician would see: the segmentation node and its segments, geometry
equal to the input, uncertainty and prior nodes, the clinical indices (the phantom's ED and ES are
known), the review queue, an undoable click refinement, accepting, re-registering the prior, and export.
Failures raise ``AssertionError`` with what was wrong.
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import numpy as np

from ..core.labels import STRUCTURES
from ..io.phantom import make_cine_phantom
from ..model.phi import Phi


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def run_logic_self_test(scene, work_folder: str | Path, device: str = "cpu") -> dict:
    """Run the whole workflow on ``scene``; returns a few measured values for the caller to report."""
    from .inputs import add_volume_nodes
    from .logic import GmmSegLogic

    phantom = make_cine_phantom(frames=4, slices=8, es_frame=2, seed=1)
    logic = GmmSegLogic(scene)
    volume_node = add_volume_nodes(scene, phantom.image.frame_volume(0), "phantom ED")
    outputs = logic.process(volume_node, device=device)
    dice = _check_volume_outputs(logic, outputs, volume_node, phantom)
    changed = _check_refinement_and_undo(logic, outputs, volume_node)
    _check_accept(logic, outputs)
    changed_fraction = _check_reregistration(logic, outputs, volume_node, device)
    indices = _check_cine(logic, add_volume_nodes(scene, phantom.image, "phantom cine"), phantom, device, work_folder)
    return {
        "phantom_dice": dice,
        "changed_voxels": changed,
        "far_prior_changed_fraction": changed_fraction,
        "lv_ef": indices["lv_ef"],
    }


def _check_volume_outputs(logic, outputs, volume_node, phantom) -> dict:
    """A 3D stack's outputs: segments and terminology, accuracy on the phantom, every map on the input's grid,
    the prior under its transform, the indices, the review queue most uncertain first."""
    import vtk

    from ..evaluation.folders import evaluate_pair

    segmentation = outputs.segmentation.GetSegmentation()
    _check(
        [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())] == list(STRUCTURES),
        "segment IDs must be LV, MYO, RV in that order",
    )
    tag = vtk.reference("")
    segmentation.GetSegment("MYO").GetTag(segmentation.GetSegment("MYO").GetTerminologyEntryTagName(), tag)
    _check("74281007" in str(tag), f"myocardium terminology tag missing: {tag}")
    dice = evaluate_pair(logic.current_labels(outputs), phantom.labels[0], phantom.image.spacing_xyz)
    _check(dice["LV_dice"] > 0.8, f"LV Dice on the phantom is {dice['LV_dice']:.3f}")
    for node in list(outputs.uncertainty.values()) + [outputs.prior]:
        matrix_in, matrix_out = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
        volume_node.GetIJKToRASMatrix(matrix_in)
        node.GetIJKToRASMatrix(matrix_out)
        _check(
            all(
                abs(matrix_in.GetElement(r, c) - matrix_out.GetElement(r, c)) < 1e-6 for r in range(4) for c in range(4)
            ),
            f"{node.GetName()} is not on the input's grid",
        )
    _check(outputs.prior.GetParentTransformNode() is outputs.prior_transform, "the prior must sit under its transform")
    _check(outputs.indices_table.GetNumberOfRows() >= 4, "the indices table is empty")
    items = logic.review_items(outputs)
    order = [(item["slice_score"], item["score"]) for item in items]
    _check(
        len(items) > 0 and all(a >= b for a, b in pairwise(order)),
        "review items must be sorted by estimated slice error, then by region mass",
    )
    return dice


def _check_refinement_and_undo(logic, outputs, volume_node) -> int:
    """A background click in the middle of the LV removes LV there, on that slice only; undo, redo, undo."""
    import vtk

    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 1)
    centre = (int(np.median(xs)), int(np.median(ys)))
    ijk_to_ras = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(ijk_to_ras)
    click = list(ijk_to_ras.MultiplyPoint((centre[0], centre[1], z, 1.0))[:3])
    changed = logic.refine(outputs, "LV", [], [click])
    after = logic.current_labels(outputs)
    _check(changed > 0 and after[z, centre[1], centre[0]] != 1, "a background click must remove LV under it")
    _check(
        np.array_equal(after[np.arange(after.shape[0]) != z], labels[np.arange(labels.shape[0]) != z]),
        "refinement must leave other slices alone",
    )
    logic.undo(outputs)
    _check(np.array_equal(logic.current_labels(outputs), labels), "undo must restore the labels")
    logic.redo(outputs)
    _check(np.array_equal(logic.current_labels(outputs), after), "redo must repeat the refinement")
    logic.undo(outputs)
    return changed


def _check_accept(logic, outputs) -> None:
    """Accept stamps the segmentation with time and model and keeps the model's output, hidden, for audit."""
    from .inputs import ROLE
    from .logic import ACCEPTED, MODEL_STAMP

    original = logic.accept(outputs)
    _check(outputs.segmentation.GetAttribute(ACCEPTED) is not None, "accepted result must be stamped")
    _check(
        outputs.segmentation.GetAttribute(MODEL_STAMP).endswith(outputs.result.summary.model.sha256),
        "the stamp must name the model's sha256",
    )
    _check(original.GetAttribute(ROLE) == "original", "the audit copy must be tagged")
    _check(
        not original.GetDisplayNode().GetVisibility() and not original.GetHideFromEditors(),
        "the audit copy must be hidden from the views and listed in the data tree",
    )


def _check_reregistration(logic, outputs, volume_node, device: str) -> float:
    """The transform round-trips phi, a far-off phi changes the result, the automatic one reproduces it, and the
    re-runs' nodes can be removed; returns the share of voxels the far-off prior changed."""
    scene = logic.scene
    automatic = logic.phi_from_transform(outputs)
    far = Phi(
        automatic.log_scale + math.log(1.4), automatic.tx_mm + 25.0, automatic.ty_mm - 20.0, automatic.rotation_rad
    )
    logic.set_transform_from_phi(outputs, far)
    _check(
        np.allclose(logic.phi_from_transform(outputs).array(), far.array(), atol=1e-3),
        "phi must round-trip through the transform",
    )
    moved = logic.process(volume_node, device=device, phi=logic.phi_from_transform(outputs))
    changed_fraction = float((moved.result.labels != outputs.result.labels).mean())
    _check(changed_fraction > 0.001, "a far-off prior must change the result through the model")
    again = logic.process(volume_node, device=device, phi=automatic)
    _check(
        np.array_equal(again.result.labels, outputs.result.labels),
        "re-applying the automatic phi must reproduce the output",
    )
    nodes_before = scene.GetNumberOfNodes()
    logic.remove_outputs(moved)
    logic.remove_outputs(again)
    _check(
        scene.GetNumberOfNodes() < nodes_before and not scene.IsNodePresent(moved.segmentation),
        "a replaced re-run's nodes must leave the scene",
    )
    return changed_fraction


def _check_cine(logic, browser, phantom, device: str, work_folder: str | Path) -> dict:
    """A cine in a sequence browser: one segmentation sequence shown through the browser's proxy, ED and ES
    found, the volume plot, the export; returns the indices."""
    cine = logic.process(browser, device=device)
    sequence = cine.sequences["segmentation"]
    _check(
        sequence.GetNumberOfDataNodes() == phantom.image.num_frames,
        "the segmentation sequence needs one item per frame",
    )
    _check(
        browser.IsSynchronizedSequenceNodeID(sequence.GetID(), False)
        and browser.GetProxyNode(sequence) is cine.segmentation,
        "the shown segmentation must be the browser's proxy of the segmentation sequence",
    )
    _check(
        logic.scene.IsNodePresent(cine.shown_volume)
        and cine.segmentation.GetNodeReference(cine.segmentation.GetReferenceImageGeometryReferenceRole())
        is cine.shown_volume,
        "the cine's segmentation must refer to the input's proxy volume of the main scene",
    )
    indices = logic.update_indices(cine)
    _check(
        indices["ed_frame"] == 0 and indices["es_frame"] == phantom.es_frame,
        f"ED/ES found as {indices['ed_frame']}/{indices['es_frame']}",
    )
    _check(cine.plot_chart is not None and cine.plot_chart.GetNumberOfPlotSeriesNodes() == 2, "volume plot missing")
    written = logic.export(cine, work_folder)
    _check(any(p.name.endswith("_seg.nii.gz") for p in written), "export must write the segmentation")
    return indices
