"""GmmSeg: segmentation of short-axis cine cardiac MRI with uncertainty, in 3D Slicer 5.10 and 5.12.

Slicer classes only (Module, Widget, Test); everything else is in GmmSegLib. The widget binds the GUI to a
parameter node and calls :class:`GmmSegLib.mrml.logic.GmmSegLogic`; long work (segmenting, re-running with
a moved prior, adapting to a site's images) runs in a separate ``PythonSlicer`` process through the ``gmmseg``
command line (:mod:`GmmSegLib.mrml.jobs`), so the GUI never freezes and Cancel stops the whole process tree.
torch is not imported when the module loads; the PyTorch extension installs it on first use (for the jobs, and
for click refinement, which runs in Slicer's process because it must answer at once).

This file is kept readable by older Pythons (no syntax newer than 3.9), so that an older Slicer shows the
release it needs instead of failing inside.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional, Union

import qt
import slicer
import vtk
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
from GmmSegLib.core.labels import STRUCTURES, UNCERTAINTY_KINDS  # noqa: E402
from GmmSegLib.core.paths import resource  # noqa: E402

SUPPORTED_RELEASES = ((5, 10), (5, 12))  # both embed Python 3.12.10 (Slicer's CMakeLists.txt)


def unsupported_release_message() -> str | None:
    """Why this Slicer cannot run the module, or None when it can."""
    release = (int(slicer.app.majorVersion), int(slicer.app.minorVersion))
    if release < SUPPORTED_RELEASES[0] or sys.version_info < (3, 10):
        return (f"GmmSeg needs 3D Slicer {SUPPORTED_RELEASES[0][0]}.{SUPPORTED_RELEASES[0][1]} or later "
                f"(this is Slicer {release[0]}.{release[1]} with Python {sys.version_info[0]}.{sys.version_info[1]}). "
                "Install a current Slicer from download.slicer.org.")
    return None


class GmmSegModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "GmmSeg Cardiac"
        self.parent.categories = ["Segmentation"]
        self.parent.contributors = ["GmmSeg developers"]
        self.parent.helpText = """
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
"""
        self.parent.acknowledgementText = """
GmmSeg: deep features with a per-pixel Gaussian mixture and an anatomical Dirichlet prior trained by
variational inference. The shipped model was trained on the ACDC challenge data (Bernard et al., IEEE TMI
2018, doi:10.1109/TMI.2018.2837502). Interactive correction follows the geodesic click encoding and
information fusion of interactive segmentation with limited annotation.
"""
        self.parent.icon = qt.QIcon(str(resource("Icons", "GmmSegModule.png")))


@parameterNodeWrapper
class GmmSegParameterNode:
    """Everything the GUI edits; each field is bound to a widget by ``SlicerParameterName`` in the .ui."""

    # typing.Union, not "|": Slicer 5.8 (Python 3.9) must get as far as saying which release is needed
    inputNode: Optional[Union[slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLSequenceBrowserNode]]  # noqa: UP007, UP045
    device: Annotated[str, Choice(["auto", "cuda", "mps", "cpu"])] = "auto"
    modelPath: Path = Path()
    uncertaintyOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.6
    uncertaintyKind: Annotated[str, Choice(list(UNCERTAINTY_KINDS))] = "total"
    showPrior: bool = False
    refineStructure: Annotated[str, Choice(list(STRUCTURES))] = "LV"
    foregroundPoints: slicer.vtkMRMLMarkupsFiducialNode
    backgroundPoints: slicer.vtkMRMLMarkupsFiducialNode
    priorScale: Annotated[float, WithinRange(0.5, 2.0)] = 1.0
    priorShiftX: Annotated[float, WithinRange(-40.0, 40.0)] = 0.0
    priorShiftY: Annotated[float, WithinRange(-40.0, 40.0)] = 0.0
    priorRotation: Annotated[float, WithinRange(-45.0, 45.0)] = 0.0
    exportFolder: Path = Path()
    adaptFolder: Path = Path()


def chosen(path: Path) -> Path | None:
    """A path field's value, or None when nothing was chosen (an empty path line edit reads as '.')."""
    return None if str(path) in ("", ".") else path


class GmmSegModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer-side entry to the MRML logic (which lives in GmmSegLib and runs on a bare scene)."""

    def getParameterNode(self) -> GmmSegParameterNode:
        return GmmSegParameterNode(super().getParameterNode())

    @staticmethod
    def sceneLogic():
        from GmmSegLib.mrml.logic import GmmSegLogic

        return GmmSegLogic(slicer.mrmlScene)


def ensure_pytorch() -> bool:
    """torch for the job's process, installed by the PyTorch extension for this computer's GPU on first use.
    numpy, scipy and SimpleITK come with Slicer (SuperBuild/External_python-scipy.cmake and others)."""
    try:
        import PyTorchUtils
    except ImportError:
        slicer.util.errorDisplay("GmmSeg needs the PyTorch extension. Install 'PyTorch' from the Extensions "
                                 "Manager, restart Slicer and try again.")
        return False
    torch_logic = PyTorchUtils.PyTorchUtilsLogic()
    if torch_logic.torchInstalled():
        return True
    if not slicer.util.confirmOkCancelDisplay("GmmSeg needs PyTorch, which is not installed yet. Download and "
                                              "install it now (about 1-3 GB; a restart may be needed)?"):
        return False
    try:
        if torch_logic.installTorch(askConfirmation=False) is None:
            raise RuntimeError("PyTorch installation did not complete")
    except Exception as error:  # the installer reports network / pip failures this way
        slicer.util.errorDisplay(f"Installing PyTorch failed: {error}\nRestart Slicer and try again, or install it "
                                 "from the PyTorch Utils module.")
        return False
    return True


@dataclass
class _Job:
    """A job in flight and what its results belong to."""

    kind: str  # "segment" or "adapt"
    console: object  # GmmSegLib.mrml.jobs.ConsoleJob
    work_folder: Path  # the job's private folder (the patient's images, the results, a model); always removed
    input_node: object = None  # the input a segmentation belongs to
    input_copy: Path | None = None  # the job's copy of the input's images, in work_folder
    scene_generation: int = 0  # scene closes so far when the job started
    adapted_model: Path | None = None
    last_error: str = ""


class GmmSegModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.ui = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._job: _Job | None = None
        self._sceneGeneration = 0
        self._outputs = None  # GmmSegLib.mrml.scene_outputs.SceneOutputs shown in the panel
        self._reviewItems: list = []
        self._shortcuts: list = []

    # ---- set-up -----------------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        refusal = unsupported_release_message()
        if refusal is not None:
            label = qt.QLabel(refusal)
            label.wordWrap = True
            self.layout.addWidget(label)
            return
        uiWidget = slicer.util.loadUI(str(resource("UI", "GmmSegModule.ui")))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = GmmSegModuleLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeRemovedEvent, self.onNodeRemoved)
        for button, slot in ((self.ui.segmentButton, self.onSegment), (self.ui.cancelButton, self.onCancel),
                             (self.ui.acceptButton, self.onAccept), (self.ui.refineButton, self.onRefine),
                             (self.ui.undoButton, self.onUndo), (self.ui.redoButton, self.onRedo),
                             (self.ui.applyPriorSlidersButton, self.onPriorSliders),
                             (self.ui.rerunPriorButton, self.onRerunWithPrior), (self.ui.exportButton, self.onExport),
                             (self.ui.exportDicomButton, self.onExportDicom), (self.ui.adaptButton, self.onAdapt),
                             (self.ui.openModelsFolderButton, self.onOpenModelsFolder),
                             (self.ui.markReviewedButton, self.onMarkReviewed)):
            button.connect("clicked(bool)", lambda _checked=False, slot=slot: slot())
        self.ui.reviewTable.connect("itemSelectionChanged()", self.onReviewSelection)
        self._loadTerminology()
        self._fillModelCombo()
        self._setRunning(False)
        self.initializeParameterNode()

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
        self._stopJob("the module was closed")
        self._uninstallShortcuts()
        self.removeObservers()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)

    def enter(self) -> None:
        if self.ui is None:
            return
        self.initializeParameterNode()
        self._installShortcuts()

    def exit(self) -> None:
        self._uninstallShortcuts()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def _installShortcuts(self) -> None:
        """The platform's Undo and Redo keys (Ctrl+Z; Ctrl+Y or Ctrl+Shift+Z) for the module's undo while it is shown,
        as the Segment Editor installs its own on the main window in enter()
        (qMRMLSegmentEditorWidget::installKeyboardShortcuts: QKeySequence::Undo and QKeySequence::Redo)."""
        self._uninstallShortcuts()
        parent = slicer.util.mainWindow() or self.parent
        for keys, slot in ((qt.QKeySequence.Undo, self.onUndo), (qt.QKeySequence.Redo, self.onRedo)):
            shortcut = qt.QShortcut(qt.QKeySequence(keys), parent)
            shortcut.connect("activated()", slot)
            self._shortcuts.append(shortcut)

    def _uninstallShortcuts(self) -> None:
        for shortcut in self._shortcuts:
            shortcut.setParent(None)
            shortcut.deleteLater()
        self._shortcuts = []

    # ---- the scene and the parameter node ---------------------------------------------------------------
    def onSceneStartClose(self, caller, event) -> None:
        """A closed scene takes the patient with it: the job is stopped and nothing of it reaches the next scene."""
        self._sceneGeneration += 1
        self._stopJob("the scene was closed")
        self.setParameterNode(None)
        self._showOutputs(None)
        self.ui.logTextEdit.clear()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    @vtk.calldata_type(vtk.VTK_OBJECT)
    def onNodeRemoved(self, caller, event, node) -> None:
        if self._job is not None and node is self._job.input_node:
            self._stopJob(f"its input {node.GetName()} was deleted")
        if self._outputs is not None and not self._outputs.present_in(slicer.mrmlScene):
            self._showOutputs(None)

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputNode:
            from GmmSegLib.mrml.inputs import default_input

            self._parameterNode.inputNode = default_input(slicer.mrmlScene)
        for field, name, colour in (("foregroundPoints", "GmmSeg foreground clicks", (0.2, 0.9, 0.2)),
                                    ("backgroundPoints", "GmmSeg background clicks", (0.9, 0.2, 0.9))):
            if not getattr(self._parameterNode, field):
                points = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
                points.CreateDefaultDisplayNodes()
                points.GetDisplayNode().SetSelectedColor(colour)
                setattr(self._parameterNode, field, points)
        self._followParameterNode()

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._checkCanApply()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self._followParameterNode()

    def _followParameterNode(self) -> None:
        """The widgets that are not bound follow the parameters: a cine's proxy volume chosen as input stands for
        the cine, the click placers follow their markups nodes, the views follow the display choices."""
        from GmmSegLib.mrml.inputs import cine_of

        parameters = self._parameterNode
        browser = cine_of(parameters.inputNode)
        if browser is not None:
            self._log(f"{parameters.inputNode.GetName()} is one frame of the cine {browser.GetName()}; "
                      "the whole cine is segmented.")
            parameters.inputNode = browser  # modifies the node again: this runs once more with the browser
            return
        self.ui.foregroundPlaceWidget.setCurrentNode(parameters.foregroundPoints)
        self.ui.backgroundPlaceWidget.setCurrentNode(parameters.backgroundPoints)
        self._checkCanApply()
        self.onShowLayers()

    def _checkCanApply(self) -> None:
        """One job at a time: every button that starts work is disabled while a job runs."""
        if self.ui is None:
            return
        idle = self._job is None
        hasInput = bool(self._parameterNode and self._parameterNode.inputNode)
        hasOutputs = self._outputs is not None
        self.ui.segmentButton.enabled = hasInput and idle
        self.ui.segmentButton.toolTip = "Segment the input" if hasInput else "Choose an input volume or cine"
        for button in (self.ui.acceptButton, self.ui.refineButton, self.ui.rerunPriorButton,
                       self.ui.applyPriorSlidersButton, self.ui.exportButton, self.ui.markReviewedButton):
            button.enabled = hasOutputs and idle
        self.ui.undoButton.enabled = hasOutputs and idle and self._outputs.history.can_undo
        self.ui.redoButton.enabled = hasOutputs and idle and self._outputs.history.can_redo
        self.ui.exportDicomButton.enabled = hasOutputs and idle and hasattr(slicer.modules, "quantitativereporting")
        self.ui.exportDicomButton.toolTip = ("Export as DICOM SEG" if hasattr(slicer.modules, "quantitativereporting")
                                             else "Install the QuantitativeReporting extension for DICOM SEG")
        self.ui.adaptButton.enabled = idle

    def _setRunning(self, running: bool, message: str = "") -> None:
        self.ui.cancelButton.enabled = running
        self.ui.progressBar.visible = running
        if running:
            self.ui.progressBar.setRange(0, 0)  # busy until the job reports progress
        self._log(message)
        self._checkCanApply()

    def _log(self, text: str) -> None:
        if text and self.ui is not None:
            self.ui.logTextEdit.appendPlainText(text)

    def _userAction(self, what: str):
        """Errors of a user action: a GmmSegError (bad input, a clicked slice outside the image...) is shown as a
        message; anything else is shown with its details and also raised, as slicer.util.tryWithErrorDisplay does."""
        return _UserAction(what, self._log)

    # ---- models and devices ----------------------------------------------------------------------------------
    def _fillModelCombo(self) -> None:
        from GmmSegLib.model.registry import available_models  # torch-free

        self.ui.modelComboBox.clear()
        try:
            for entry in available_models():
                self.ui.modelComboBox.addItem(entry.id, str(entry.path))
        except Exception as error:  # a broken registry must not stop the module from loading
            self._log(f"Model list unavailable: {error}")

    def _chosenModel(self) -> str | None:
        """The model file for a job: the file override when one is chosen, else the model list's choice."""
        override = chosen(self._parameterNode.modelPath)
        if override is not None:
            return str(override)
        return self.ui.modelComboBox.currentData or None

    def onOpenModelsFolder(self) -> None:
        from GmmSegLib.core.paths import user_models_dir

        folder = user_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder)))

    def _deviceArguments(self) -> list:
        device = self._parameterNode.device
        if device in ("auto", "cpu"):
            self.ui.deviceNoteLabel.text = ("Device auto: a GPU if the job finds one, else the CPU (about a second "
                                            "per volume, longer for a cine)." if device == "auto" else
                                            "Running on the CPU: about a second per volume, longer for a cine.")
        else:
            self.ui.deviceNoteLabel.text = f"Running on {device}; the job stops with a message if it is not there."
        return ["--device", device]

    # ---- jobs in a separate process -----------------------------------------------------------------------------
    def _startJob(self, kind: str, arguments: list, workFolder: Path, message: str, **context) -> None:
        from GmmSegLib.mrml.jobs import ConsoleJob

        if self._job is not None:
            raise RuntimeError("a job is running already")
        job = _Job(kind, None, workFolder, scene_generation=self._sceneGeneration, **context)
        self._job = job
        try:
            job.console = ConsoleJob(arguments, lambda line: self._onJobLine(job, line),
                                     lambda code, cancelled: self._onJobFinished(job, code, cancelled))
        except Exception:
            self._job = None
            shutil.rmtree(workFolder, ignore_errors=True)
            raise
        self._setRunning(True, message)

    def _onJobLine(self, job: _Job, line: str) -> None:
        import json

        if job is not self._job:
            return  # a stopped job's last words
        try:
            event = json.loads(line)
        except ValueError:
            if line.startswith("gmmseg: error:"):
                job.last_error = line[len("gmmseg: error:"):].strip()
            self._log(line)
            return
        if isinstance(event, dict) and event.get("event") == "progress":
            done = (event["epoch"] - 1) * event["steps"] + event["step"]
            self.ui.progressBar.setRange(0, event["epochs"] * event["steps"])
            self.ui.progressBar.setValue(done)
            self.ui.progressBar.setFormat(f"{event['stage']} epoch {event['epoch']}/{event['epochs']}, "
                                          f"about {int(event.get('eta_s', 0))} s left")
        elif not (isinstance(event, dict) and "outputs" in event):  # the list of written files is not news
            self._log(line)

    def _onJobFinished(self, job: _Job, code: int, cancelled: bool) -> None:
        if job is not self._job:
            shutil.rmtree(job.work_folder, ignore_errors=True)  # stopped before it ended: its results are no one's
            return
        if cancelled or code != 0 or job.kind == "adapt":
            self._finishJob(job, code, cancelled)
            return
        from GmmSegLib.inference.case_result import CaseResult
        from GmmSegLib.io.images import image_stem
        from GmmSegLib.mrml.jobs import BackgroundTask
        from GmmSegLib.mrml.logic import review_items

        def read():  # the files and the review queue off the GUI thread: a cine's take a second or more
            result = CaseResult.read(job.work_folder / "out", image_stem(job.input_copy))
            return result, review_items(result)

        self._log("Reading the results...")
        BackgroundTask(read, lambda value, error: self._finishJob(job, code, False, value, error))

    def _finishJob(self, job: _Job, code: int, cancelled: bool, read=None, error=None) -> None:
        """The end of a job: its results into the scene if they still belong there, its folder removed."""
        try:
            if job is not self._job:
                return  # stopped while its results were read
            self._job = None
            self._setRunning(False)
            if cancelled:
                self._log("Cancelled; nothing was written.")
            elif code != 0:
                slicer.util.errorDisplay(job.last_error or f"The job failed (exit code {code}); see the log.")
            elif job.scene_generation != self._sceneGeneration or (
                    job.input_node is not None and not slicer.mrmlScene.IsNodePresent(job.input_node)):
                self._log("The results were dropped: their scene or input is gone.")
            else:
                with self._userAction("Could not show the results."):
                    if error is not None:
                        raise error
                    if job.kind == "adapt":
                        self._publishAdaptedModel(job.adapted_model)
                    else:
                        self._importResults(job, *read)
        finally:
            shutil.rmtree(job.work_folder, ignore_errors=True)  # a copy of the patient's images is never kept

    def _stopJob(self, reason: str) -> None:
        """Cancel the running job for ``reason``; its process tree is killed and its end ignored."""
        job, self._job = self._job, None
        if job is None:
            return
        if job.console is not None:
            job.console.cancel()
        shutil.rmtree(job.work_folder, ignore_errors=True)
        self._log(f"The job was cancelled: {reason}.")
        if self.ui is not None:
            self._setRunning(False)

    def onCancel(self) -> None:
        if self._job is not None:
            self._job.console.cancel()
            self._log("Cancelling...")

    # ---- segmenting -------------------------------------------------------------------------------------------
    def onSegment(self, inputNode=None, phi: str | None = None, location: dict | None = None) -> None:
        """Segment the input (or ``inputNode``) in a job; ``phi`` places the prior (``--phi``) and ``location``, the
        JSON record of an earlier result of the same input, keeps its heart location (a re-run)."""
        import json

        inputNode = inputNode or self._parameterNode.inputNode
        if self._job is not None:
            return
        with self._userAction("Cannot segment this input."):
            inputPath = self.logic.sceneLogic().write_input(inputNode)  # refuses a bad input before anything else
            if not ensure_pytorch():
                shutil.rmtree(inputPath.parent, ignore_errors=True)
                return
            arguments = ["segment", str(inputPath), "--out", str(inputPath.parent / "out"), "--probabilities",
                         *self._deviceArguments()]
            model = self._chosenModel()
            if model:
                arguments += ["--model", model]
            if phi:
                arguments += ["--phi", phi]
            if location is not None:
                located = inputPath.parent / "location.json"
                located.write_text(json.dumps(location))
                arguments += ["--location", str(located)]
            self._startJob("segment", arguments, inputPath.parent, f"Segmenting {inputNode.GetName()}...",
                           input_node=inputNode, input_copy=inputPath)

    def _importResults(self, job: _Job, result, reviewItems: list) -> None:
        # the command's warnings (a stack the model is unsure about, an unverified model) are in the log already:
        # launchConsoleProcess merges its stderr into the output that _onJobLine logs
        from GmmSegLib.mrml.logic import ACCEPTED

        logic = self.logic.sceneLogic()
        previous = self._outputs
        if (previous is not None and previous.input_node is job.input_node
                and previous.segmentation.GetAttribute(ACCEPTED) is None):
            logic.remove_outputs(previous)  # a re-run replaces the result that was not accepted
        self._showOutputs(logic.add_outputs(job.input_node, result), reviewItems)
        self._log(f"Done: {self._outputs.segmentation.GetName()}")
        findings = result.summary.get("implausible") or []
        if findings:  # an empty or impossible result has no uncertainty to show: say it aloud
            slicer.util.warningDisplay("Review this result before using it:\n- " + "\n- ".join(findings),
                                       windowTitle="GmmSeg: implausible result")
        if result.summary.get("mirrored_storage"):
            self._log("Note: this stack is stored mirrored with respect to the training images (rows and columns "
                      "in the other handedness); it was segmented as such. Check the result if your scanner's "
                      "storage order is known to be the usual one.")
        if self._outputs.plot_chart is not None and not slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLPlotViewNode"):
            self._log(f"The volume curves are in '{self._outputs.plot_chart.GetName()}': choose a layout with a plot "
                      "view (e.g. Four-Up Plot) to see them.")

    def _showOutputs(self, outputs, reviewItems: list | None = None) -> None:
        """Show ``outputs`` (or nothing) in the panel: review table, indices, views."""
        self._outputs = outputs
        self._reviewItems = reviewItems if reviewItems is not None else (
            self.logic.sceneLogic().review_items(outputs) if outputs is not None else [])
        table = self.ui.reviewTable
        table.clearContents()
        table.setRowCount(len(self._reviewItems))
        for row, item in enumerate(self._reviewItems):
            for column, text in enumerate((str(item["frame"]), str(item["slice"]), item["structure"],
                                           f"{item['slice_score']:.2f}", "")):
                table.setItem(row, column, qt.QTableWidgetItem(text))
        self.ui.indicesTableView.setMRMLTableNode(outputs.indices_table if outputs is not None else None)
        self.onShowLayers()
        self._checkCanApply()

    def onShowLayers(self) -> None:
        if self._outputs is None or self._parameterNode is None:
            return
        outputs = self._outputs
        foreground = outputs.prior if self._parameterNode.showPrior else \
            outputs.uncertainty[self._parameterNode.uncertaintyKind]
        slicer.util.setSliceViewerLayers(background=outputs.shown_volume, foreground=foreground,
                                         foregroundOpacity=self._parameterNode.uncertaintyOpacity)

    # ---- review ------------------------------------------------------------------------------------------------
    def _selectedRows(self) -> list:
        return sorted({item.row() for item in self.ui.reviewTable.selectedItems()})

    def onReviewSelection(self) -> None:
        rows = self._selectedRows()
        if not rows or self._outputs is None:
            return
        item = self._reviewItems[rows[0]]
        logic = self.logic.sceneLogic()
        logic.show_frame(self._outputs, item["frame"])
        x0, y0, x1, y1 = item["bbox"]
        world = logic.world_position(self._outputs, ((x0 + x1) / 2, (y0 + y1) / 2, item["slice"]), item["frame"])
        slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *world, slicer.vtkMRMLSliceNode.CenteredJumpSlice)

    def onMarkReviewed(self) -> None:
        for row in self._selectedRows():
            self.ui.reviewTable.setItem(row, 4, qt.QTableWidgetItem("reviewed"))

    # ---- editing ------------------------------------------------------------------------------------------------
    def onRefine(self) -> None:
        def points(node) -> list:
            return [node.GetNthControlPointPositionWorld(i) for i in range(node.GetNumberOfControlPoints())]

        if not ensure_pytorch():
            return
        with self._userAction("Refinement failed."):
            parameters = self._parameterNode
            foreground, background = parameters.foregroundPoints, parameters.backgroundPoints
            changed = self.logic.sceneLogic().refine(self._outputs, parameters.refineStructure, points(foreground),
                                                     points(background))
            foreground.RemoveAllControlPoints()
            background.RemoveAllControlPoints()
            self._log(f"Refined {parameters.refineStructure}: {changed} pixels changed.")
        self._checkCanApply()

    def onUndo(self) -> None:
        self._replay(undoing=True)

    def onRedo(self) -> None:
        self._replay(undoing=False)

    def _replay(self, undoing: bool) -> None:
        """Undo or redo the module's last Refine or Accept (the buttons and the Undo/Redo keys)."""
        history = self._outputs.history if self._outputs is not None else None
        if history is None or self._job is not None or not (history.can_undo if undoing else history.can_redo):
            return
        with self._userAction("Undo failed." if undoing else "Redo failed."):
            logic = self.logic.sceneLogic()
            done = logic.undo(self._outputs) if undoing else logic.redo(self._outputs)
            self._log(f"{'Undone' if undoing else 'Redone'}: {done}.")
        self._checkCanApply()

    def onAccept(self) -> None:
        with self._userAction("Accepting failed."):
            original = self.logic.sceneLogic().accept(self._outputs)
            self._log(f"Accepted; the model's output is kept (hidden) as '{original.GetName()}'.")
        self._checkCanApply()

    # ---- re-registering the prior ----------------------------------------------------------------------------------
    def onPriorSliders(self) -> None:
        from GmmSegLib.model.phi import Phi

        with self._userAction("Cannot place the prior there."):
            p = self._parameterNode
            phi = Phi.from_parameters(p.priorScale, p.priorShiftX, p.priorShiftY, p.priorRotation)
            self.logic.sceneLogic().set_transform_from_phi(self._outputs, phi)
            self._outputs.prior_transform.CreateDefaultDisplayNodes()
            self._outputs.prior_transform.GetDisplayNode().SetEditorVisibility(True)

    def onRerunWithPrior(self) -> None:
        """Segment the result's own input again with the prior where the clinician put it."""
        with self._userAction("Cannot use this prior placement."):
            phi = self.logic.sceneLogic().phi_from_transform(self._outputs).argument()
        self.onSegment(inputNode=self._outputs.input_node, phi=phi, location=self._outputs.result.summary)

    # ---- export and adaptation ----------------------------------------------------------------------------------
    def onExport(self) -> None:
        with self._userAction("Export failed."):
            folder = chosen(self._parameterNode.exportFolder) or Path.home()
            written = self.logic.sceneLogic().export(self._outputs, folder, self.ui.exportFormatComboBox.currentText)
            self._log("Exported: " + ", ".join(str(p) for p in written))

    def onExportDicom(self) -> None:
        if self._outputs is None:
            return
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        dialog = slicer.qSlicerDICOMExportDialog()
        dialog.setMRMLScene(slicer.mrmlScene)
        dialog.execDialog(shNode.GetItemByDataNode(self._outputs.segmentation))

    def onAdapt(self) -> None:
        if self._job is not None or not ensure_pytorch():
            return
        from datetime import datetime

        from GmmSegLib.io.images import IMAGE_SUFFIXES

        folder = chosen(self._parameterNode.adaptFolder)
        images = sorted(str(p) for p in folder.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES)) \
            if folder is not None and folder.is_dir() else []
        if not images:
            slicer.util.errorDisplay(f"No NIfTI/NRRD images found in '{folder or ''}'.")
            return
        workFolder = Path(tempfile.mkdtemp(prefix="gmmseg-adapt-"))
        model = workFolder / f"adapted_{datetime.now():%Y%m%d_%H%M%S}.pt"  # moved to the models folder when done
        arguments = ["adapt", *images, "--out", str(model), *self._deviceArguments()]
        base = self._chosenModel()
        if base:
            arguments += ["--model", base]
        with self._userAction("Cannot adapt."):
            self._startJob("adapt", arguments, workFolder, f"Adapting to {len(images)} images (label-free)...",
                           adapted_model=model)

    def _publishAdaptedModel(self, model: Path) -> None:
        from GmmSegLib.model.registry import publish_adapted_model

        published = publish_adapted_model(model)
        self._fillModelCombo()
        self.ui.modelComboBox.setCurrentIndex(self.ui.modelComboBox.findData(str(published)))
        self._log(f"Adapted model saved as {published} and selected.")


class _UserAction:
    """Context manager behind GmmSegModuleWidget._userAction."""

    def __init__(self, what: str, log):
        self.what, self.log = what, log

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace) -> bool:
        from GmmSegLib.core.errors import GmmSegError

        if error is None:
            return False
        if isinstance(error, GmmSegError):
            self.log(f"{self.what} {error}")
            slicer.util.errorDisplay(f"{self.what}\n\n{error}")
            return True  # a user's mistake: a message, no traceback
        import traceback

        slicer.util.errorDisplay(f"{self.what}\n\n{error}", detailedText="".join(traceback.format_exception(
            kind, error, trace)))
        return False


class GmmSegModuleTest(ScriptedLoadableModuleTest):
    """Runs the same logic test body as the pytest suite (Testing/test_slicer_logic.py), on a scene of its own so
    that the user's scene is neither cleared nor left with undo switched on."""

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

