"""Results that survive: a result saved with the scene and opened again, and a segmentation GmmSeg did not make, taken
up by the module (GmmSegLib.mrml.resume and adopt).

On real MRML scenes from slicer-core, saved and read by the scene's own storage nodes (vtkMRMLScene::WriteToMRB,
SaveSceneToSlicerDataBundleDirectory, ReadFromMRB, Connect), with the data IO the application hooks into its scene.
"""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (pip install slicer-core) provides MRML")

from conftest import known_result  # noqa: E402
from GmmSegLib.core.errors import GmmSegError  # noqa: E402
from GmmSegLib.model.phi import Phi  # noqa: E402
from GmmSegLib.mrml.inputs import add_volume_nodes  # noqa: E402
from GmmSegLib.mrml.logic import ACCEPTED, MODEL_STAMP, GmmSegLogic  # noqa: E402
from GmmSegLib.mrml.nodes import ijk_to_ras_matrix, read_labels, write_labels  # noqa: E402

_ALIVE: list = []  # the logics that serve a scene live as long as the test session, as the application's do


def _new_scene():
    """A scene set up as the application sets up its own for files: the Sequences logic, and the data IO
    (vtkSlicerApplicationLogic::SetMRMLSceneDataIO) that reading a scene bundle needs."""
    scene = slicer.vtkMRMLScene()
    sequences = slicer.vtkSlicerSequencesLogic()
    sequences.SetMRMLScene(scene)
    application = slicer.vtkSlicerApplicationLogic()
    application.SetMRMLScene(scene)
    remote_io = slicer.vtkMRMLRemoteIOLogic()
    remote_io.GetCacheManager().SetRemoteCacheDirectory(tempfile.mkdtemp(prefix="gmmseg-test-cache-"))
    data_io = slicer.vtkDataIOManagerLogic()
    data_io.SetMRMLApplicationLogic(application)
    data_io.SetAndObserveDataIOManager(remote_io.GetDataIOManager())
    application.SetMRMLSceneDataIO(scene, remote_io, data_io)
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    _ALIVE.extend([sequences, application, remote_io, data_io])
    return scene


@pytest.fixture
def scene():
    scene = _new_scene()
    yield scene
    scene.Clear(True)


@pytest.fixture
def refinement():
    """Click refinement runs torch (the geodesic distance) in Slicer's process."""
    pytest.importorskip("torch", reason="click refinement needs torch")


def _lv_click(logic, outputs) -> list:
    """A background click in the middle of the shown frame's largest LV slice (blood pool drawn too far)."""
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == 1)
    return [logic.world_position(outputs, (float(np.median(xs)), float(np.median(ys)), z), outputs.current_frame)]


def _table(outputs) -> dict[str, str]:
    table = outputs.indices_table.GetTable()
    return {
        table.GetValue(row, 0).ToString(): table.GetValue(row, 1).ToString() for row in range(table.GetNumberOfRows())
    }


def _roles(scene) -> list[str]:
    return sorted(
        scene.GetNthNode(i).GetAttribute("GmmSeg.Role")
        for i in range(scene.GetNumberOfNodes())
        if scene.GetNthNode(i).GetAttribute("GmmSeg.Role")
    )


# ---- a GmmSeg result, saved and opened ------------------------------------------------------------------------
def test_a_cine_result_saved_as_mrb_and_opened_goes_on_as_it_was_left(scene, small_phantom, tmp_path, refinement):
    logic = GmmSegLogic(scene)
    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    outputs = logic.add_outputs(browser, known_result(small_phantom))
    logic.refine(outputs, "LV", [], _lv_click(logic, outputs))
    logic.accept(outputs)
    edited, items, indices = logic.all_labels(outputs), logic.review_items(outputs), _table(outputs)
    assert scene.WriteToMRB(str(tmp_path / "patient.mrb"))

    opened = _new_scene()
    add_volume_nodes(opened, small_phantom.image, "another cine")  # the node IDs that the saved nodes had are taken
    assert opened.ReadFromMRB(str(tmp_path / "patient.mrb"))  # imported: the result's node IDs are renumbered
    again = GmmSegLogic(opened)
    resumed = again.resume()
    assert resumed is not None and resumed.input_node.GetName() == "cine" and resumed.browser is not None
    assert resumed.input_node.GetID() != browser.GetID()  # found by node references, not by the IDs it had
    assert np.array_equal(again.all_labels(resumed), edited)
    assert again.review_items(resumed) == items and _table(resumed) == indices
    assert resumed.segmentation.GetAttribute(ACCEPTED) == outputs.segmentation.GetAttribute(ACCEPTED)
    assert resumed.node_of("original") is not None and set(resumed.uncertainty) == set(outputs.uncertainty)
    assert resumed.result.summary == outputs.result.summary
    for kind, maps in outputs.result.uncertainty.items():
        assert np.array_equal(resumed.result.uncertainty[kind], maps)

    # the same click refines the same way: the probabilities came back with the scene
    assert again.refine(resumed, "MYO", [], _lv_click(again, resumed)) > 0
    logic.refine(outputs, "MYO", [], _lv_click(logic, outputs))
    assert np.array_equal(again.all_labels(resumed), logic.all_labels(outputs))
    assert again.undo(resumed) == "Refine MYO" and np.array_equal(again.all_labels(resumed), edited)
    again.accept(resumed)
    assert resumed.segmentation.GetAttribute(MODEL_STAMP).startswith("known answer sha256:")
    written = again.export(resumed, tmp_path / "export")
    exported = json.loads((tmp_path / "export" / "cine_indices.json").read_text())
    assert exported["lv_ef"] == pytest.approx(float(indices["LVEF (%)"]), rel=1e-3)  # the table shows 4 digits
    assert {path.name for path in written} >= {"cine_seg.nii.gz", "cine_uncertainty.nii.gz"}
    again.remove_outputs(resumed)  # what a re-run does to a result: every node of it goes
    assert _roles(opened) == []


def test_a_volume_result_saved_to_a_folder_and_opened_keeps_its_moved_prior(
    scene, phantom_volume, small_phantom, tmp_path
):
    logic = GmmSegLogic(scene)
    volume = add_volume_nodes(scene, phantom_volume, "ED")
    outputs = logic.add_outputs(volume, known_result(small_phantom, [0]))
    logic.set_transform_from_phi(outputs, Phi.from_parameters(1.2, 10.0, -5.0, 8.0))
    rerun = logic.phi_from_transform(outputs).argument()
    (tmp_path / "bundle").mkdir()
    assert scene.SaveSceneToSlicerDataBundleDirectory(str(tmp_path / "bundle"))

    opened = _new_scene()
    opened.SetURL(str(tmp_path / "bundle" / "bundle.mrml"))
    assert opened.Connect()  # File > Open scene: the scene is cleared, then the saved one is read
    again = GmmSegLogic(opened)
    resumed = again.resume()
    assert resumed.browser is None and resumed.input_node.GetName() == "ED"
    assert again.phi_from_transform(resumed).argument() == rerun  # Re-run with this prior asks for the same
    assert resumed.prior.GetParentTransformNode() is resumed.prior_transform
    assert np.array_equal(again.current_labels(resumed), logic.current_labels(outputs))
    assert again.review_items(resumed) == logic.review_items(outputs)


def test_the_newest_result_of_the_chosen_input_is_taken_up(scene, small_phantom, phantom_volume):
    logic = GmmSegLogic(scene)
    first = add_volume_nodes(scene, phantom_volume, "first")
    second = add_volume_nodes(scene, phantom_volume, "second")
    older = logic.add_outputs(first, known_result(small_phantom, [0]))
    logic.accept(older)
    newer = logic.add_outputs(first, known_result(small_phantom, [0]))
    logic.add_outputs(second, known_result(small_phantom, [0]))
    assert logic.resume(first).segmentation is newer.segmentation
    assert logic.resume().input_node is second  # no input chosen: the newest of all
    assert logic.resume(None) is not None and GmmSegLogic(_new_scene()).resume() is None


@pytest.mark.parametrize("kind", ["volume", "cine"])
def test_an_accepted_result_that_a_rerun_superseded_is_never_taken_up(
    scene, small_phantom, phantom_volume, kind, tmp_path
):
    """A re-run keeps the accepted result out of the views (GmmSeg.Superseded): the scene opened again takes up the
    re-run's result, and once that is gone, none; the superseded one chosen by hand is refused in one line."""
    logic = GmmSegLogic(scene)
    image = (
        add_volume_nodes(scene, phantom_volume, "ED")
        if kind == "volume"
        else add_volume_nodes(scene, small_phantom.image, "cine")
    )
    frames = [0] if kind == "volume" else None
    accepted = logic.add_outputs(image, known_result(small_phantom, frames))
    logic.accept(accepted)
    logic.supersede_outputs(accepted)  # what the panel does to an accepted result on a re-run
    logic.add_outputs(image, known_result(small_phantom, frames))
    assert scene.WriteToMRB(str(tmp_path / "patient.mrb"))

    opened = _new_scene()
    assert opened.ReadFromMRB(str(tmp_path / "patient.mrb"))
    again = GmmSegLogic(opened)
    resumed = again.resume()
    assert resumed is not None and resumed.segmentation.GetAttribute(ACCEPTED) is None  # the re-run's
    again.remove_outputs(resumed)
    assert again.resume() is None
    if kind == "volume":
        superseded = opened.GetFirstNodeByName(accepted.segmentation.GetName())
        assert superseded is not None and superseded.GetAttribute(ACCEPTED) is not None
        with pytest.raises(GmmSegError, match="a later result of its image replaced it"):
            again.take_up(superseded)


def test_a_result_taken_up_says_again_why_it_should_be_reviewed(scene, small_phantom, phantom_volume):
    from GmmSegLib.mrml.resume import taken_up_notes

    logic = GmmSegLogic(scene)
    volume = add_volume_nodes(scene, phantom_volume, "ED")
    result = known_result(small_phantom, [0])
    result.summary.review_reasons = ["no LV cavity was segmented"]
    logic.add_outputs(volume, result)
    assert "Review advised: no LV cavity was segmented." in taken_up_notes(GmmSegLogic(scene).resume())


def test_a_result_whose_image_was_deleted_is_refused_with_a_message(scene, small_phantom, phantom_volume):
    logic = GmmSegLogic(scene)
    volume = add_volume_nodes(scene, phantom_volume, "ED")
    outputs = logic.add_outputs(volume, known_result(small_phantom, [0]))
    scene.RemoveNode(volume)
    with pytest.raises(GmmSegError, match="no longer in the scene"):
        logic.take_up(outputs.segmentation)


# ---- a segmentation GmmSeg did not make ---------------------------------------------------------------------------
def _user_segmentation(reference, labels: np.ndarray, names=("Left ventricle", "Myocardium", "Right ventricle")):
    """A segmentation as another tool leaves it: segments Segment_1.. named ``names`` (label values 1, 2, 3 of
    ``labels``), each in a labelmap of its own, outside any scene."""
    from vtk.util.numpy_support import numpy_to_vtk

    node = slicer.vtkMRMLSegmentationNode()
    node.SetName("my contours")
    binary = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    for value, name in enumerate(names, start=1):
        mask = slicer.vtkOrientedImageData()
        mask.SetDimensions(*labels.shape[::-1])
        mask.SetImageToWorldMatrix(ijk_to_ras_matrix(reference))
        mask.GetPointData().SetScalars(numpy_to_vtk((labels == value).astype(np.uint8).ravel(), deep=True))
        segment = slicer.vtkSegment()
        segment.SetName(name)
        segment.AddRepresentation(binary, mask)
        node.GetSegmentation().AddSegment(segment, f"Segment_{value}")
    return node


def test_a_users_segmentation_is_reviewed_refined_and_measured(
    scene, small_phantom, phantom_volume, tmp_path, refinement
):
    from GmmSegLib.clinical.indices import structure_volumes_ml

    logic = GmmSegLogic(scene)
    volume = add_volume_nodes(scene, phantom_volume, "ED")
    labels = small_phantom.labels[0]
    mine = _user_segmentation(volume, labels)
    scene.AddNode(mine)
    mine.CreateDefaultDisplayNodes()
    mine.SetReferenceImageGeometryParameterFromVolumeNode(volume)  # as the Segment Editor's source volume sets it
    outputs = logic.take_up(mine)
    assert outputs.input_node is volume and outputs.uncertainty == {} and outputs.prior_transform is None
    assert np.array_equal(logic.current_labels(outputs), labels)
    volumes = structure_volumes_ml(labels, phantom_volume.spacing_xyz)
    assert float(_table(outputs)["LV volume (ml)"]) == pytest.approx(volumes["LV"], rel=1e-3)
    items = logic.review_items(outputs)
    heart_slices = np.flatnonzero((labels > 0).any(axis=(1, 2)))
    assert [item["slice_score"] for item in items] == [None] * len(items)
    assert {items[0]["slice"], items[1]["slice"]} == {heart_slices[0], heart_slices[-1]}  # base and apex first

    assert logic.refine(outputs, "LV", [], _lv_click(logic, outputs)) > 0  # the labels stand for the probabilities
    assert np.array_equal(read_labels(mine, volume, ("Segment_1", "Segment_2", "Segment_3")), labels)  # untouched
    assert not mine.GetDisplayNode().GetVisibility()
    logic.accept(outputs)
    assert outputs.segmentation.GetAttribute(MODEL_STAMP).startswith("none")
    written = {path.name for path in logic.export(outputs, tmp_path)}
    assert written == {"ED_seg.nii.gz", "ED_indices.json"}  # no uncertainty maps to write


def test_a_segmentation_from_a_label_file_is_mapped_by_its_segment_names(scene, small_phantom, phantom_volume):
    """An ACDC label file (1 RV, 2 MYO, 3 LV) loaded as a segmentation: segments named as the file left them, and the
    clinician says which is which."""
    logic = GmmSegLogic(scene)
    volume = add_volume_nodes(scene, phantom_volume, "ED")
    labels = small_phantom.labels[0]
    acdc = np.choose(labels, [0, 3, 2, 1]).astype(np.uint8)
    mine = _user_segmentation(volume, acdc, names=("label 1", "label 2", "label 3"))
    scene.AddNode(mine)
    with pytest.raises(GmmSegError, match=r"no segment for LV, MYO, RV \(its segments: label 1, label 2, label 3\)"):
        logic.take_up(mine, volume)
    outputs = logic.take_up(mine, volume, mapping={"LV": "label 3", "MYO": "Segment_2", "RV": "label 1"})
    assert outputs.input_node is volume  # no geometry reference: the input chosen in the panel
    assert np.array_equal(logic.current_labels(outputs), labels)


def test_a_users_cine_segmentation_is_taken_from_every_frame(scene, small_phantom):
    logic = GmmSegLogic(scene)
    browser = add_volume_nodes(scene, small_phantom.image, "cine")
    master = browser.GetMasterSequenceNode()
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "my contours")
    for t in range(small_phantom.image.num_frames):
        sequence.SetDataNodeAtValue(
            _user_segmentation(master.GetNthDataNode(t), small_phantom.labels[t]), master.GetNthIndexValue(t)
        )
    browser.AddSynchronizedSequenceNode(sequence)
    slicer.vtkSlicerSequencesLogic().UpdateProxyNodesFromSequences(browser)
    mine = browser.GetProxyNode(sequence)
    outputs = logic.take_up(mine)
    assert outputs.input_node is browser and np.array_equal(logic.all_labels(outputs), small_phantom.labels)
    es = small_phantom.es_frame
    assert [item["frame"] for item in logic.review_items(outputs, limit=100)][:2] == [0, 0]  # ED first, then ES
    assert {item["frame"] for item in logic.review_items(outputs, limit=100)[:16]} == {0, es}

    sequence.RemoveDataNodeAtValue(master.GetNthIndexValue(1))  # a cine segmented in some frames only
    with pytest.raises(GmmSegError, match="holds 3 of the cine's 4 frames"):
        logic.take_up(mine)


def test_a_users_segmentation_taken_up_is_found_again_after_saving(scene, small_phantom, phantom_volume, tmp_path):
    logic = GmmSegLogic(scene)
    volume = add_volume_nodes(scene, phantom_volume, "ED")
    mine = _user_segmentation(volume, small_phantom.labels[0])
    scene.AddNode(mine)
    mine.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    outputs = logic.take_up(mine)
    labels = logic.current_labels(outputs)
    write = labels.copy()
    write[labels.shape[0] // 2] = 0
    write_labels(outputs.segmentation, outputs.shown_volume, write)  # an edit in the Segment Editor
    assert scene.WriteToMRB(str(tmp_path / "mine.mrb"))
    opened = _new_scene()
    assert opened.ReadFromMRB(str(tmp_path / "mine.mrb"))
    again = GmmSegLogic(opened)
    resumed = again.resume()
    assert resumed.uncertainty == {} and resumed.prior is None and resumed.class_probabilities(0) is None
    assert np.array_equal(again.current_labels(resumed), write)
    assert again.review_items(resumed) == logic.review_items(outputs)
