"""A result in the scene as a clinician meets it: cine proxies, edits kept, undo, Accept, clean removal, transforms.

On a real MRML scene from slicer-core with the Sequences logic observing it, as the application has it.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import vtk

slicer = pytest.importorskip("slicer", reason="slicer-core (pip install slicer-core) provides MRML")

from conftest import known_result  # noqa: E402
from GmmSegLib.core.errors import GmmSegError  # noqa: E402
from GmmSegLib.mrml.inputs import add_volume_nodes, cine_of, default_input  # noqa: E402
from GmmSegLib.mrml.logic import ACCEPTED, GmmSegLogic  # noqa: E402
from GmmSegLib.mrml.nodes import read_labels, write_labels  # noqa: E402

# what one segmented cine adds to a scene (README, "In 3D Slicer"): 5 synchronised sequences (segmentation,
# 3 uncertainty kinds, prior) and the browser's proxies of them with their display and storage nodes, the prior
# transform, the indices and volume-curve tables, the volume plot and its two series, the shared colour table,
# and the record kept for taking the result up again (summary text, model labels and probabilities sequences)
CINE_OUTPUTS = {
    "vtkMRMLSequenceNode": 7,
    "vtkMRMLTextNode": 1,
    "vtkMRMLSegmentationNode": 1,
    "vtkMRMLSegmentationDisplayNode": 1,
    "vtkMRMLSegmentationStorageNode": 1,
    "vtkMRMLScalarVolumeNode": 4,
    "vtkMRMLScalarVolumeDisplayNode": 4,
    "vtkMRMLVolumeArchetypeStorageNode": 4,
    "vtkMRMLLinearTransformNode": 1,
    "vtkMRMLTableNode": 2,
    "vtkMRMLPlotChartNode": 1,
    "vtkMRMLPlotSeriesNode": 2,
    "vtkMRMLColorTableNode": 1,
}


@pytest.fixture
def scene():
    scene = slicer.vtkMRMLScene()
    sequences = slicer.vtkSlicerSequencesLogic()  # the Sequences module's logic, which updates the proxies
    sequences.SetMRMLScene(scene)
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    yield scene
    scene.Clear(True)


@pytest.fixture(scope="module")
def cine_result(small_phantom):
    return known_result(small_phantom)


@pytest.fixture
def refinement():
    """Click refinement runs torch (the geodesic distance) in Slicer's process."""
    pytest.importorskip("torch", reason="click refinement needs torch")


def _ids(scene) -> set[str]:
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def _added_classes(scene, before: set[str]) -> dict[str, int]:
    return dict(
        collections.Counter(
            scene.GetNthNode(i).GetClassName()
            for i in range(scene.GetNumberOfNodes())
            if scene.GetNthNode(i).GetID() not in before
        )
    )


def test_a_cine_is_shown_and_edited_through_main_scene_nodes(scene, small_phantom, cine_result):
    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    outputs = GmmSegLogic(scene).add_outputs(browser, cine_result)
    master_proxy = browser.GetProxyNode(browser.GetMasterSequenceNode())
    assert outputs.shown_volume is master_proxy and scene.IsNodePresent(master_proxy)
    for node in (outputs.segmentation, outputs.prior, *outputs.uncertainty.values()):
        assert scene.IsNodePresent(node) and browser.IsProxyNodeID(node.GetID()), node.GetName()
    reference = outputs.segmentation.GetNodeReference(outputs.segmentation.GetReferenceImageGeometryReferenceRole())
    assert reference is master_proxy
    assert browser.GetSelectedItemNumber() == cine_result.frame_of_interest


def test_edits_on_the_shown_frame_are_kept_when_browsing(scene, small_phantom, cine_result):
    """What the Segment Editor does: it edits the proxy segmentation of the frame shown."""
    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    outputs = GmmSegLogic(scene).add_outputs(browser, cine_result)
    edited = cine_result.labels[0].copy()
    edited[2] = 0
    write_labels(outputs.segmentation, outputs.shown_volume, edited)
    browser.SetSelectedItemNumber(1)
    assert np.array_equal(read_labels(outputs.segmentation, outputs.shown_volume), cine_result.labels[1])
    browser.SetSelectedItemNumber(0)
    assert np.array_equal(read_labels(outputs.segmentation, outputs.shown_volume), edited)
    assert np.array_equal(GmmSegLogic(scene).all_labels(outputs)[0], edited)


def test_refine_on_another_frame_undo_redo_and_accept(scene, small_phantom, cine_result, refinement):
    logic = GmmSegLogic(scene)
    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    outputs = logic.add_outputs(browser, cine_result)
    frame = small_phantom.es_frame
    logic.show_frame(outputs, frame)
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 1)
    click = logic.world_position(outputs, (float(np.median(xs)), float(np.median(ys)), float(z)), frame)
    changed = logic.refine(outputs, "LV", [], [click])
    refined = logic.current_labels(outputs)
    assert changed > 0 and not np.array_equal(refined, labels)
    logic.show_frame(outputs, 0)
    assert np.array_equal(logic.current_labels(outputs, frame), refined)  # kept in the item while another is shown
    assert logic.undo(outputs) == "Refine LV"
    assert browser.GetSelectedItemNumber() == frame  # undo shows the frame it changes
    assert np.array_equal(logic.current_labels(outputs), labels)
    logic.redo(outputs)
    assert np.array_equal(logic.current_labels(outputs), refined)
    logic.accept(outputs)
    assert outputs.segmentation.GetAttribute(ACCEPTED) is not None
    logic.show_frame(outputs, 1)  # the stamp is on every frame's item, so the proxy keeps it when browsing
    assert outputs.segmentation.GetAttribute(ACCEPTED) is not None
    audit = outputs.node_of("original")
    assert isinstance(audit, slicer.vtkMRMLSequenceNode)
    assert audit.GetNumberOfDataNodes() == small_phantom.image.num_frames
    assert not browser.IsSynchronizedSequenceNodeID(audit.GetID(), True)  # never drawn
    assert logic.undo(outputs) == "Accept"
    assert outputs.segmentation.GetAttribute(ACCEPTED) is None and not scene.IsNodePresent(audit)
    assert logic.undo(outputs) == "Refine LV"
    with pytest.raises(GmmSegError, match="nothing to undo"):
        logic.undo(outputs)
    assert np.array_equal(logic.current_labels(outputs, frame), labels)


def test_undo_keeps_edits_made_elsewhere_since(scene, small_phantom, phantom_volume, refinement):
    """A Segment Editor edit after a refinement survives undoing the refinement."""
    logic = GmmSegLogic(scene)
    node = add_volume_nodes(scene, phantom_volume, "ED")
    outputs = logic.add_outputs(node, known_result(small_phantom, [0]))
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 1)
    logic.refine(outputs, "LV", [], [logic.world_position(outputs, (float(np.median(xs)), float(np.median(ys)), z))])
    elsewhere = logic.current_labels(outputs)
    other = (z + 2) % labels.shape[0]
    elsewhere[other] = 0  # an edit on another slice, as the Segment Editor's eraser would make
    write_labels(outputs.segmentation, outputs.shown_volume, elsewhere)
    logic.undo(outputs)
    after = logic.current_labels(outputs)
    assert np.array_equal(after[z], labels[z]) and not after[other].any()


def test_a_rerun_and_a_full_cycle_leave_only_the_documented_outputs(
    scene, small_phantom, cine_result, tmp_path, refinement
):
    logic = GmmSegLogic(scene)
    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    before = _ids(scene)
    first = logic.add_outputs(browser, cine_result)
    assert _added_classes(scene, before) == CINE_OUTPUTS
    logic.remove_outputs(first)
    second = logic.add_outputs(browser, cine_result)
    assert _added_classes(scene, before) == CINE_OUTPUTS  # the re-run replaced the first result cleanly
    assert browser.GetNumberOfSynchronizedSequenceNodes() == len(second.sequences)
    labels = logic.current_labels(second)
    z = int(np.argmax((labels == 2).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 2)
    logic.refine(
        second, "MYO", [logic.world_position(second, (float(xs[0]), float(ys[0]), z), second.current_frame)], []
    )
    logic.accept(second)
    logic.export(second, tmp_path)
    expected = dict(CINE_OUTPUTS, vtkMRMLSequenceNode=CINE_OUTPUTS["vtkMRMLSequenceNode"] + 1)  # + the audit copy
    assert _added_classes(scene, before) == expected
    logic.remove_outputs(second)
    assert _added_classes(scene, before) == {"vtkMRMLColorTableNode": 1}  # shared by every result


def test_outputs_and_clicks_follow_the_inputs_parent_transform(scene, small_phantom, phantom_volume, refinement):
    logic = GmmSegLogic(scene)
    node = add_volume_nodes(scene, phantom_volume, "ED")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "table shift")
    shift = vtk.vtkMatrix4x4()
    shift.SetElement(0, 3, 40.0)
    shift.SetElement(1, 3, -25.0)
    transform.SetMatrixTransformToParent(shift)
    node.SetAndObserveTransformNodeID(transform.GetID())
    outputs = logic.add_outputs(node, known_result(small_phantom, [0]))
    for output in (outputs.segmentation, *outputs.uncertainty.values()):
        assert output.GetParentTransformNode() is transform, output.GetName()
    assert outputs.prior_transform.GetParentTransformNode() is transform
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 1)
    centre = (int(np.median(xs)), int(np.median(ys)))
    world = logic.world_position(outputs, (*centre, z))
    local = slicer.util.arrayFromVTKMatrix(_ijk_to_ras(node)) @ np.array([*centre, z, 1.0])
    assert np.allclose(world[:3], local[:3] + [40.0, -25.0, 0.0])
    logic.refine(outputs, "LV", [], [world])
    assert logic.current_labels(outputs)[z, centre[1], centre[0]] != 1  # the click landed where it was placed


def test_a_cines_proxy_stands_for_the_cine_and_is_the_default_input(scene, small_phantom, phantom_volume):
    volume = add_volume_nodes(scene, phantom_volume, "ED")
    assert default_input(scene) is volume
    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    proxy = browser.GetProxyNode(browser.GetMasterSequenceNode())
    assert cine_of(proxy) is browser and cine_of(volume) is None
    assert default_input(scene) is browser


def _ijk_to_ras(node) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return matrix


def test_the_segment_editors_own_undo_works_beside_the_modules(scene, small_phantom, phantom_volume, refinement):
    """Slicer's Segment Editor logic (vtkSlicerSegmentEditorLogic, the undo behind the Segment Editor's Undo button)
    saves its state before an edit of its own; a Refine and the module's undo of it in between leave that undo
    working."""
    logic = GmmSegLogic(scene)
    node = add_volume_nodes(scene, phantom_volume, "ED")
    outputs = logic.add_outputs(node, known_result(small_phantom, [0]))
    scene.RegisterNodeClass(slicer.vtkMRMLSegmentEditorNode())  # what the Segmentations module registers
    editor = slicer.vtkSlicerSegmentEditorLogic()
    editor.SetMRMLScene(scene)
    editor.SetSegmentEditorNode(scene.AddNewNodeByClass("vtkMRMLSegmentEditorNode"))
    editor.SetSegmentationNode(outputs.segmentation)
    editor.SetSourceVolumeNode(node)
    original = logic.current_labels(outputs)
    assert editor.SaveStateForUndo()
    edited = original.copy()
    edited[1] = 0  # the Segment Editor's eraser on slice 1
    write_labels(outputs.segmentation, outputs.shown_volume, edited)
    z = int(np.argmax((edited == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(edited[z] == 1)
    assert (
        logic.refine(
            outputs, "LV", [], [logic.world_position(outputs, (float(np.median(xs)), float(np.median(ys)), z))]
        )
        > 0
    )
    logic.undo(outputs)
    assert np.array_equal(logic.current_labels(outputs), edited)
    assert editor.CanUndo()
    editor.Undo()
    assert np.array_equal(logic.current_labels(outputs), original)


def test_segments_carry_the_names_colours_and_codes_of_the_terminology_file(scene, phantom_volume):
    """The segments a result makes and the terminology file Slicer's browser lists describe each structure alike."""
    import json

    from conftest import ROOT
    from GmmSegLib.mrml.nodes import new_segmentation, register_segmentation_converters

    register_segmentation_converters()
    volume = add_volume_nodes(scene, phantom_volume, "volume")
    segmentation = new_segmentation("check", volume, np.zeros(phantom_volume.frames.shape[1:], np.uint8))
    terms = json.loads((ROOT / "Resources" / "Terminology" / "GmmSegCardiac.term.json").read_text())
    by_code = {entry["CodeValue"]: entry for entry in terms["SegmentationCodes"]["Category"][0]["Type"]}
    for segment_id in ("LV", "MYO", "RV"):
        segment = segmentation.GetSegmentation().GetSegment(segment_id)
        tag = vtk.reference("")
        assert segment.GetTag(segment.GetTerminologyEntryTagName(), tag)
        code = str(tag).split("~")[2].split("^")[1]
        entry = by_code[code]
        assert segment.GetName() == entry["3dSlicerLabel"]
        assert [round(255 * c) for c in segment.GetColor()] == entry["recommendedDisplayRGBValue"]


def _surface_points(segmentation, segment_id: str = "LV") -> int:
    surface = slicer.vtkSegmentationConverter.GetSegmentationClosedSurfaceRepresentationName()
    polydata = segmentation.GetSegmentation().GetSegment(segment_id).GetRepresentation(surface)
    return -1 if polydata is None else polydata.GetNumberOfPoints()


def test_the_heart_shows_in_3d_and_its_surface_follows_edits_undo_and_redo(
    scene, small_phantom, phantom_volume, cine_result
):
    from GmmSegLib.mrml.edit_history import LabelEdit

    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, phantom_volume, "ED"), known_result(small_phantom, [0]))
    assert _surface_points(outputs.segmentation) == -1  # the result arrives without its surface (SurfaceFiller's)
    assert outputs.frames_without_surface() == [0]
    outputs.make_surface(0)
    first = _surface_points(outputs.segmentation)
    assert first > 0 and outputs.frames_without_surface() == []  # as MONAIAuto3DSeg's results show in 3D
    labels = logic.current_labels(outputs)
    edited = labels.copy()
    edited[: labels.shape[0] // 2][edited[: labels.shape[0] // 2] == 1] = 0  # the LV gone from the basal half
    outputs.write_frame(0, edited)  # how Refine, Undo and Redo write
    outputs.history.record(LabelEdit.between("Refine LV", 0, labels, edited))
    after_edit = _surface_points(outputs.segmentation)
    assert 0 < after_edit < first
    logic.undo(outputs)
    assert _surface_points(outputs.segmentation) == first
    logic.redo(outputs)
    assert _surface_points(outputs.segmentation) == after_edit

    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    outputs = logic.add_outputs(browser, cine_result)
    shown = outputs.current_frame
    assert outputs.frames_without_surface() == [shown, *(t for t in range(outputs.num_frames) if t != shown)]
    outputs.make_surface(shown)  # the frame shown first, while the GUI is idle (SurfaceFiller)
    assert _surface_points(outputs.segmentation) > 0
    assert _surface_points(outputs.sequence_item("segmentation", shown)) > 0
    other = (shown + 1) % outputs.num_frames
    assert other in outputs.frames_without_surface()
    for frame in outputs.frames_without_surface():
        outputs.make_surface(frame)
    assert outputs.frames_without_surface() == []
    logic.show_frame(outputs, other)
    shown = _surface_points(outputs.segmentation)
    assert shown > 0  # every frame's item has its surface: browsing keeps the heart in 3D
    outputs.write_frame(other, np.zeros_like(logic.current_labels(outputs)))
    assert _surface_points(outputs.segmentation) == 0  # the frame shown: its surface made again at once
    assert _surface_points(outputs.sequence_item("segmentation", other)) == 0  # the browser keeps its item in step
    hidden = (other + 1) % outputs.num_frames
    outputs.write_frame(hidden, np.zeros_like(logic.current_labels(outputs)))
    assert outputs.frames_without_surface() == [hidden]  # a frame not shown: its surface left to the idle ticks
    outputs.make_surface(hidden)
    assert _surface_points(outputs.sequence_item("segmentation", hidden)) == 0 and not outputs.frames_without_surface()
    assert _surface_points(outputs.segmentation) == 0


def _index_shown(outputs, name: str) -> str:
    """The value the indices table shows for ``name``."""
    table = outputs.indices_table
    rows = {table.GetCellText(row, 0): table.GetCellText(row, 1) for row in range(table.GetNumberOfRows())}
    return rows[name]


def test_the_indices_table_follows_refine_undo_and_redo(scene, small_phantom, phantom_volume, refinement):
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, phantom_volume, "ED"), known_result(small_phantom, [0]))
    before = _index_shown(outputs, "LV volume (ml)")
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 1)
    click = logic.world_position(outputs, (float(np.median(xs)), float(np.median(ys)), z))
    assert logic.refine(outputs, "LV", [], [click]) > 0
    refined = _index_shown(outputs, "LV volume (ml)")
    assert refined != before
    logic.undo(outputs)
    assert _index_shown(outputs, "LV volume (ml)") == before
    logic.redo(outputs)
    assert _index_shown(outputs, "LV volume (ml)") == refined


def test_the_probabilities_steps_a_result_brings_are_the_ones_the_scene_keeps(scene, small_phantom):
    """The module's reading thread computes a result's probabilities in the scene's steps once
    (``CaseResult.kept_probabilities``); putting the result into the scene uses those, not a second conversion."""
    from GmmSegLib.core.probability_steps import stored_probabilities
    from GmmSegLib.mrml.result_record import PROBABILITIES

    result = known_result(small_phantom)
    kept = result.kept_probabilities
    assert kept is result.kept_probabilities and kept.dtype == np.uint16
    assert np.array_equal(kept, stored_probabilities(result.probabilities))
    result.__dict__["kept_probabilities"] = marked = kept // 2  # what the scene would not get by converting again
    outputs = GmmSegLogic(scene).add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), result)
    sequence = outputs.node_of(PROBABILITIES)
    for frame in range(outputs.num_frames):
        stored = slicer.util.arrayFromVolume(sequence.GetNthDataNode(frame))
        assert np.array_equal(stored, np.moveaxis(marked[frame], 0, -1))


def test_probabilities_are_kept_in_the_scene_in_steps_of_a_65535th_and_older_scenes_still_read(
    scene, small_phantom, cine_result
):
    from GmmSegLib.core.probability_steps import probabilities_as_read
    from GmmSegLib.mrml.result_record import PROBABILITIES

    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    outputs = GmmSegLogic(scene).add_outputs(browser, cine_result)
    sequence = outputs.node_of(PROBABILITIES)
    assert slicer.util.arrayFromVolume(sequence.GetNthDataNode(0)).dtype == np.uint16  # half of float32
    for frame in range(outputs.num_frames):
        kept = outputs.class_probabilities(frame)
        assert kept.dtype == np.float32
        np.testing.assert_allclose(kept, cine_result.probabilities[frame], atol=0.5 / 65535 + 1e-7)
    older = cine_result.probabilities[0].astype(np.float32)  # what scenes saved before steps were kept
    assert probabilities_as_read(older) is older
    in_bytes = np.rint(cine_result.probabilities[0] * 255).astype(np.uint8)  # the previous release's 1/255 steps
    np.testing.assert_allclose(probabilities_as_read(in_bytes), cine_result.probabilities[0], atol=0.5 / 255 + 1e-6)


def test_a_slices_refinements_see_every_click_placed_on_it_that_stands(
    scene, small_phantom, cine_result, refinement, tmp_path, monkeypatch
):
    """With a click refiner, each refinement of a slice is given that slice's earlier clicks again (so that a later
    click does not undo what an earlier one fixed); an undone refinement's clicks are forgotten with it."""
    import json

    import torch

    from GmmSegLib.core.clicks import Box, Click
    from GmmSegLib.model.bundle import GmmSegModel, save_model

    torch.manual_seed(0)
    models = tmp_path / "models"
    models.mkdir()
    sha256 = save_model(GmmSegModel(handedness=False, refiner=True), models / "with_refiner.pt")
    (models / "Models.json").write_text(
        json.dumps({"schema": 1, "default": "r", "models": [{"id": "r", "file": "with_refiner.pt", "sha256": sha256}]})
    )
    monkeypatch.setenv("GMMSEG_MODELS_DIR", str(models))
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    frame = outputs.current_frame
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 2).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 2)
    first, second = (float(xs[0]), float(ys[0])), (float(xs[-1]), float(ys[-1]))
    logic.refine(outputs, "MYO", [], [logic.world_position(outputs, (*first, float(z)), frame)])
    logic.refine(outputs, "LV", [logic.world_position(outputs, (*second, float(z)), frame)], [])
    clicks, boxes = outputs.history.prompts_on(frame, z)
    assert boxes == []
    assert [(round(c.x), round(c.y), c.structure, c.foreground) for c in clicks] == [
        (round(first[0]), round(first[1]), "MYO", False),
        (round(second[0]), round(second[1]), "LV", True),
    ]
    refined = logic.current_labels(outputs)[z]
    assert refined[round(first[1]), round(first[0])] != 2 and refined[round(second[1]), round(second[0])] == 1
    assert outputs.history.prompts_on(frame, z + 1) == ([], [])
    logic.undo(outputs)
    assert outputs.history.prompts_on(frame, z) == ([clicks[0]], []) and isinstance(clicks[0], Click)
    # a scribble and a box: the stroke's clicks and the box are kept with the edit, in the image's pixels
    ys, xs = np.nonzero(labels[z] == 3)
    stroke = [
        logic.world_position(outputs, (float(x), float(y), float(z)), frame)
        for x, y in ((xs.min(), ys.min()), (xs.max(), ys.max()))
    ]
    corners = [
        logic.world_position(outputs, (float(x), float(y), float(z)), frame)
        for x, y in ((xs.max() + 2, ys.max() + 2), (xs.min() - 2, ys.min() - 2))
    ]
    logic.refine(outputs, "RV", [], [], scribbles=[(stroke, True)], boxes=[corners])
    clicks, boxes = outputs.history.prompts_on(frame, z)
    assert len(clicks) > 2 and all(c.structure == "RV" and c.foreground for c in clicks[1:])
    assert boxes == [Box(float(xs.min() - 2), float(ys.min() - 2), float(xs.max() + 2), float(ys.max() + 2), "RV")]


def test_a_background_scribble_takes_the_structure_away_along_its_stroke_through_the_geodesic_path(
    scene, small_phantom, cine_result, refinement
):
    """The shipped model has no click refiner: a scribble along where the RV should not be takes the RV away along
    the stroke, not across the slice; its points are kept with the edit as background scribble points, and one
    Undo brings the RV back."""
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    frame = outputs.current_frame
    before = logic.current_labels(outputs)
    z = int(np.argmax((before == 3).sum(axis=(1, 2))))
    ys, xs = np.nonzero(before[z] == 3)
    row = int(np.median(ys))
    along = np.flatnonzero(before[z, row] == 3)
    stroke = [logic.world_position(outputs, (float(x), float(row), float(z)), frame) for x in (along[0], along[-1])]
    logic.refine(outputs, "RV", [], [], scribbles=[(stroke, False)])
    after = logic.current_labels(outputs)
    assert not (after[z, row, along[0] : along[-1] + 1] == 3).any()  # gone along the stroke
    far = (before[z] == 3) & (np.abs(np.arange(before.shape[1]) - row) > 4)[:, None]  # 6 mm or more away
    assert far.sum() > 300 and (after[z][far] == 3).mean() > 0.98  # kept, but for a border pixel or two
    assert np.array_equal(np.delete(after, z, axis=0), np.delete(before, z, axis=0))
    clicks, _ = outputs.history.prompts_on(frame, z)
    assert len(clicks) > 2 and all(c.structure == "RV" and not c.foreground and c.stroke for c in clicks)
    logic.undo(outputs)
    assert np.array_equal(logic.current_labels(outputs), before)


def test_a_box_without_a_click_refiner_is_refused_and_changes_nothing(scene, small_phantom, cine_result, refinement):
    """The shipped model has no click refiner: a box, which only the refiner can take, gets one clear reason."""
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    before = logic.current_labels(outputs)
    z = int(np.argmax((before == 3).sum(axis=(1, 2))))
    corners = [
        logic.world_position(outputs, (float(x), float(y), float(z)), outputs.current_frame)
        for x, y in ((10, 10), (40, 40))
    ]
    with pytest.raises(GmmSegError, match="a box needs a model with a click refiner"):
        logic.refine(outputs, "RV", [], [], boxes=[corners])
    assert np.array_equal(logic.current_labels(outputs), before) and not outputs.history.can_undo
