"""MRML logic of the GmmSeg module: what the module does to a scene, without Qt or ``slicer.app``.

It runs on a bare scene from ``slicer-core`` (the tests, batch runs) exactly as inside the application.
The widget runs the model in a separate process and hands its files to :meth:`GmmSegLogic.add_outputs`;
:meth:`GmmSegLogic.process` runs it in this process (batch, tests). Torch is imported only there.
:meth:`GmmSegLogic.resume` takes up a result already in the scene (a saved scene opened, a module reloaded), and
:meth:`GmmSegLogic.take_up` a segmentation the clinician chooses, GmmSeg's or one brought from elsewhere.
Bad input leaves the scene as it was: inputs are validated before any node is added, and a failure while
adding removes what was added. The nodes of a result are described in :mod:`GmmSegLib.mrml.scene_outputs`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import slicer
import vtk

from ..clinical.case_summary import CaseSummary, ModelUsed
from ..clinical.error_estimate import ReviewCalibration
from ..clinical.reader_choices import ReaderChoices
from ..clinical.review import label_review_queue, review_queue
from ..core.clicks import Box, Click, scribble
from ..core.errors import GmmSegError
from ..core.file_names import INDICES, SEGMENTATION, UNCERTAINTY_FILES, case_file
from ..core.probability_steps import as_kept
from ..inference.case_result import CaseResult
from ..io.images import read_cardiac_image
from ..model.canonical_crop import CanonicalCrop
from ..model.phi import Phi, phi_from_ras_transform, ras_transform_for_phi
from ..model.registry import entry_of_result
from .edit_history import ActionStep, LabelEdit
from .indices_nodes import indices_problem, show_indices
from .inputs import add_volume_nodes, cardiac_image_from_node, input_geometry, update_proxies
from .nodes import (
    ijk_to_ras,
    register_segmentation_converters,
    remove_with_dependents,
    transform_points,
)
from .scene_outputs import (
    ACCEPTED,
    SceneOutputs,
    add_audit_copy,
    add_output_nodes,
    remove_output_nodes,
    retire_output_nodes,
)
from .texts import _

LOGGER = logging.getLogger("gmmseg")
MODEL_STAMP = "GmmSeg.Model"  # model id and sha256 behind an accepted segmentation
# the reader's choices behind an accepted cine's indices, in words ("ES frame 2; LV ES slices 3-7"); absent when every
# choice was the model's
MANUAL_CHOICES = "GmmSeg.ManualChoices"
STACK_PLANE_NORMALS = {"Red": 2, "Yellow": 0, "Green": 1}  # slice view -> the volume axis (I, J, K) of its normal


class GmmSegLogic:
    """Everything the module does to a scene."""

    def __init__(self, scene):
        self.scene = scene
        register_segmentation_converters()

    # -- running the model in this process ---------------------------------------------------------------
    def process(
        self, input_node, model: str | None = None, device: str = "auto", phi: Phi | None = None
    ) -> SceneOutputs:
        """Segment ``input_node`` with the model and put the results into the scene (waits for completion); the frame
        shown gets its 3D surface (the module's panel makes the surfaces while the GUI is idle instead)."""
        image = cardiac_image_from_node(input_node)  # a bad input is refused before the model is loaded

        from ..core.device import resolve_device
        from ..inference.case_run import segment_case
        from ..model.registry import load_registered

        network, entry = load_registered(model)
        device = resolve_device(device)
        segmented, summary = segment_case(
            image, network.prepared_for_inference(device), entry, device, phi=phi, keep_probabilities=True
        )  # the scene keeps them for refinement
        outputs = self.add_outputs(input_node, CaseResult.from_segmentation(segmented, summary))
        outputs.make_surface(outputs.current_frame)
        return outputs

    @staticmethod
    def write_input(input_node) -> Path:
        """Write the input as a NIfTI file (a cine as one 4D file) for the separate-process run, in a private
        temporary folder made for it once the input is known to be usable; the caller removes the folder."""
        from ..io.images import AtomicOutputs, to_sitk

        image = cardiac_image_from_node(input_node)
        folder = Path(tempfile.mkdtemp(prefix="gmmseg-"))
        name = "gmmseg_input.nii"  # uncompressed: written in milliseconds on the GUI thread, read once, removed
        try:
            with AtomicOutputs(folder) as files:
                files.add_image(name, to_sitk(image.frames if image.is_cine else image.frames[0], image.geometry))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # a copy of the patient's images is never left behind
            raise
        return folder / name

    # -- results in the scene --------------------------------------------------------------------------------
    def add_outputs(self, input_node, result: CaseResult) -> SceneOutputs:
        """Create the result's nodes (:mod:`GmmSegLib.mrml.scene_outputs`) and fill its indices table."""
        outputs = add_output_nodes(self.scene, input_node, result)
        try:
            self.update_indices(outputs, result.labels)
        except Exception:
            remove_output_nodes(self.scene, outputs)
            raise
        return outputs

    def remove_outputs(self, outputs: SceneOutputs) -> None:
        """Take a result's nodes out of the scene (a re-run replaces a result that was not accepted)."""
        remove_output_nodes(self.scene, outputs)
        outputs.history.clear()

    def supersede_outputs(self, outputs: SceneOutputs) -> None:
        """A re-run replaces an accepted result in the views; its nodes are kept (see ``retire_output_nodes``)."""
        retire_output_nodes(self.scene, outputs)
        outputs.history.clear()

    def current_labels(self, outputs: SceneOutputs, frame: int | None = None) -> np.ndarray:
        """The (possibly edited) labels (Z, Y, X) of ``frame`` (default: the frame shown)."""
        return outputs.read_frame(outputs.current_frame if frame is None else frame)

    def all_labels(self, outputs: SceneOutputs) -> np.ndarray:
        """The (possibly edited) labels of every frame (T, Z, Y, X)."""
        return np.stack([outputs.read_frame(t) for t in range(outputs.num_frames)])

    def show_frame(self, outputs: SceneOutputs, frame: int) -> None:
        """Make the views show ``frame`` of a cine (the browser's selected item); nothing for a 3D volume."""
        outputs.check_frame(frame)
        if outputs.browser is not None and frame != outputs.current_frame:
            outputs.browser.SetSelectedItemNumber(frame)
            update_proxies(outputs.browser)

    def show_stack_planes(self, outputs: SceneOutputs) -> None:
        """Turn the slice views to the stack's own planes, so that no view cuts the short-axis slices obliquely: Red
        shows the slices (its normal the stack's K axis), Yellow and Green the planes across them (normals I and J).
        ``vtkMRMLSliceNode::RotateToAxes`` with the normal's axis, which ``RotateToVolumePlane`` calls with the
        axis of a single-slice volume only (vtkMRMLSliceNode.cxx, 5.10 and 5.12); here with the world matrix,
        through the input's (linear) parent transform."""
        matrix = vtk.vtkMatrix4x4()
        outputs.shown_volume.GetIJKToRASMatrix(matrix)
        if outputs.parent_transform is not None and outputs.parent_transform.IsTransformToWorldLinear():
            to_world = vtk.vtkMatrix4x4()
            outputs.parent_transform.GetMatrixTransformToWorld(to_world)
            vtk.vtkMatrix4x4.Multiply4x4(to_world, matrix, matrix)
        for index in range(self.scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            slice_node = self.scene.GetNthNodeByClass(index, "vtkMRMLSliceNode")
            normal_axis = STACK_PLANE_NORMALS.get(slice_node.GetLayoutName())
            if normal_axis is not None:
                slice_node.RotateToAxes(matrix, normal_axis)

    def world_position(self, outputs: SceneOutputs, ijk: tuple[float, float, float], frame: int = 0) -> np.ndarray:
        """The world (RAS) position of a voxel of ``frame``, through the input's parent transform."""
        local = ijk_to_ras(outputs.frame_volumes[frame]) @ np.array([*ijk, 1.0])
        return transform_points([local[:3]], outputs.parent_transform, None)[0]

    def voxels_at(self, outputs: SceneOutputs, points_world: list, frame: int = 0) -> list[np.ndarray]:
        """The (i, j, k) voxel of ``frame`` nearest each world (RAS) position, through the input's parent transform."""
        ras_to_ijk = np.linalg.inv(ijk_to_ras(outputs.frame_volumes[frame]))
        local = transform_points(points_world, None, outputs.parent_transform)
        return [np.rint(ras_to_ijk @ np.append(p, 1.0))[:3].astype(int) for p in local]

    def resume(self, input_node=None) -> SceneOutputs | None:
        """The newest GmmSeg result in the scene (of ``input_node``, when it has one), taken up with its indices as
        this module computes them; None if none."""
        from .resume import latest_result

        outputs = latest_result(self.scene, input_node)
        if outputs is not None:
            self.update_indices(outputs)
        return outputs

    def take_up(self, segmentation, input_node=None, mapping: dict[str, str] | None = None) -> SceneOutputs:
        """``segmentation`` in the module: a GmmSeg result as it was left, or a segmentation GmmSeg did not make with
        segments LV, MYO and RV (or ``mapping``: structure -> segment name) on its image (else ``input_node``)."""
        from . import adopt
        from .resume import is_result, resume

        if segmentation is None:
            raise GmmSegError(_("choose a segmentation to review"))
        if is_result(segmentation):
            outputs = resume(self.scene, segmentation)
            self.update_indices(outputs)
            return outputs
        segments = adopt.structure_segments(segmentation, mapping)
        image = adopt.image_of(segmentation, input_node)
        segmentation.CreateBinaryLabelmapRepresentation()  # a segmentation loaded as surfaces is read as labels
        labels = adopt.segmentation_labels(segmentation, image, segments)
        outputs = self.add_outputs(image, adopt.adopted_result(segmentation, image, labels))
        adopt.hide(segmentation)
        return outputs

    # -- indices ----------------------------------------------------------------------------------------------
    def update_indices(self, outputs: SceneOutputs, labels: np.ndarray | None = None) -> dict:
        """Refill the indices table (and a cine's volume curves) from ``labels`` (T, Z, Y, X); default: the
        segmentation as it is now."""
        return show_indices(self.scene, outputs, self.all_labels(outputs) if labels is None else labels)

    def record_edit(self, outputs: SceneOutputs, frame: int, before: np.ndarray, description: str) -> int:
        """Make an edit done outside the logic (the Segment Editor's paint or erase) one undoable step: the voxels of
        ``frame`` that differ from ``before`` (its labels when the edit began); returns how many changed."""
        step = LabelEdit.between(description, frame, before, outputs.read_frame(frame))
        if step.voxels.size:
            outputs.history.record(step)
        return int(step.voxels.size)

    def set_reader_choices(
        self, outputs: SceneOutputs, choices: ReaderChoices, description: str = "Reader's choices"
    ) -> dict:
        """Compute a cine's indices with the reader's ``choices`` (frames, slice limits, excluded slices) and keep them
        with the result; undoable. Choices that make the indices uncomputable (ED and ES the same frame, a limit
        leaving the LV too few slices) are refused and change nothing."""
        if outputs.num_frames < 2:
            raise GmmSegError(_("the reader's choices need a cine (ED and ES frames); this result has one frame"))
        choices.check(outputs.num_frames, outputs.result.labels.shape[1])
        previous = outputs.reader_choices()
        self._use_reader_choices(outputs, choices)
        outputs.history.record(
            ActionStep(
                description,
                lambda: self._use_reader_choices(outputs, previous),
                lambda: self._use_reader_choices(outputs, choices),
            )
        )
        return outputs.indices

    def _use_reader_choices(self, outputs: SceneOutputs, choices: ReaderChoices) -> None:
        """Keep ``choices`` and recompute; put the previous ones back when these leave no indices, with the clinical
        floor's reason (English, as the command line gives it)."""
        previous, computable = outputs.reader_choices(), indices_problem(outputs.indices) is None
        outputs.keep_reader_choices(choices)
        problem = indices_problem(self.update_indices(outputs))
        if computable and problem is not None:
            outputs.keep_reader_choices(previous)
            self.update_indices(outputs)
            raise GmmSegError(problem)

    # -- review, refinement, undo, accept -----------------------------------------------------------------------
    def review_items(self, outputs: SceneOutputs, limit: int = 20) -> list[dict]:
        """The slices with the largest estimated error first, for the review table (the class probabilities are read
        from the scene, where the result keeps them)."""
        return review_items(outputs.result, limit, outputs.probability_frames())

    def refine(
        self,
        outputs: SceneOutputs,
        structure: str,
        foreground_world: list,
        background_world: list,
        frame: int | None = None,
        scribbles: list[tuple[list, bool]] = (),
        boxes: list[list] = (),
    ) -> int:
        """Refinement of ``structure`` on the slice of the prompts (world RAS positions) in ``frame`` (default: the
        frame shown): foreground and background clicks, ``scribbles`` (a stroke's points and whether it is
        foreground) and ``boxes`` (world corners of a box that holds the structure, two opposite ones at least).
        Recorded for undo; returns the number of voxels changed.

        With a click refiner in the model that made the result (else the default model), the slice is refined from
        all the prompts placed on it so far (those of refinements not undone, then these); without one, from these
        clicks by the geodesic path, which takes no boxes."""
        frame = outputs.current_frame if frame is None else frame
        outputs.check_frame(frame)
        points = [
            (self.voxels_at(outputs, foreground_world, frame), True),
            (self.voxels_at(outputs, background_world, frame), False),
        ]
        strokes = [(self.voxels_at(outputs, list(stroke), frame), foreground) for stroke, foreground in scribbles]
        corners = [self.voxels_at(outputs, list(box), frame) for box in boxes]
        slices = {int(k) for voxels, _ in points + strokes for _i, _j, k in voxels}
        slices |= {int(round(np.mean([k for _i, _j, k in box]))) for box in corners}
        if len(slices) != 1:
            raise GmmSegError(_("place all clicks of one refinement on the same slice"))
        (slice_index,) = slices
        labels = outputs.read_frame(frame)
        if not 0 <= slice_index < labels.shape[0]:
            raise GmmSegError(_("the clicks are outside the image (slice {slice})").format(slice=slice_index))
        new_clicks = tuple(
            Click(float(i), float(j), structure, foreground) for voxels, foreground in points for i, j, _k in voxels
        )
        new_clicks += tuple(
            c
            for voxels, foreground in strokes
            for c in scribble([(float(i), float(j)) for i, j, _k in voxels], structure, foreground)
        )
        new_boxes = tuple(
            Box(*map(float, (*np.min(box, axis=0)[:2], *np.max(box, axis=0)[:2])), structure) for box in corners
        )
        image, probabilities, spacing = outputs.slice_to_refine(frame, slice_index, labels)
        refined = self._refined_slice(
            outputs, image, probabilities, labels[slice_index], new_clicks, new_boxes, spacing, frame, slice_index
        )
        if refined.changed_pixels:
            edited = labels.copy()
            edited[slice_index] = refined.labels
            outputs.write_frame(frame, edited)
            outputs.history.record(
                LabelEdit.between(f"Refine {structure}", frame, labels, edited, slice_index, new_clicks, new_boxes)
            )
            self.update_indices(outputs)
        return refined.changed_pixels

    def _refined_slice(
        self,
        outputs: SceneOutputs,
        image: np.ndarray,
        probabilities: np.ndarray,
        labels: np.ndarray,
        clicks: tuple[Click, ...],
        boxes: tuple[Box, ...],
        spacing_xy: tuple[float, float],
        frame: int,
        slice_index: int,
    ):
        """One slice refined by the model's click refiner (with the prompts placed on the slice before), or by the
        geodesic path when the model has none."""
        from ..clinical.network_refinement import refine_by_network
        from ..clinical.refinement import refine

        refiner = self.click_refiner(outputs)
        if refiner is not None:
            earlier_clicks, earlier_boxes = outputs.history.prompts_on(frame, slice_index)
            return refine_by_network(
                refiner, image, probabilities, labels, [*earlier_clicks, *clicks], spacing_xy, [*earlier_boxes, *boxes]
            )
        if boxes:
            raise GmmSegError(_("a box needs a model with a click refiner; place clicks instead"))

        def points(foreground: bool, stroke: bool) -> list[tuple[int, int]]:
            return [(int(c.x), int(c.y)) for c in clicks if (c.foreground, c.stroke) == (foreground, stroke)]

        return refine(
            image,
            probabilities,
            labels,
            clicks[0].structure,
            points(True, False),
            points(False, False),
            float(np.mean(spacing_xy)),
            foreground_strokes=points(True, True),
            background_strokes=points(False, True),
        )

    def click_refiner(self, outputs: SceneOutputs):
        """The click refiner of the model behind ``outputs`` (loaded once per model, hash-checked), or None."""
        from ..model.registry import click_refiner_of

        return click_refiner_of(_model_sha256(outputs.result.summary))

    def undo(self, outputs: SceneOutputs) -> str:
        """Undo the last refinement or Accept; returns what was undone."""
        return self._replay(outputs, undoing=True)

    def redo(self, outputs: SceneOutputs) -> str:
        """Do again the last step that was undone; returns what was redone."""
        return self._replay(outputs, undoing=False)

    def _replay(self, outputs: SceneOutputs, undoing: bool) -> str:
        history = outputs.history
        step = history.next_undo() if undoing else history.next_redo()
        if step is None:
            raise GmmSegError(_("nothing to undo") if undoing else _("nothing to redo"))
        if isinstance(step, LabelEdit):
            self.show_frame(outputs, step.frame)  # the clinician sees what changes
            labels = outputs.read_frame(step.frame)
            outputs.write_frame(step.frame, (step.revert(labels) if undoing else step.reapply(labels))[0])
            self.update_indices(outputs)
        else:
            (step.undo if undoing else step.redo)()
        (history.mark_undone if undoing else history.mark_redone)()
        return step.description

    def accept(self, outputs: SceneOutputs):
        """Freeze the result: keep the model's own output for audit (hidden from the views, listed in the data
        tree), stamp the segmentation with the time, the model and the reader's choices behind the indices, update
        the indices. Undoable; accepting again after more edits renews the stamp."""
        stamps = {
            ACCEPTED: datetime.now(timezone.utc).isoformat(timespec="seconds"),
            MODEL_STAMP: _model_stamp(outputs.result.summary.model),
            MANUAL_CHOICES: "; ".join(outputs.reader_choices().manual()) or None,
        }
        previous = {key: outputs.segmentation.GetAttribute(key) for key in stamps}
        first = outputs.node_of("original") is None

        def do() -> None:
            if first:
                add_audit_copy(self.scene, outputs)
            outputs.set_attributes(stamps)
            self.update_indices(outputs)

        def undo() -> None:
            if first:
                audit = outputs.node_of("original")
                outputs.added.remove(audit)
                remove_with_dependents(self.scene, audit)
            outputs.set_attributes(previous)
            self.update_indices(outputs)

        do()
        outputs.history.record(ActionStep("Accept", undo, do))
        return outputs.node_of("original")

    # -- the prior's phi as a transform ----------------------------------------------------------------------
    def phi_from_transform(self, outputs: SceneOutputs, frame: int | None = None) -> Phi:
        """The phi that the (possibly moved) prior transform asks for, relative to ``frame``'s automatic phi."""
        frame = outputs.current_frame if frame is None else frame
        matrix = vtk.vtkMatrix4x4()
        outputs.prior_transform.GetMatrixTransformToParent(matrix)
        return phi_from_ras_transform(
            slicer.util.arrayFromVTKMatrix(matrix),
            _automatic_phi(outputs, frame),
            _canonical_crop(outputs),
            ijk_to_ras(outputs.frame_volumes[frame]),
        )

    def set_transform_from_phi(self, outputs: SceneOutputs, phi: Phi, frame: int | None = None) -> None:
        """Move the prior transform to where ``phi`` puts the prior (the sliders' path)."""
        frame = outputs.current_frame if frame is None else frame
        ras = ras_transform_for_phi(
            phi, _automatic_phi(outputs, frame), _canonical_crop(outputs), ijk_to_ras(outputs.frame_volumes[frame])
        )
        outputs.prior_transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(ras))

    # -- files in, files out (batch) -----------------------------------------------------------------------------
    def segment_file(
        self, path: str | Path, folder: str | Path, model: str | None = None, device: str = "auto"
    ) -> list[Path]:
        """Segment an image file through the scene as the module does, export the results to ``folder``, and
        take every node this added out of the scene again, so that a batch of cines does not pile up in memory."""
        from ..io.images import image_stem

        before = {node.GetID() for node in _nodes(self.scene)}
        try:
            image = read_cardiac_image(path)
            node = add_volume_nodes(self.scene, image, image_stem(Path(path)))
            outputs = self.process(node, model=model, device=device)
            for reason in outputs.result.summary.review_reasons:
                LOGGER.warning(f"{path}: {reason}")
            return self.export(outputs, folder)
        finally:
            _remove_nodes_added_since(self.scene, before)

    def export(self, outputs: SceneOutputs, folder: str | Path, extension: str = ".nii.gz") -> list[Path]:
        """Write the current segmentation (all frames, edits included) and the uncertainty maps on the input's
        grid, with the clinical indices; the files are named as ``gmmseg segment`` names them (``<stem>_seg``,
        ``<stem>_uncertainty``, ``<stem>_aleatoric``, ``<stem>_epistemic``)."""
        from ..io.images import AtomicOutputs, to_sitk

        if extension not in (".nii.gz", ".nrrd"):
            raise GmmSegError(
                _("unsupported export format {extension}; use .nii.gz or .nrrd").format(extension=repr(extension))
            )
        geometry = input_geometry(outputs.frame_volumes)
        labels = self.all_labels(outputs)
        stem = outputs.input_node.GetName().replace(" ", "_")
        squeeze = labels.shape[0] == 1
        with AtomicOutputs(folder) as files:
            files.add_image(
                case_file(stem, SEGMENTATION, extension), to_sitk(labels[0] if squeeze else labels, geometry)
            )
            for kind, maps in outputs.result.uncertainty.items():  # named as gmmseg segment names them
                files.add_image(
                    case_file(stem, UNCERTAINTY_FILES[kind], extension), to_sitk(maps[0] if squeeze else maps, geometry)
                )
            indices = self.update_indices(outputs, labels)
            files.add_bytes(case_file(stem, INDICES, ".json"), json.dumps(indices, indent=2).encode())
        return files.paths


def review_items(result: CaseResult, limit: int = 20, probabilities: Sequence[np.ndarray] | None = None) -> list[dict]:
    """The review queue of a case's outputs (no MRML: may run off the GUI thread): by estimated error, from the
    class probabilities (``result``'s own, or per frame (K, Z, Y, X) ``probabilities``), or for a segmentation
    without them by what its labels tell (ED and ES first, end slices first)."""
    spacing = result.summary.spacing_mm
    if probabilities is None and result.probabilities is not None:  # as the scene will keep them, so that the queue
        # shown when the results come back is the one a saved scene shows when opened again (the estimate softens
        # the probabilities, which makes their smallest values count)
        probabilities = [as_kept(p) for p in result.probabilities]
    if "total" in result.uncertainty and probabilities is not None:
        model = entry_of_result(_model_sha256(result.summary))
        queue = review_queue(
            result.uncertainty["total"],
            probabilities,
            result.labels,
            spacing,
            calibration=ReviewCalibration.of_model(model.record),
            disagreement=result.summary.slice_disagreement,
        )
    else:
        indices = result.summary.clinical_indices or {}
        key_frames = tuple(indices[key] for key in ("ed_frame", "es_frame") if key in indices)
        queue = label_review_queue(result.labels, spacing, key_frames)
    return [item.to_dict() for item in queue[:limit]]


def _model_stamp(model: ModelUsed | None) -> str:
    """What Accept records of the model behind the segmentation."""
    if model is None:
        return "none (a segmentation GmmSeg did not make)"
    unverified = "" if model.verified else " (unverified: in no model registry)"
    return f"{model.id} sha256:{model.sha256}{unverified}"


def _model_sha256(summary: CaseSummary) -> str | None:
    return None if summary.model is None else summary.model.sha256


def _automatic_phi(outputs: SceneOutputs, frame: int) -> Phi:
    return outputs.result.summary.phi[frame]


def _canonical_crop(outputs: SceneOutputs) -> CanonicalCrop:
    return outputs.result.summary.canonical_crop


def _nodes(scene) -> list:
    """The scene's nodes in the order they were added."""
    return [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]


def _remove_nodes_added_since(scene, before: set[str]) -> None:
    """Remove the nodes whose IDs are not in ``before`` (singletons stay), newest first."""
    added = [n for n in reversed(_nodes(scene)) if n.GetID() not in before and not n.GetSingletonTag()]
    # the sequence browsers first: while one exists, it gives its sequences new proxy nodes as they go
    browsers = [n for n in added if isinstance(n, slicer.vtkMRMLSequenceBrowserNode)]
    for node in browsers + added:
        if scene.IsNodePresent(node):
            scene.RemoveNode(node)
