"""The panel's result section: the outputs shown, the review table, the views, and what the clinician does to them.

Click refinement, Undo and Redo, Accept and the reader's choices of frames and slices
(:mod:`GmmSegLib.gui.reader_confirmation`) go through :class:`GmmSegLib.mrml.logic.GmmSegLogic`, which records each for
undo and recomputes the indices; placing the prior with the sliders moves its transform; export writes the edited
labels.
"""

from __future__ import annotations

from collections.abc import Callable

import slicer
from slicer.i18n import tr as _

from ..core.errors import GmmSegError
from ..mrml.nodes import box_corners
from .indices_follower import IndicesFollower
from .model_choice import chosen
from .pytorch_install import ensure_pytorch, import_refinement_ahead
from .reader_confirmation import ReaderConfirmation
from .review_table import ReviewTable
from .surface_filler import SurfaceFiller
from .user_action import user_action


class ResultPanel:
    """What the panel shows of one input's outputs and the edits on them.

    ``parameters()`` gives the parameter node, ``logic()`` a :class:`GmmSegLogic` on the application's scene,
    ``idle()`` whether no job runs (edits wait for it), and ``on_change()`` is called after every change that may
    enable or disable a button.
    """

    def __init__(
        self,
        ui,
        parameters: Callable[[], object],
        logic: Callable[[], object],
        idle: Callable[[], bool],
        log: Callable[[str], None],
        on_change: Callable[[], None],
    ):
        self.ui, self.parameters, self.logic, self.idle, self.log, self.on_change = (
            ui,
            parameters,
            logic,
            idle,
            log,
            on_change,
        )
        self.review = ReviewTable(ui.reviewTable)
        self.outputs = None  # GmmSegLib.mrml.scene_outputs.SceneOutputs
        self.indices = IndicesFollower(self._refresh_indices)
        self.surfaces = SurfaceFiller()
        self.confirm = ReaderConfirmation(ui, logic, idle, log, on_change)

    # ---- showing and reviewing -----------------------------------------------------------------------------------
    def show(self, outputs, review_items: list[dict] | None = None) -> None:
        """Show ``outputs`` (or nothing): review table, indices, views; torch is imported meanwhile for Refine."""
        self.outputs = outputs
        if outputs is not None:
            import_refinement_ahead()
        self.indices.follow(outputs.segmentation if outputs is not None else None)
        self.hide_outputs_from_inputs()
        self.review.show(
            review_items
            if review_items is not None
            else (self.logic().review_items(outputs) if outputs is not None else [])
        )
        self.ui.indicesTableView.setMRMLTableNode(outputs.indices_table if outputs is not None else None)
        self.show_layers()
        self._changed()

    def _changed(self) -> None:
        """After every change of the result: the 3D surfaces its frames lack are made while the GUI is idle, the
        confirmation section shows the choices behind the indices, and the buttons follow."""
        self.surfaces.fill(self.outputs)
        self.confirm.show(self.outputs)
        self.on_change()

    def take(self, input_node, result, review_items: list[dict]) -> None:
        """A finished segmentation of ``input_node`` into the scene and the panel, in place of the input's earlier
        outputs: those are removed, or, when accepted, kept out of the views. The command's warnings are in the log
        already (``launchConsoleProcess`` merges its stderr into the output the job runner logs)."""
        from ..mrml.scene_outputs import ACCEPTED

        logic, previous = self.logic(), self.outputs
        if previous is not None and previous.input_node is input_node:
            if previous.segmentation.GetAttribute(ACCEPTED) is None:
                logic.remove_outputs(previous)
            else:
                logic.supersede_outputs(previous)
                self.log(
                    _("The accepted result {name} is kept, out of the views.").format(
                        name=previous.segmentation.GetName()
                    )
                )
        self.show(logic.add_outputs(input_node, result), review_items)
        self.log(_("Done: {name}").format(name=self.outputs.segmentation.GetName()))
        reasons = result.summary.review_reasons
        if reasons:  # an unreliable, gapped or impossible result need not look wrong: say it aloud
            slicer.util.warningDisplay(
                _("Review this result before using it:") + "\n- " + "\n- ".join(reasons),
                windowTitle=_("GmmSeg: review advised"),
            )
        plot_view = bool(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLPlotViewNode"))
        for note in self.outputs.notes(plot_view=plot_view):
            self.log(note)

    def resume(self) -> None:
        """Take up the newest GmmSeg result in the scene (a saved scene opened, the module reloaded), preferring one of
        the chosen input, unless a result is shown."""
        if self.outputs is not None and self.outputs.present_in(slicer.mrmlScene):
            return
        with user_action(_("Cannot take up the GmmSeg result of this scene."), self.log):
            parameters = self.parameters()
            self._show_taken_up(self.logic().resume(parameters.inputNode if parameters is not None else None))

    def review_segmentation(self) -> None:
        """Take up the chosen segmentation: a GmmSeg result as it was left, or one brought from elsewhere."""
        with user_action(_("Cannot review this segmentation."), self.log):
            parameters = self.parameters()
            self._show_taken_up(self.logic().take_up(parameters.reviewSegmentation, parameters.inputNode))

    def _show_taken_up(self, outputs) -> None:
        from ..mrml.resume import taken_up_notes

        if outputs is not None:
            self.show(outputs)
            for note in taken_up_notes(outputs):
                self.log(note)

    def hide_outputs_from_inputs(self) -> None:
        """The input selector offers inputs only: the uncertainty and prior volumes the module made are hidden from
        it (qMRMLSortFilterProxyModel's ``hiddenNodeIDs``; HideFromEditors would also drop them from the data tree
        and from Save, qSlicerSaveDataDialog.cxx)."""
        from ..mrml.inputs import output_volume_ids

        self.ui.inputSelector.sortFilterProxyModel().hiddenNodeIDs = output_volume_ids(slicer.mrmlScene)

    def _refresh_indices(self) -> None:
        """The indices of the segmentation as it is now (after a Segment Editor edit)."""
        if self.outputs is not None and self.outputs.present_in(slicer.mrmlScene):
            with user_action(_("Could not update the clinical indices."), self.log):
                self.logic().update_indices(self.outputs)
            self.confirm.show(self.outputs)

    def show_layers(self) -> None:
        """The views show the input with the uncertainty map chosen, or the prior, added to it (graded: black where
        the model is sure, a stronger tint the more uncertain); nothing is added when the result has none."""
        from ..mrml.scene_outputs import show_layers

        parameters = self.parameters()
        if self.outputs is None or parameters is None:
            return
        outputs = self.outputs
        foreground = outputs.prior if parameters.showPrior else outputs.uncertainty.get(parameters.uncertaintyKind)
        show_layers(slicer.mrmlScene, outputs.shown_volume, foreground, parameters.uncertaintyOpacity)

    def show_selected_review_item(self) -> None:
        """Show the selected row's frame, turn the views to the stack's planes and centre them on its place."""
        item = self.review.selected_item()
        if item is None or self.outputs is None:
            return
        logic = self.logic()
        logic.show_frame(self.outputs, item["frame"])
        logic.show_stack_planes(self.outputs)
        x0, y0, x1, y1 = item["bbox"]
        world = logic.world_position(self.outputs, ((x0 + x1) / 2, (y0 + y1) / 2, item["slice"]), item["frame"])
        slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *world, slicer.vtkMRMLSliceNode.CenteredJumpSlice)

    # ---- editing ------------------------------------------------------------------------------------------------
    def refine(self) -> None:
        """Refinement of the chosen structure from the foreground and background clicks, the scribbles along it and
        along where it should not be, and the box, which are then cleared."""

        def world(points) -> list:
            return list(slicer.util.arrayFromMarkupsControlPoints(points, world=True))

        if not ensure_pytorch():  # the refinement runs torch in Slicer's process
            return
        with user_action(_("Refinement failed."), self.log):
            parameters = self.parameters()
            prompts = (
                parameters.foregroundPoints,
                parameters.backgroundPoints,
                parameters.scribblePoints,
                parameters.backgroundScribblePoints,
                parameters.refineBox,
            )
            foreground, background, stroke, background_stroke, box = prompts
            scribbles = [
                (list(slicer.util.arrayFromMarkupsCurvePoints(curve, world=True)), along)
                for curve, along in ((stroke, True), (background_stroke, False))
                if curve.GetNumberOfControlPoints()
            ]
            boxes = [box_corners(box)] if box.GetNumberOfControlPoints() else []
            changed = self.logic().refine(
                self.outputs,
                parameters.refineStructure,
                world(foreground),
                world(background),
                scribbles=scribbles,
                boxes=boxes,
            )
            for node in prompts:
                node.RemoveAllControlPoints()
            self.log(
                _("Refined {structure}: {count} pixels changed.").format(
                    structure=parameters.refineStructure, count=changed
                )
            )
        self._changed()

    def replay(self, undoing: bool) -> None:
        """Undo or redo the module's last Refine or Accept (the buttons and the Undo/Redo keys)."""
        history = self.outputs.history if self.outputs is not None else None
        if history is None or not self.idle() or not (history.can_undo if undoing else history.can_redo):
            return
        with user_action(_("Undo failed.") if undoing else _("Redo failed."), self.log):
            logic = self.logic()
            done = logic.undo(self.outputs) if undoing else logic.redo(self.outputs)
            self.log((_("Undone: {edit}.") if undoing else _("Redone: {edit}.")).format(edit=done))
        self._changed()

    def accept(self) -> None:
        with user_action(_("Accepting failed."), self.log):
            original = self.logic().accept(self.outputs)
            self.log(_("Accepted; the model's output is kept (hidden) as '{name}'.").format(name=original.GetName()))
        self._changed()

    def place_prior(self) -> None:
        """Move the prior to where the sliders say, and let the clinician move it on in the views."""
        from ..model.phi import Phi

        with user_action(_("Cannot place the prior there."), self.log):
            p = self.parameters()
            phi = Phi.from_parameters(p.priorScale, p.priorShiftX, p.priorShiftY, p.priorRotation)
            self.logic().set_transform_from_phi(self.outputs, phi)
            self.outputs.prior_transform.CreateDefaultDisplayNodes()
            self.outputs.prior_transform.GetDisplayNode().SetEditorVisibility(True)

    # ---- export ---------------------------------------------------------------------------------------------------
    def export(self) -> None:
        with user_action(_("Export failed."), self.log):
            folder = chosen(self.parameters().exportFolder)
            if folder is None:
                raise GmmSegError(_("choose an export folder"))
            written = self.logic().export(self.outputs, folder, self.ui.exportFormatComboBox.currentText)
            self.log(_("Exported: {files}").format(files=", ".join(str(p) for p in written)))

    def export_dicom(self) -> None:
        """Slicer's DICOM export dialog (QuantitativeReporting writes the DICOM SEG) on the segmentation."""
        if self.outputs is None:
            return
        hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        dialog = slicer.qSlicerDICOMExportDialog()
        dialog.setMRMLScene(slicer.mrmlScene)
        dialog.execDialog(hierarchy.GetItemByDataNode(self.outputs.segmentation))
