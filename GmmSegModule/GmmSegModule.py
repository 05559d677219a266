"""GmmSeg: segmentation of short-axis cine cardiac MRI with uncertainty, in 3D Slicer 5.10 and 5.12.

Slicer classes only (Module, Widget, Test); everything else is in GmmSegLib. The widget binds the GUI to a
parameter node and calls :class:`GmmSegLib.mrml.logic.GmmSegLogic`; long work (segmenting, re-running with
a moved prior, adapting to a site's images) runs in a separate ``PythonSlicer`` process through the ``gmmseg``
command line (:mod:`GmmSegLib.gui.jobs`), so the GUI never freezes and Cancel stops the whole process tree.
torch is not imported when the module loads; the PyTorch extension installs it on first use (for the jobs, and
for click refinement, which runs in Slicer's process because it must answer at once).

This file is kept readable by older Pythons (no syntax newer than 3.9), so that an older Slicer shows the
release it needs instead of failing inside.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Optional, Union

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

MODULE_DIR = Path(__file__).resolve().parent
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

# torch-free, as everything the module loads
from GmmSegLib.core.device import offered_devices  # noqa: E402
from GmmSegLib.core.labels import STRUCTURES, UNCERTAINTY_KINDS  # noqa: E402
from GmmSegLib.core.paths import resource  # noqa: E402

SUPPORTED_RELEASES = ((5, 10), (5, 12))  # both embed Python 3.12.10 (Slicer's CMakeLists.txt)


def unsupported_release_message() -> str | None:
    """Why this Slicer cannot run the module, or None when it can."""
    release = (int(slicer.app.majorVersion), int(slicer.app.minorVersion))
    if release < SUPPORTED_RELEASES[0] or sys.version_info < (3, 10):
        return _(
            "GmmSeg needs 3D Slicer {needed} or later (this is Slicer {release} with Python {python}). Install a "
            "current Slicer from download.slicer.org."
        ).format(
            needed="{}.{}".format(*SUPPORTED_RELEASES[0]),
            release="{}.{}".format(*release),
            python="{}.{}".format(*sys.version_info[:2]),
        )
    return None


class GmmSegModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        # _() and translate() mark the text for Slicer's translations (slicer/i18n.py; the module template's way)
        self.parent.title = _("GmmSeg Cardiac")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.contributors = ["GmmSeg developers"]
        self.parent.helpText = _("""
Segments the LV cavity, myocardium and RV cavity in short-axis cine MRI (a volume or a cine loaded as a
volume sequence) and shows per-pixel uncertainty from the model's Dirichlet concentrations. For 3D Slicer 5.10
and 5.12.<br>
Workflow: 1. choose the input and press <b>Segment</b>. 2. Review the most uncertain slices first (table;
select a row to jump to its slice and frame). 3. Correct with foreground/background clicks (<b>Refine</b>;
<b>Undo</b>/<b>Redo</b>, or the Undo and Redo keys while this module is shown) or with the Segment Editor. 4. If the
prior is misplaced, move it (sliders or drag its transform) and <b>Re-run with this prior</b>.
5. <b>Accept</b>: the model's output is kept for audit (hidden) and the clinical indices (volumes, EF, LV mass)
are updated. 6. Export. <b>Adapt</b> fits the model to your site's images without labels.<br>
Research software: not a medical device; check every result.
""")
        self.parent.acknowledgementText = _("""
GmmSeg: deep features with a per-pixel Gaussian mixture and an anatomical Dirichlet prior trained by
variational inference. The shipped model was trained on the ACDC challenge data (Bernard et al., IEEE TMI
2018, doi:10.1109/TMI.2018.2837502). Interactive correction follows the geodesic click encoding and
information fusion of interactive segmentation with limited annotation.
""")
        self.parent.icon = qt.QIcon(str(resource("Icons", "GmmSegModule.png")))


@parameterNodeWrapper
class GmmSegParameterNode:
    """Everything the GUI edits; each field is bound to a widget by ``SlicerParameterName`` in the .ui."""

    # typing.Union, not "|": Slicer 5.8 (Python 3.9) must get as far as saying which release is needed
    inputNode: Optional[Union[slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLSequenceBrowserNode]]  # noqa: UP007, UP045
    device: Annotated[str, Choice(list(offered_devices()))] = "auto"  # "cpu" forces the CPU
    modelPath: Path = Path()  # the model file override; kept by GmmSegLib.gui.model_choice, not by the .ui
    uncertaintyOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.6
    uncertaintyKind: Annotated[str, Choice(list(UNCERTAINTY_KINDS))] = "total"
    showPrior: bool = False
    refineStructure: Annotated[str, Choice(list(STRUCTURES))] = "LV"
    foregroundPoints: slicer.vtkMRMLMarkupsFiducialNode
    backgroundPoints: slicer.vtkMRMLMarkupsFiducialNode
    scribblePoints: slicer.vtkMRMLMarkupsCurveNode  # a stroke along what the structure should cover
    backgroundScribblePoints: slicer.vtkMRMLMarkupsCurveNode  # a stroke along what it covers and should not
    refineBox: slicer.vtkMRMLMarkupsROINode  # a box that holds all of the structure (a missed basal RV)
    priorScale: Annotated[float, WithinRange(0.5, 2.0)] = 1.0
    priorShiftX: Annotated[float, WithinRange(-40.0, 40.0)] = 0.0
    priorShiftY: Annotated[float, WithinRange(-40.0, 40.0)] = 0.0
    priorRotation: Annotated[float, WithinRange(-45.0, 45.0)] = 0.0
    exportFolder: Path = Path()
    adaptFolder: Path = Path()
    reviewSegmentation: Optional[slicer.vtkMRMLSegmentationNode]  # noqa: UP045


class GmmSegModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer-side entry to the MRML logic (which lives in GmmSegLib and runs on a bare scene)."""

    def getParameterNode(self) -> GmmSegParameterNode:
        return GmmSegParameterNode(super().getParameterNode())

    @staticmethod
    def sceneLogic():
        from GmmSegLib.mrml.logic import GmmSegLogic

        return GmmSegLogic(slicer.mrmlScene)


class GmmSegModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: binds the .ui to the parameter node, starts jobs, shows their outputs and edits them."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self.ui = self._parameterNode = self._parameterNodeGuiTag = None
        self._jobs = self._models = self._results = self._keys = None  # GmmSegLib.gui parts, made in setup()
        self._modelRefinesBoxes: dict[str | None, bool] = {}  # by a result's model sha256 (read from the registry)

    # ---- set-up -----------------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        refusal = unsupported_release_message()
        if refusal is not None:
            label = qt.QLabel(refusal)
            label.wordWrap = True
            self.layout.addWidget(label)
            return
        from GmmSegLib.gui.job_runner import JobRunner
        from GmmSegLib.gui.model_choice import ModelChoice
        from GmmSegLib.gui.result_panel import ResultPanel
        from GmmSegLib.gui.shortcuts import UndoRedoKeys

        uiWidget = slicer.util.loadUI(str(resource("UI", "GmmSegModule.ui")))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = GmmSegModuleLogic()
        self._jobs = JobRunner(self.ui.progressBar, self._log, self._checkCanApply, self._onJobDone)
        self._models = ModelChoice(self.ui, lambda: self._parameterNode, self._log)
        self._results = ResultPanel(
            self.ui,
            lambda: self._parameterNode,
            self.logic.sceneLogic,
            lambda: self._jobs.idle,
            self._log,
            self._checkCanApply,
        )
        self._keys = UndoRedoKeys(
            lambda: self._results.replay(undoing=True), lambda: self._results.replay(undoing=False), self.parent
        )
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeRemovedEvent, self.onNodeRemoved)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartImportEvent, self.onSceneStartImport)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)
        results = self._results
        for button, slot in (
            (self.ui.segmentButton, self.onSegmentOrCancel),
            (self.ui.cancelButton, self._jobs.cancel),
            (self.ui.acceptButton, results.accept),
            (self.ui.refineButton, results.refine),
            (self.ui.undoButton, self._keys.on_undo),
            (self.ui.redoButton, self._keys.on_redo),
            (self.ui.applyPriorSlidersButton, results.place_prior),
            (self.ui.rerunPriorButton, self.onRerunWithPrior),
            (self.ui.exportButton, results.export),
            (self.ui.exportDicomButton, results.export_dicom),
            (self.ui.adaptButton, self.onAdapt),
            (self.ui.openModelsFolderButton, self._models.open_models_folder),
            (self.ui.markReviewedButton, results.review.mark_selected_reviewed),
            (self.ui.reviewSegmentationButton, results.review_segmentation),
        ):
            button.connect("clicked(bool)", lambda _checked=False, slot=slot: slot())
        self.ui.reviewTable.connect("itemSelectionChanged()", results.show_selected_review_item)
        self._loadTerminology()
        self._models.fill()
        self.ui.progressBar.visible = False
        self.initializeParameterNode()
        if self.parent.isEntered:  # a Reload while the module is shown calls setup() but not enter() again
            self._keys.install()

    @staticmethod
    def _loadTerminology() -> None:
        """Make the segments' SNOMED codes known to Slicer's terminology browser
        (vtkSlicerTerminologiesModuleLogic::LoadTerminologyFromFile, in 5.10 and 5.12)."""
        terminologies = getattr(slicer.modules, "terminologies", None)
        if terminologies is not None:
            terminologies.logic().LoadTerminologyFromFile(str(resource("Terminology", "GmmSegCardiac.term.json")))

    def cleanup(self) -> None:
        """Module reload and Slicer exit (qSlicerCoreApplication::onAboutToQuit unloads every module, which
        calls this through ScriptedLoadableModuleWidget): no job outlives the panel."""
        if self._jobs is not None:
            self._jobs.stop(_("the module was closed"))
            self._keys.uninstall()
            self._results.indices.follow(None)
        self.removeObservers()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)

    def enter(self) -> None:
        if self.ui is None:
            return
        self.initializeParameterNode()
        self._keys.install()

    def exit(self) -> None:
        """The panel is hidden: the undo keys go. The GUI stays bound to the parameter node: in Slicer 5.10
        ``disconnectGui`` leaves the VTK observer that ``connectGui`` added (parameterNodeWrapper/wrapper.py), so a
        binding made again on every enter() would leave one more observer on the node each time."""
        if self._keys is not None:
            self._keys.uninstall()

    # ---- the scene and the parameter node ---------------------------------------------------------------
    def onSceneStartClose(self, caller, event) -> None:
        """A closed scene takes the patient with it: the job is stopped and nothing of it reaches the next scene.
        The log is cleared first, so that it keeps why a running job was cancelled."""
        self.ui.logTextEdit.clear()
        self._jobs.scene_closed()
        self.setParameterNode(None)
        self._results.show(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onSceneStartImport(self, caller, event) -> None:
        """A scene is being opened (or added to this one): the GUI lets go of the parameter node until it is read.

        At the end of an import the node selectors list the scene afresh and take their first row (qMRMLSceneModel
        is rebuilt; a QComboBox takes the first row that appears in an empty list); while bound, they wrote that row
        over the parameter node that the opened scene brought, so that its foreground click node became the
        background one too (and Refine took each background click for a foreground click as well)."""
        self.setParameterNode(None)

    def onSceneEndImport(self, caller, event) -> None:
        """The parameter node the scene brought is bound again, and its GmmSeg result taken up, when the module is
        shown (else on enter())."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    @vtk.calldata_type(vtk.VTK_OBJECT)
    def onNodeRemoved(self, caller, event, node) -> None:
        if self._jobs.job is not None and node is self._jobs.job.input_node:
            self._jobs.stop(_("its input {name} was deleted").format(name=node.GetName()))
        if self._results.outputs is not None and not self._results.outputs.present_in(slicer.mrmlScene):
            self._results.show(None)

    def initializeParameterNode(self) -> None:
        from GmmSegLib.gui.model_choice import chosen
        from GmmSegLib.mrml.inputs import default_input

        parameterNode = self.logic.getParameterNode()
        self._addClickPoints(parameterNode)  # before the GUI is bound to it: see there
        self.setParameterNode(parameterNode)
        if not self._parameterNode.inputNode:
            self._parameterNode.inputNode = default_input(slicer.mrmlScene)
        for field in ("exportFolder", "adaptFolder"):  # the folder buttons show the folder used, not Slicer's "."
            if chosen(getattr(self._parameterNode, field)) is None:
                setattr(self._parameterNode, field, Path.home())
        self._results.hide_outputs_from_inputs()
        self._followParameterNode()
        self._results.resume()  # a result left in the scene (saved and opened, or the module reloaded)

    @staticmethod
    def _addClickPoints(parameterNode) -> None:
        """Give the parameter node a markups node for the foreground clicks, another for the background clicks, a
        curve for a scribble along the structure, another for one along where it should not be, and an ROI for a
        box.

        Both are made before either is set (on a new parameter node, before the GUI is bound to it): the clicks'
        selectors (qMRMLNodeComboBox, noneEnabled and every action item off) take the first markups node that appears
        in their empty list as their current node, as a QComboBox takes its first row, and a bound selector writes its
        choice into the parameter node. Made one by one while bound, the foreground node was taken for the background
        clicks too, so that Refine got each background click as a foreground click as well and left the voxel clicked
        as it was."""
        from GmmSegLib.mrml.nodes import new_click_points

        made = {
            field: new_click_points(slicer.mrmlScene, name, colour, kind)
            for field, name, colour, kind in (
                ("foregroundPoints", "GmmSeg foreground clicks", (0.2, 0.9, 0.2), "vtkMRMLMarkupsFiducialNode"),
                ("backgroundPoints", "GmmSeg background clicks", (0.9, 0.2, 0.9), "vtkMRMLMarkupsFiducialNode"),
                ("scribblePoints", "GmmSeg scribble", (0.2, 0.9, 0.2), "vtkMRMLMarkupsCurveNode"),
                ("backgroundScribblePoints", "GmmSeg background scribble", (0.9, 0.2, 0.9), "vtkMRMLMarkupsCurveNode"),
                ("refineBox", "GmmSeg box", (0.9, 0.8, 0.1), "vtkMRMLMarkupsROINode"),
            )
            if not getattr(parameterNode, field)
        }
        for field, node in made.items():
            setattr(parameterNode, field, node)

    def setParameterNode(self, parameterNode) -> None:
        if (
            parameterNode
            and self._parameterNode
            and self._parameterNodeGuiTag is not None
            and parameterNode.parameterNode is self._parameterNode.parameterNode
        ):
            self._checkCanApply()
            return  # bound already (see exit())
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._followParameterNode)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._followParameterNode)
            self._checkCanApply()

    def _followParameterNode(self, caller=None, event=None) -> None:
        """The widgets that are not bound follow the parameters: a cine's proxy volume chosen as input stands for
        the cine, the click placers follow their markups nodes, the views follow the display choices."""
        from GmmSegLib.mrml.inputs import cine_of

        parameters = self._parameterNode
        browser = cine_of(parameters.inputNode)
        if browser is not None:
            self._log(
                _("{frame} is one frame of the cine {cine}; the whole cine is segmented.").format(
                    frame=parameters.inputNode.GetName(), cine=browser.GetName()
                )
            )
            parameters.inputNode = browser  # modifies the node again: this runs once more with the browser
            return
        self.ui.foregroundPlaceWidget.setCurrentNode(parameters.foregroundPoints)
        self.ui.backgroundPlaceWidget.setCurrentNode(parameters.backgroundPoints)
        self.ui.scribblePlaceWidget.setCurrentNode(parameters.scribblePoints)
        self.ui.backgroundScribblePlaceWidget.setCurrentNode(parameters.backgroundScribblePoints)
        self.ui.boxPlaceWidget.setCurrentNode(parameters.refineBox)
        self._models.follow()
        self._checkCanApply()
        self._results.show_layers()

    def _checkCanApply(self) -> None:
        """One job at a time: every button that starts work is disabled while a job runs."""
        if self.ui is None:
            return
        idle = self._jobs.idle
        hasInput = bool(self._parameterNode and self._parameterNode.inputNode)
        outputs = self._results.outputs
        editable = outputs is not None and idle
        self.ui.cancelButton.enabled = not idle
        self.ui.segmentButton.enabled = hasInput or not idle  # while a job runs it is its Cancel button
        self.ui.segmentButton.text = _("Segment") if idle else _("Cancel")
        self.ui.segmentButton.toolTip = (
            _("Stop the running job")
            if not idle
            else _("Segment the input")
            if hasInput
            else _("Choose an input volume or cine")
        )
        for button in (self.ui.acceptButton, self.ui.refineButton, self.ui.exportButton, self.ui.markReviewedButton):
            button.enabled = editable
        self.ui.confirmCollapsibleButton.enabled = editable  # the reader's choices of frames and slices
        for button in (self.ui.rerunPriorButton, self.ui.applyPriorSlidersButton):  # none for a user's segmentation
            button.enabled = editable and outputs.prior_transform is not None
        self.ui.reviewSegmentationButton.enabled = idle and bool(
            self._parameterNode and self._parameterNode.reviewSegmentation
        )
        boxes = editable and self._boxesRefined(outputs)
        self.ui.boxPlaceWidget.enabled = self.ui.boxLabel.enabled = boxes
        self.ui.boxLabel.toolTip = (
            _("Draw a box that holds all of the structure, for one the model missed (a basal RV)")
            if boxes or not editable
            else _("This result's model has no click refiner: a box cannot be used; place clicks or a scribble")
        )
        self.ui.undoButton.enabled = editable and outputs.history.can_undo
        self.ui.redoButton.enabled = editable and outputs.history.can_redo
        dicom = hasattr(slicer.modules, "quantitativereporting")
        self.ui.exportDicomButton.enabled = editable and dicom
        self.ui.exportDicomButton.toolTip = (
            _("Export as DICOM SEG") if dicom else _("Install the QuantitativeReporting extension for DICOM SEG")
        )
        self.ui.adaptButton.enabled = idle

    def _boxesRefined(self, outputs) -> bool:
        """Whether Refine can use a box on ``outputs``: only a model with a click refiner (its registry entry says)
        corrects from one; for the others the box placer is disabled rather than refused at Refine. Read once per
        model: the panel asks on every parameter change."""
        from GmmSegLib.core.errors import GmmSegError
        from GmmSegLib.model.registry import has_click_refiner

        model = outputs.result.summary.model
        sha256 = None if model is None else model.sha256
        if sha256 not in self._modelRefinesBoxes:
            try:
                self._modelRefinesBoxes[sha256] = has_click_refiner(sha256)
            except GmmSegError:  # a broken registry: the refinement itself says so, if the user gets there
                return False
        return self._modelRefinesBoxes[sha256]

    def _log(self, text: str) -> None:
        if text and self.ui is not None:
            self.ui.logTextEdit.appendPlainText(text)

    def _userAction(self, what: str):
        from GmmSegLib.gui.user_action import user_action

        return user_action(what, self._log)

    # ---- jobs: segmenting and adapting in a separate process --------------------------------------------------
    def onSegmentOrCancel(self) -> None:
        """The Segment button, which reads Cancel while a job runs (as MONAIAuto3DSeg's Apply button)."""
        if self._jobs.idle:
            self.onSegment()
        else:
            self._jobs.cancel()

    def onSegment(self, inputNode=None, phi: str | None = None, location=None) -> None:
        """Segment the input (or ``inputNode``) in a job; ``phi`` places the prior (``--phi``) and ``location``, the
        summary (``CaseSummary``) of an earlier result of the same input, keeps its heart location (a re-run)."""
        import json

        from GmmSegLib.gui.job_runner import Job
        from GmmSegLib.gui.pytorch_install import ensure_pytorch, import_refinement_ahead
        from GmmSegLib.gui.user_action import confirmed
        from GmmSegLib.mrml.inputs import frame_volumes
        from GmmSegLib.mrml.job_arguments import segment_arguments

        inputNode = inputNode or self._parameterNode.inputNode
        if not self._jobs.idle:
            return
        with self._userAction(_("Cannot segment this input.")):
            frames = len(frame_volumes(inputNode))
            if (
                location is None
                and frames > 1
                and not confirmed(
                    _("Segment all {count} frames of {name}?").format(count=frames, name=inputNode.GetName())
                )
            ):
                return
            inputPath = self.logic.sceneLogic().write_input(inputNode)  # refuses a bad input before anything else
            if not ensure_pytorch():
                shutil.rmtree(inputPath.parent, ignore_errors=True)
                return
            located = None
            if location is not None:
                located = inputPath.parent / "location.json"
                located.write_text(json.dumps(location.to_json()))
            arguments = segment_arguments(
                inputPath,
                self._models.device(self._parameterNode.device),
                self._models.model(self._parameterNode.modelPath),
                phi,
                located,
            )
            self._jobs.start(
                Job("segment", inputPath.parent, input_node=inputNode, input_copy=inputPath),
                arguments,
                _("Segmenting {name}...").format(name=inputNode.GetName()),
            )
            import_refinement_ahead()  # while the clinician waits for the job, not when its result arrives

    def onAdapt(self) -> None:
        from datetime import datetime

        from GmmSegLib.gui.job_runner import Job
        from GmmSegLib.gui.model_choice import chosen
        from GmmSegLib.gui.pytorch_install import ensure_pytorch
        from GmmSegLib.io.images import image_files
        from GmmSegLib.mrml.job_arguments import adapt_arguments

        if not self._jobs.idle or not ensure_pytorch():
            return
        folder = chosen(self._parameterNode.adaptFolder)
        images = [str(p) for p in image_files(folder)] if folder is not None and folder.is_dir() else []
        if not images:
            slicer.util.errorDisplay(_("No NIfTI/NRRD images found in '{folder}'.").format(folder=folder or ""))
            return
        workFolder = Path(tempfile.mkdtemp(prefix="gmmseg-adapt-"))
        model = workFolder / f"adapted_{datetime.now():%Y%m%d_%H%M%S}.pt"  # moved to the models folder when done
        with self._userAction(_("Cannot adapt.")):
            arguments = adapt_arguments(
                images,
                model,
                self._models.device(self._parameterNode.device),
                self._models.model(self._parameterNode.modelPath),
            )
            self._jobs.start(
                Job("adapt", workFolder, adapted_model=model),
                arguments,
                _("Adapting to {count} images (label-free)...").format(count=len(images)),
            )

    def _onJobDone(self, job, value) -> None:
        if job.kind == "adapt":
            self._log(_("Adapted model saved as {path} and selected.").format(path=self._models.publish(value)))
        else:
            self._results.take(job.input_node, *value)

    def onRerunWithPrior(self) -> None:
        """Segment the result's own input again with the prior where the clinician put it, in the first run's crop."""
        outputs = self._results.outputs
        with self._userAction(_("Cannot use this prior placement.")):
            phi = self.logic.sceneLogic().phi_from_transform(outputs).argument()
        self.onSegment(inputNode=outputs.input_node, phi=phi, location=outputs.result.summary)


class GmmSegModuleTest(ScriptedLoadableModuleTest):
    """Runs the same logic test body as the pytest suite (Testing/mrml/test_logic.py), on a scene of its own so
    that the user's scene is not cleared."""

    def runTest(self) -> None:
        self.test_workflow_on_phantom()

    def test_workflow_on_phantom(self) -> None:
        from GmmSegLib.mrml.selftest import run_logic_self_test

        self.delayDisplay("Segmenting, reviewing, refining and re-registering a phantom")
        scene = slicer.vtkMRMLScene()
        sequences = slicer.vtkSlicerSequencesLogic()
        sequences.SetMRMLScene(scene)
        folder = tempfile.mkdtemp(prefix="gmmseg-selftest-")
        try:
            measured = run_logic_self_test(scene, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            scene.Clear(True)
        self.delayDisplay(f"Passed: {measured}")
