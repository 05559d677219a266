"""The MRML glue on a real scene from slicer-core (the Slicer application itself cannot run here)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import vtk

slicer = pytest.importorskip("slicer", reason="slicer-core (pip install slicer-core) provides MRML")

from conftest import known_result  # noqa: E402
from GmmSegLib.core.errors import InputError  # noqa: E402
from GmmSegLib.mrml.inputs import add_volume_nodes, cardiac_image_from_node  # noqa: E402
from GmmSegLib.mrml.logic import GmmSegLogic  # noqa: E402
from GmmSegLib.mrml.scene_outputs import MIRRORED_STORAGE, REVIEW_ADVISED  # noqa: E402
from GmmSegLib.mrml.selftest import run_logic_self_test  # noqa: E402


@pytest.fixture
def scene():
    """A bare MRML scene with the Sequences node classes registered, as the application has them."""
    scene = slicer.vtkMRMLScene()
    sequences = slicer.vtkSlicerSequencesLogic()
    sequences.SetMRMLScene(scene)
    yield scene
    scene.Clear(True)


@pytest.mark.slow
def test_module_workflow_on_a_real_scene(scene, tmp_path, shipped_model):
    """The same body as the Slicer self-test (GmmSegModuleTest)."""
    measured = run_logic_self_test(scene, tmp_path)
    assert measured["phantom_dice"]["LV_dice"] > 0.8


def test_the_logic_refuses_an_input_that_cannot_fit_in_memory_as_the_command_line_does(
    scene, phantom_volume, shipped_model, monkeypatch
):
    """One road to a segmentation: the in-process logic (batch_segment.py, the self-test) takes the same memory
    estimate before the work starts as ``gmmseg segment`` (inference.case_run.segment_case)."""
    from GmmSegLib.inference import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 30 * 2**20)  # 30 MB free
    node = add_volume_nodes(scene, phantom_volume, "ED")
    before = scene.GetNumberOfNodes()
    with pytest.raises(InputError, match="needs about .* GB are free"):
        GmmSegLogic(scene).process(node, device="cpu")
    assert scene.GetNumberOfNodes() == before


def test_an_edit_made_outside_the_logic_becomes_one_undoable_step(scene, small_phantom):
    """The Segment Editor's paint (the web page's, or Slicer's) recorded with record_edit: Undo and Redo take it
    back and forth with the indices; an edit that changed nothing records nothing."""
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), known_result(small_phantom))
    ed = outputs.indices["ed_frame"]
    before = logic.current_labels(outputs, ed)
    mass = outputs.indices["lv_mass"]
    painted = before.copy()
    painted[:, :6, :6] = 2  # a stroke of myocardium painted in a corner, at ED (whose LV mass the table shows)
    outputs.write_frame(ed, painted)
    assert logic.record_edit(outputs, ed, before, "Paint MYO") == int((before[:, :6, :6] != 2).sum()) > 0
    logic.update_indices(outputs)
    assert outputs.indices["lv_mass"] > mass
    assert logic.undo(outputs) == "Paint MYO" and np.array_equal(logic.current_labels(outputs, ed), before)
    assert outputs.indices["lv_mass"] == pytest.approx(mass)
    assert logic.redo(outputs) == "Paint MYO" and np.array_equal(logic.current_labels(outputs, ed), painted)
    assert logic.record_edit(outputs, ed, painted, "Erase LV") == 0 and logic.undo(outputs) == "Paint MYO"


def test_volume_node_geometry_reaches_the_model_exactly(scene, phantom_volume):
    node = add_volume_nodes(scene, phantom_volume, "ED")
    image = cardiac_image_from_node(node)
    assert np.array_equal(image.frames, phantom_volume.frames)
    assert np.allclose(image.geometry.spacing, phantom_volume.geometry.spacing)
    assert np.allclose(image.geometry.origin, phantom_volume.geometry.origin)
    assert np.allclose(image.geometry.direction, phantom_volume.geometry.direction)


def _bad_input(scene, case: str, phantom_volume):
    if case == "no volume":
        return None
    if case == "2D":
        node = add_volume_nodes(scene, phantom_volume, "one slice")
        slicer.util.updateVolumeFromArray(node, phantom_volume.frames[0, :1])
        return node
    if case == "label map":
        node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
        slicer.util.updateVolumeFromArray(node, (phantom_volume.frames[0] > 300).astype(np.uint8))
        return node
    if case == "empty cine":
        browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", "nothing")
        browser.SetAndObserveMasterSequenceNodeID(scene.AddNewNodeByClass("vtkMRMLSequenceNode", "no frames").GetID())
        return browser
    raise ValueError(case)


@pytest.mark.parametrize(
    "case,message", [("no volume", "no input"), ("2D", "2D"), ("label map", "label map"), ("empty cine", "empty")]
)
def test_bad_inputs_give_clear_errors_and_leave_the_scene_unchanged(scene, phantom_volume, case, message):
    node = _bad_input(scene, case, phantom_volume)
    before = scene.GetNumberOfNodes()
    with pytest.raises(InputError, match=message):
        GmmSegLogic(scene).process(node, device="cpu")
    assert scene.GetNumberOfNodes() == before


def test_the_input_for_the_separate_process_is_written_only_when_usable(scene, phantom_volume, tmp_path, monkeypatch):
    import tempfile

    import SimpleITK as sitk

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp makes the job's folder
    node = add_volume_nodes(scene, phantom_volume, "stack")
    written = GmmSegLogic.write_input(node)
    assert written.parent.parent == tmp_path and written.parent.name.startswith("gmmseg-")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(written))), phantom_volume.frames[0])
    with pytest.raises(InputError, match="label map"):
        GmmSegLogic.write_input(_bad_input(scene, "label map", phantom_volume))
    assert list(tmp_path.iterdir()) == [written.parent]  # no folder for the refused input


@pytest.mark.slow
def test_a_file_segmented_through_the_scene_leaves_no_node_behind(scene, tmp_path, phantom_files, shipped_model):
    """A batch over many cines must not keep each one's volumes, maps and segmentations in memory."""
    logic = GmmSegLogic(scene)
    logic.segment_file(phantom_files["volume"], tmp_path / "warm-up")  # singletons (colour tables...) made once
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    written = logic.segment_file(phantom_files["cine"], tmp_path / "out", device="cpu")
    assert {p.name for p in written} >= {"phantom_cine_seg.nii.gz", "phantom_cine_indices.json"}
    assert {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())} == before
    with pytest.raises(InputError, match="no such file"):
        logic.segment_file(tmp_path / "missing.nii.gz", tmp_path / "out")


@pytest.mark.slow
def test_batch_segmentation_script_runs_headless(tmp_path, phantom_files, shipped_model):
    """scripted_training/batch_segment.py (Slicer's Python or plain python with slicer-core) segments and exports."""
    import subprocess
    import sys

    import SimpleITK as sitk

    from conftest import ROOT
    from GmmSegLib.inference.segmentation import segment
    from GmmSegLib.io.images import read_cardiac_image

    script = ROOT / "scripted_training" / "batch_segment.py"
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--",
            str(phantom_files["volume"]),
            str(phantom_files["cine"]),
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "phantom_ed_seg.nii.gz")))
    model, _ = shipped_model
    assert np.array_equal(labels, segment(read_cardiac_image(phantom_files["volume"]), model).labels[0])
    cine = sitk.ReadImage(str(out / "phantom_cine_seg.nii.gz"))
    assert cine.GetDimension() == 4 and cine.GetSize() == sitk.ReadImage(str(phantom_files["cine"])).GetSize()

    missing = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "nothing.nii.gz"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    twins = tmp_path / "other"
    twins.mkdir()
    (twins / "phantom_ed.nii.gz").write_bytes(phantom_files["volume"].read_bytes())
    same_name = subprocess.run(
        [
            sys.executable,
            str(script),
            str(phantom_files["volume"]),
            str(twins / "phantom_ed.nii.gz"),
            "--out",
            str(tmp_path / "twins_out"),
        ],
        capture_output=True,
        text=True,
    )
    assert same_name.returncode == 2 and "same file name" in same_name.stderr
    assert not (tmp_path / "twins_out").exists()


def test_refinement_errors_change_nothing(scene, phantom_volume, shipped_model):
    from GmmSegLib.core.errors import GmmSegError

    logic = GmmSegLogic(scene)
    node = add_volume_nodes(scene, phantom_volume, "ED")
    outputs = logic.process(node, device="cpu")
    assert outputs.frames_without_surface() == []  # a scripted run's result shows in 3D without the panel's idle ticks
    before = logic.current_labels(outputs)
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    ijk_to_ras = slicer.util.arrayFromVTKMatrix(matrix)

    def ras(i, j, k):
        return list((ijk_to_ras @ np.array([i, j, k, 1.0]))[:3])

    with pytest.raises(GmmSegError, match="does not exist"):
        logic.refine(outputs, "LV", [ras(80, 80, 3)], [], frame=5)
    with pytest.raises(GmmSegError, match="same slice"):
        logic.refine(outputs, "LV", [ras(80, 80, 3)], [ras(90, 90, 4)])
    with pytest.raises(GmmSegError, match="outside"):
        logic.refine(outputs, "LV", [ras(900, 80, 3)], [])
    with pytest.raises(GmmSegError, match="unknown structure"):
        logic.refine(outputs, "aorta", [ras(80, 80, 3)], [])
    assert np.array_equal(logic.current_labels(outputs), before)


def test_a_stack_stored_mirrored_is_marked_on_its_segmentation(scene, phantom_volume, shipped_model):
    logic = GmmSegLogic(scene)
    stored = logic.process(add_volume_nodes(scene, phantom_volume, "as stored"), device="cpu")
    flipped = replace(phantom_volume, frames=np.ascontiguousarray(phantom_volume.frames[..., ::-1]))
    mirrored = logic.process(add_volume_nodes(scene, flipped, "mirrored"), device="cpu")
    assert stored.segmentation.GetAttribute(MIRRORED_STORAGE) is None
    assert stored.segmentation.GetAttribute(REVIEW_ADVISED) is None  # the model is sure about the phantom
    assert mirrored.segmentation.GetAttribute(MIRRORED_STORAGE) == "true"


def test_a_stack_the_model_is_unsure_about_throughout_is_marked_for_review(scene, phantom_volume, shipped_model):
    """Smoothed noise with the phantom's geometry: the localiser finds a 'heart', the model is unsure of all of it."""
    from scipy import ndimage

    noise = np.random.default_rng(0).random(phantom_volume.frames.shape) * 500
    smoothed = replace(phantom_volume, frames=ndimage.gaussian_filter(noise, (0, 0, 3, 3)).astype(np.float32))
    outputs = GmmSegLogic(scene).process(add_volume_nodes(scene, smoothed, "noise"), device="cpu")
    assert outputs.segmentation.GetAttribute(REVIEW_ADVISED) == "true"


def test_indices_that_cannot_be_computed_say_why_in_the_table(scene, small_phantom, phantom_volume):
    """Two frames with no LV left (as after erasing it): the table holds the reason, nothing is raised."""
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, phantom_volume, "ED"), known_result(small_phantom, [0]))
    indices = logic.update_indices(outputs, np.zeros((2, *phantom_volume.frames.shape[1:]), np.uint8))
    assert "no LV" in indices["error"]
    table = outputs.indices_table.GetTable()
    assert table.GetNumberOfRows() == 1 and "no LV" in table.GetColumnByName("Value").GetValue(0)
