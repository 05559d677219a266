"""The reader confirms ED, ES and each ventricle's slice limits on a result in the scene (GmmSegLib.mrml.logic and the
panel's section, GmmSegLib.gui.reader_confirmation): the indices table follows each choice as clinical_indices says,
the choices are undoable, survive a saved scene, and are stamped on the accepted segmentation and in the export.

On a real MRML scene from slicer-core; the panel's section is driven in Testing/gui/test_module_widget.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (pip install slicer-core) provides MRML")

from panel_steps import expected_rows, kept, shown_rows, table_rows  # noqa: E402
from test_resume import _new_scene  # noqa: E402  (a scene that can read a saved scene bundle)

from conftest import known_result  # noqa: E402
from GmmSegLib.clinical.indices import clinical_indices  # noqa: E402
from GmmSegLib.clinical.reader_choices import ReaderChoices  # noqa: E402
from GmmSegLib.core.errors import GmmSegError  # noqa: E402
from GmmSegLib.core.labels import LV  # noqa: E402
from GmmSegLib.mrml.inputs import add_volume_nodes  # noqa: E402
from GmmSegLib.mrml.logic import ACCEPTED, MANUAL_CHOICES, GmmSegLogic  # noqa: E402


@pytest.fixture
def scene():
    scene = _new_scene()
    yield scene
    scene.Clear(True)


@pytest.fixture(scope="module")
def cine_result(small_phantom):
    return known_result(small_phantom)


def _basal_slice_left_out_at_es(result) -> ReaderChoices:
    es = clinical_indices(result.labels, result.summary.spacing_mm).es_frame
    held = np.flatnonzero((result.labels[es] == LV).any(axis=(1, 2)))
    return ReaderChoices(limits={"LV ES": (int(held[0]) + 1, int(held[-1]))})


# ---- the logic on a scene -----------------------------------------------------------------------------------------
def test_a_moved_limit_recomputes_the_table_as_clinical_indices_says_and_is_undoable(scene, small_phantom, cine_result):
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    model_rows = expected_rows(cine_result)
    assert shown_rows(outputs, model_rows) == model_rows  # the EF range from the probabilities, nothing manual
    choices = _basal_slice_left_out_at_es(cine_result)
    logic.set_reader_choices(outputs, choices, "LV ES slices")
    moved_rows = expected_rows(cine_result, choices)
    assert moved_rows["LVEF (%)"] != model_rows["LVEF (%)"]
    assert moved_rows["reader's choices"].startswith("LV ES slices")
    assert shown_rows(outputs, moved_rows) == moved_rows
    assert outputs.indices["slice_limits"]["LV ES"]["manual"]
    assert outputs.indices["model_slice_limits"]["LV ES"]["first"] == choices.limits["LV ES"][0] - 1
    assert logic.undo(outputs) == "LV ES slices" and shown_rows(outputs, model_rows) == model_rows
    assert outputs.reader_choices() == ReaderChoices()
    logic.redo(outputs)
    assert shown_rows(outputs, moved_rows) == moved_rows and outputs.reader_choices() == choices


def test_another_es_frame_and_an_excluded_slice_are_used_at_once(scene, small_phantom, cine_result):
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    choices = ReaderChoices(es_frame=1, excluded={"ED": [3]})
    logic.set_reader_choices(outputs, choices)
    expected = expected_rows(cine_result, choices)
    assert expected["ES frame"] == "1" and shown_rows(outputs, expected) == expected


@pytest.mark.parametrize(
    "choices, message",
    [
        (ReaderChoices(ed_frame=2, es_frame=2), "the same frame"),
        (ReaderChoices(limits={"LV ED": (3, 4)}), "the LV is in 2 slice"),
        (ReaderChoices(es_frame=9), "ES frame 9 does not exist"),
    ],
)
def test_a_choice_that_leaves_no_indices_is_refused_and_changes_nothing(
    scene, small_phantom, cine_result, choices, message
):
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    before = table_rows(outputs)
    with pytest.raises(GmmSegError, match=message):
        logic.set_reader_choices(outputs, choices)
    assert table_rows(outputs) == before and outputs.reader_choices() == ReaderChoices()
    assert not outputs.history.can_undo


def test_a_single_frame_result_has_no_ed_and_es_to_choose(scene, small_phantom, phantom_volume):
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, phantom_volume, "ED"), known_result(small_phantom, [0]))
    with pytest.raises(GmmSegError, match="need a cine"):
        logic.set_reader_choices(outputs, ReaderChoices(ed_frame=0))


def test_the_accepted_segmentation_and_the_export_say_which_choices_were_the_readers(
    scene, small_phantom, cine_result, tmp_path
):
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    logic.accept(outputs)
    assert outputs.segmentation.GetAttribute(MANUAL_CHOICES) is None  # every choice the model's
    choices = _basal_slice_left_out_at_es(cine_result)
    logic.set_reader_choices(outputs, choices)
    logic.accept(outputs)
    words = "; ".join(choices.manual())
    sequence = outputs.sequences["segmentation"]
    stamped = [outputs.segmentation] + [sequence.GetNthDataNode(i) for i in range(sequence.GetNumberOfDataNodes())]
    assert all(node.GetAttribute(MANUAL_CHOICES) == words for node in stamped)
    logic.undo(outputs)  # the second Accept undone: the stamp of the first again
    assert outputs.segmentation.GetAttribute(MANUAL_CHOICES) is None
    logic.redo(outputs)
    logic.export(outputs, tmp_path)
    exported = json.loads((tmp_path / "cine_indices.json").read_text())
    assert exported["manual_choices"] == choices.manual() and exported["reader_choices"] == choices.to_dict()
    assert (
        exported["lv_ef_range"]
        == clinical_indices(
            cine_result.labels, small_phantom.image.spacing_xyz, choices=choices, probabilities=kept(cine_result)
        ).lv_ef_range
    )


def test_the_readers_choices_survive_a_saved_scene(scene, small_phantom, cine_result, tmp_path):
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    choices = ReaderChoices(es_frame=1, limits={"RV ED": (1, 6)}, excluded={"ES": [0]})
    logic.set_reader_choices(outputs, choices)
    logic.accept(outputs)
    shown = table_rows(outputs)
    assert scene.WriteToMRB(str(tmp_path / "patient.mrb"))

    opened = _new_scene()
    assert opened.ReadFromMRB(str(tmp_path / "patient.mrb"))
    again = GmmSegLogic(opened)
    resumed = again.resume()
    assert resumed.reader_choices() == choices and table_rows(resumed) == shown
    assert shown["reader's choices"] == "; ".join(choices.manual())
    assert resumed.segmentation.GetAttribute(MANUAL_CHOICES) == "; ".join(choices.manual())
    assert resumed.segmentation.GetAttribute(ACCEPTED) is not None
    opened.Clear(True)


def test_choices_kept_in_the_scene_that_cannot_be_read_are_set_aside_with_a_warning(
    scene, small_phantom, cine_result, caplog
):
    from GmmSegLib.mrml.result_record import READER_CHOICES

    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    outputs.node_of("summary").SetAttribute(READER_CHOICES, '{"limits": {"LV ES": 3}')
    logic.update_indices(outputs)
    assert "the reader's choices kept in the scene cannot be read" in caplog.text
    rows = expected_rows(cine_result)
    assert shown_rows(outputs, rows) == rows


def test_the_table_follows_refine_undo_and_redo_of_a_cine_with_the_readers_choices_kept(
    scene, small_phantom, cine_result
):
    pytest.importorskip("torch", reason="click refinement needs torch")
    logic = GmmSegLogic(scene)
    outputs = logic.add_outputs(add_volume_nodes(scene, small_phantom.image, "cine"), cine_result)
    choices = ReaderChoices(ed_frame=outputs.current_frame, excluded={"ES": [0]})  # ED: the frame refined
    logic.set_reader_choices(outputs, choices)
    labels = logic.current_labels(outputs)
    z = int(np.argmax((labels == LV).sum(axis=(1, 2))))
    ys, xs = np.nonzero(labels[z] == LV)
    click = logic.world_position(outputs, (float(np.median(xs)), float(np.median(ys)), z), outputs.current_frame)
    before = table_rows(outputs)
    assert logic.refine(outputs, "LV", [], [click]) > 0
    edited = clinical_indices(
        logic.all_labels(outputs), small_phantom.image.spacing_xyz, choices=choices, probabilities=kept(cine_result)
    )
    assert table_rows(outputs)["LV EDV (ml)"] == f"{edited.lv_edv:.4g}" != before["LV EDV (ml)"]
    assert table_rows(outputs)["reader's choices"] == "; ".join(choices.manual())
    logic.undo(outputs)
    assert table_rows(outputs) == before
    logic.redo(outputs)
    assert table_rows(outputs)["LV EDV (ml)"] == f"{edited.lv_edv:.4g}"
