"""GmmSeg: segmentation of short-axis cine cardiac MRI with uncertainty, in 3D Slicer.

Slicer classes only (Module, Widget, Test); everything else is in GmmSegLib. The widget binds the GUI to
a parameter node and calls :class:`GmmSegLib.slicer_logic.GmmSegLogic`; long work (segmenting, re-running
with a moved prior, adapting to a site's images) runs in a separate ``PythonSlicer`` process through the
``gmmseg`` command line, polled by a QTimer, so the GUI never freezes and Cancel really stops it.
torch is never imported when the module loads: it is installed (PyTorch extension) on first use.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated

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

POLL_MS = 200
REQUIRED_PACKAGES = {"scipy": "scipy>=1.10"}  # numpy, SimpleITK and vtk come with Slicer


def resource_path(*parts: str) -> Path:
    """A resource installed next to the module, or at the top of the source tree when run from a checkout."""
    for root in (MODULE_DIR / "Resources", MODULE_DIR.parent / "Resources"):
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return MODULE_DIR / "Resources" / Path(*parts)


class GmmSegModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "GmmSeg Cardiac"
        self.parent.categories = ["Segmentation"]
        self.parent.contributors = ["GmmSeg developers"]
        self.parent.helpText = """
Segments the LV cavity, myocardium and RV cavity in short-axis cine MRI (a volume or a volume sequence)
and shows per-pixel uncertainty from the model's Dirichlet concentrations.<br>
Workflow: 1. choose the input and press <b>Segment</b>. 2. Review the most uncertain slices first (table;
select a row to jump there). 3. Correct with foreground/background clicks (<b>Refine</b>, undo with Ctrl+Z)
or the Segment Editor. 4. If the prior is misplaced, move it (sliders or drag its transform) and
<b>Re-run with this prior</b>. 5. <b>Accept</b>: the model's output is kept for audit and the clinical
indices (volumes, EF, LV mass) are updated. 6. Export. <b>Adapt</b> fits the model to your site's images
without labels.<br>Research software: not a medical device; check every result.
"""
        self.parent.acknowledgementText = """
GmmSeg: deep features with a per-pixel Gaussian mixture and an anatomical Dirichlet prior trained by
variational inference. The shipped model was trained on the ACDC challenge data (Bernard et al., IEEE TMI
2018, doi:10.1109/TMI.2018.2837502). Interactive correction follows the geodesic click encoding and
information fusion of interactive segmentation with limited annotation.
"""
        self.parent.icon = qt.QIcon(str(resource_path("Icons", "GmmSegModule.png")))


@parameterNodeWrapper
class GmmSegParameterNode:
    """Everything the GUI edits; each field is bound to a widget by ``SlicerParameterName`` in the .ui."""

    inputNode: slicer.vtkMRMLNode
    device: Annotated[str, Choice(["auto", "cuda", "cpu"])] = "auto"
    modelPath: str = ""
    uncertaintyOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.6
    uncertaintyKind: Annotated[str, Choice(["total", "aleatoric", "epistemic"])] = "total"
    showPrior: bool = False
    refineStructure: Annotated[str, Choice(["LV", "MYO", "RV"])] = "LV"
    foregroundPoints: slicer.vtkMRMLMarkupsFiducialNode
    backgroundPoints: slicer.vtkMRMLMarkupsFiducialNode
    priorScale: Annotated[float, WithinRange(0.5, 2.0)] = 1.0
    priorShiftX: Annotated[float, WithinRange(-40.0, 40.0)] = 0.0
    priorShiftY: Annotated[float, WithinRange(-40.0, 40.0)] = 0.0
    priorRotation: Annotated[float, WithinRange(-45.0, 45.0)] = 0.0
    exportFolder: str = ""
    adaptFolder: str = ""


class GmmSegModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer-side entry to the MRML logic (which lives in GmmSegLib and runs on a bare scene)."""

    def getParameterNode(self) -> GmmSegParameterNode:
        return GmmSegParameterNode(super().getParameterNode())

    @staticmethod
    def sceneLogic():
        from GmmSegLib.slicer_logic import GmmSegLogic

        return GmmSegLogic(slicer.mrmlScene)


def ensure_dependencies() -> bool:
    """Install torch (PyTorch extension, for this computer's GPU) and the other packages on first use."""
    try:
        import PyTorchUtils
    except ImportError:
        slicer.util.errorDisplay("GmmSeg needs the PyTorch extension. Install 'PyTorch' from the Extensions "
                                 "Manager, restart Slicer and try again.")
        return False
    torch_logic = PyTorchUtils.PyTorchUtilsLogic()
    if not torch_logic.torchInstalled():
        if not slicer.util.confirmOkCancelDisplay("GmmSeg needs PyTorch, which is not installed yet. Download and "
                                                  "install it now (about 1-3 GB; a restart may be needed)?"):
            return False
        try:
            if torch_logic.installTorch(askConfirmation=False) is None:
                raise RuntimeError("PyTorch installation did not complete")
        except Exception as error:  # the installer reports network / pip failures this way
            slicer.util.errorDisplay(f"Installing PyTorch failed: {error}\nRestart Slicer and try again, or "
                                     "install it from the PyTorch Utils module.")
            return False
    missing = []
    for module, requirement in REQUIRED_PACKAGES.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(requirement)
    if missing and not slicer.util.confirmOkCancelDisplay(f"GmmSeg needs {', '.join(missing)}. Install now?"):
        return False
    if missing:
        try:
            slicer.util.pip_install(" ".join(missing))
        except Exception as error:
            slicer.util.errorDisplay(f"Installing {', '.join(missing)} failed: {error}\nRestart Slicer and retry.")
            return False
    return True


class GmmSegModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._job = None  # GmmSegLib.jobs.ConsoleJob while a separate-process job runs
        self._jobTimer = None
        self._onJobDone = None
        self._workFolder: Path | None = None
        self._jobInput = None
        self._result = None
        self._reviewItems: list[dict] = []

    # ---- set-up -----------------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(str(resource_path("UI", "GmmSegModule.ui")))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = GmmSegModuleLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.segmentButton.connect("clicked(bool)", self.onSegment)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.acceptButton.connect("clicked(bool)", self.onAccept)
        self.ui.refineButton.connect("clicked(bool)", self.onRefine)
        self.ui.applyPriorSlidersButton.connect("clicked(bool)", self.onPriorSliders)
        self.ui.rerunPriorButton.connect("clicked(bool)", self.onRerunWithPrior)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.exportDicomButton.connect("clicked(bool)", self.onExportDicom)
        self.ui.adaptButton.connect("clicked(bool)", self.onAdapt)
        self.ui.openModelsFolderButton.connect("clicked(bool)", self.onOpenModelsFolder)
        self.ui.markReviewedButton.connect("clicked(bool)", self.onMarkReviewed)
        self.ui.reviewTable.connect("itemSelectionChanged()", self.onReviewSelection)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChosen)
        self.ui.exportDicomButton.enabled = hasattr(slicer.modules, "quantitativereporting")
        self.ui.exportDicomButton.toolTip = ("Export as DICOM SEG" if self.ui.exportDicomButton.enabled
                                             else "Install the QuantitativeReporting extension for DICOM SEG")
        self._loadTerminology()
        self._fillModelCombo()
        self._setRunning(False)
        self.initializeParameterNode()

    @staticmethod
    def _loadTerminology() -> None:
        """Make the segments' SNOMED codes known to Slicer's terminology browser."""
        terminologies = getattr(slicer.modules, "terminologies", None)
        if terminologies is not None:
            terminologies.logic().LoadTerminologyFromFile(str(resource_path("Terminology", "GmmSegCardiac.term.json")))

    def cleanup(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self.removeObservers()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self._result = None

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputNode:
            volume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if volume is not None and not volume.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputNode = volume
        for field, name in (("foregroundPoints", "GmmSeg foreground clicks"),
                            ("backgroundPoints", "GmmSeg background clicks")):
            if not getattr(self._parameterNode, field):
                points = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
                points.CreateDefaultDisplayNodes()
                points.GetDisplayNode().SetSelectedColor((0.2, 0.9, 0.2) if field == "foregroundPoints"
                                                         else (0.9, 0.2, 0.9))
                setattr(self._parameterNode, field, points)
        self.ui.foregroundPlaceWidget.setCurrentNode(self._parameterNode.foregroundPoints)
        self.ui.backgroundPlaceWidget.setCurrentNode(self._parameterNode.backgroundPoints)

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
        """Buttons follow the inputs; the slice views follow the display choices (map, opacity, prior)."""
        self._checkCanApply()
        self.onShowLayers()

    def _checkCanApply(self) -> None:
        running = self._job is not None
        has_input = bool(self._parameterNode and self._parameterNode.inputNode)
        self.ui.segmentButton.enabled = has_input and not running
        self.ui.segmentButton.toolTip = "Segment the input" if has_input else "Choose an input volume or cine"
        for button in (self.ui.acceptButton, self.ui.refineButton, self.ui.rerunPriorButton,
                       self.ui.applyPriorSlidersButton, self.ui.exportButton, self.ui.markReviewedButton):
            button.enabled = self._result is not None and not running

    def _setRunning(self, running: bool, message: str = "") -> None:
        self.ui.cancelButton.enabled = running
        self.ui.progressBar.visible = running
        if running:
            self.ui.progressBar.setRange(0, 0)  # busy until the job reports progress
            self._log(message)
        self._checkCanApply()

    def _log(self, text: str) -> None:
        if text:
            self.ui.logTextEdit.appendPlainText(text)

    # ---- models and devices ----------------------------------------------------------------------------------
    def _fillModelCombo(self) -> None:
        from GmmSegLib.registry import available_models  # torch-free

        self.ui.modelComboBox.clear()
        try:
            for entry in available_models():
                self.ui.modelComboBox.addItem(entry.id, str(entry.path))
        except Exception as error:  # a broken registry must not stop the module from loading
            self._log(f"Model list unavailable: {error}")

    def onModelChosen(self, index: int) -> None:
        if self._parameterNode and index >= 0:
            self._parameterNode.modelPath = self.ui.modelComboBox.itemData(index) or ""

    def onOpenModelsFolder(self) -> None:
        from GmmSegLib.registry import user_models_dir

        folder = user_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder)))

    def _deviceNote(self) -> None:
        from GmmSegLib.device import resolve_device

        try:
            device = resolve_device(self._parameterNode.device)
        except Exception as error:
            self.ui.deviceNoteLabel.text = str(error)
            return
        self.ui.deviceNoteLabel.text = ("Running on CPU: about a second per volume, longer for a cine."
                                        if device.type == "cpu" else f"Running on {device}.")

    # ---- segmenting in a separate process ---------------------------------------------------------------------
    def _runCli(self, arguments: list[str], on_done, message: str) -> None:
        from GmmSegLib.jobs import ConsoleJob

        self._job = ConsoleJob(arguments)
        self._onJobDone = on_done
        self._jobTimer = qt.QTimer()
        self._jobTimer.setInterval(POLL_MS)
        self._jobTimer.connect("timeout()", self._pollJob)
        self._jobTimer.start()
        self._setRunning(True, message)

    def _pollJob(self) -> None:
        lines, code = self._job.poll()
        for line in lines:
            self._onJobLine(line)
        if code is not None:
            self._jobTimer.stop()
            self._onJobFinished(code, self._onJobDone)

    def _onJobLine(self, line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            self._log(line)
            return
        if event.get("event") == "progress":
            done = (event["epoch"] - 1) * event["steps"] + event["step"]
            self.ui.progressBar.setRange(0, event["epochs"] * event["steps"])
            self.ui.progressBar.setValue(done)
            self.ui.progressBar.setFormat(f"{event['stage']} epoch {event['epoch']}/{event['epochs']}, "
                                          f"about {int(event.get('eta_s', 0))} s left")
        elif event.get("event") != "progress":
            self._log(line)

    def _onJobFinished(self, code: int, on_done) -> None:
        cancelled = self._job.cancelled
        self._job = None
        self._setRunning(False)
        try:
            if code == 0:
                with slicer.util.tryWithErrorDisplay("Could not show the results.", waitCursor=True):
                    on_done()
            elif cancelled:
                self._log("Cancelled.")
            else:
                slicer.util.errorDisplay(f"The job failed (exit code {code}); see the log below.")
        finally:  # the job's scratch folder (a copy of the patient's images, an adaptation's state) is not kept
            if self._workFolder is not None:
                shutil.rmtree(self._workFolder, ignore_errors=True)
                self._workFolder = None

    def onSegment(self, _checked=False, phi: str | None = None) -> None:
        if not ensure_dependencies():
            return
        self._deviceNote()
        with slicer.util.tryWithErrorDisplay("Cannot segment this input.", waitCursor=True):
            self._jobInput = self._parameterNode.inputNode  # results belong to this input even if the choice changes
            inputPath = self.logic.sceneLogic().write_input(self._jobInput)
            self._workFolder = inputPath.parent
            arguments = ["segment", str(inputPath), "--out", str(self._workFolder / "out"), "--probabilities",
                         "--device", self._parameterNode.device]
            if self._parameterNode.modelPath:
                arguments += ["--model", self._parameterNode.modelPath]
            if phi:
                arguments += ["--phi", phi]
            self._runCli(arguments, self._importResults, f"Segmenting {self._parameterNode.inputNode.GetName()}...")

    def _importResults(self) -> None:
        # the command's warnings (a stack the model is unsure about, an unverified model) are in the log already:
        # launchConsoleProcess merges its stderr into the output _onJobLine logs
        from GmmSegLib.slicer_logic import CaseOutputs

        logic = self.logic.sceneLogic()
        outputs = CaseOutputs.read(self._workFolder / "out", "gmmseg_input")
        previous = self._result
        if (previous is not None and previous.input_node is self._jobInput
                and previous.segmentation.GetAttribute("GmmSeg.Accepted") is None):
            logic.remove_outputs(previous)  # a re-run replaces the result that was not accepted
        self._result = logic.add_outputs(self._jobInput, outputs)
        self._fillReviewTable()
        self._fillIndices()
        self.onShowLayers()
        self._checkCanApply()
        self._log(f"Done: {self._result.segmentation.GetName()}")
        if outputs.summary.get("mirrored_storage"):
            self._log("Note: this stack is stored mirrored with respect to the training images (rows and columns "
                      "in the other handedness); it was segmented as such. Check the result if your scanner's "
                      "storage order is known to be the usual one.")

    def onCancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    # ---- showing results --------------------------------------------------------------------------------------
    def onShowLayers(self) -> None:
        if self._result is None or self._parameterNode is None:
            return
        result = self._result
        background = result.volumes[result.frame_of_interest]
        foreground = result.prior if self._parameterNode.showPrior else \
            result.uncertainty[self._parameterNode.uncertaintyKind]
        slicer.util.setSliceViewerLayers(background=background, foreground=foreground,
                                         foregroundOpacity=self._parameterNode.uncertaintyOpacity)

    def _fillIndices(self) -> None:
        result = self._result
        self.ui.indicesTableView.setMRMLTableNode(result.indices_table)
        if result.plot_chart is not None:
            layoutManager = slicer.app.layoutManager()
            layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotView)
            plotWidget = layoutManager.plotWidget(0)
            plotWidget.mrmlPlotViewNode().SetPlotChartNodeID(result.plot_chart.GetID())

    def _fillReviewTable(self) -> None:
        self._reviewItems = self.logic.sceneLogic().review_items(self._result)
        table = self.ui.reviewTable
        table.clearContents()
        table.setRowCount(len(self._reviewItems))
        for row, item in enumerate(self._reviewItems):
            for column, text in enumerate((str(item["frame"]), str(item["slice"]), item["structure"],
                                           f"{item['slice_score']:.2f}", "")):
                table.setItem(row, column, qt.QTableWidgetItem(text))

    def onReviewSelection(self) -> None:
        rows = {index.row() for index in self.ui.reviewTable.selectedIndexes()}
        if not rows or self._result is None:
            return
        item = self._reviewItems[min(rows)]
        volume = self._result.volumes[item["frame"]]
        x0, y0, x1, y1 = item["bbox"]
        ijkToRas = vtk.vtkMatrix4x4()
        volume.GetIJKToRASMatrix(ijkToRas)
        ras = ijkToRas.MultiplyPoint(((x0 + x1) / 2, (y0 + y1) / 2, item["slice"], 1.0))[:3]
        slicer.modules.markups.logic().JumpSlicesToLocation(*ras, True)

    def onMarkReviewed(self) -> None:
        for row in {index.row() for index in self.ui.reviewTable.selectedIndexes()}:
            self.ui.reviewTable.setItem(row, 4, qt.QTableWidgetItem("reviewed"))

    # ---- editing ------------------------------------------------------------------------------------------------
    def onRefine(self) -> None:
        def points(node) -> list:
            return [node.GetNthControlPointPositionWorld(i) for i in range(node.GetNumberOfControlPoints())]

        with slicer.util.tryWithErrorDisplay("Refinement failed.", waitCursor=True):
            foreground, background = self._parameterNode.foregroundPoints, self._parameterNode.backgroundPoints
            changed = self.logic.sceneLogic().refine(self._result, self._parameterNode.refineStructure,
                                                     points(foreground), points(background))
            foreground.RemoveAllControlPoints()
            background.RemoveAllControlPoints()
            self._log(f"Refined {self._parameterNode.refineStructure}: {changed} pixels changed (Ctrl+Z undoes).")

    def onAccept(self) -> None:
        with slicer.util.tryWithErrorDisplay("Accepting failed.", waitCursor=True):
            original = self.logic.sceneLogic().accept(self._result)
            self._fillIndices()
            self._log(f"Accepted; the model's output is kept as '{original.GetName()}'.")

    # ---- re-registering the prior ----------------------------------------------------------------------------------
    def onPriorSliders(self) -> None:
        from GmmSegLib.reregistration import phi_from_parameters

        with slicer.util.tryWithErrorDisplay("Cannot place the prior there."):
            p = self._parameterNode
            phi = phi_from_parameters(p.priorScale, p.priorShiftX, p.priorShiftY, p.priorRotation)
            self.logic.sceneLogic().set_transform_from_phi(self._result, phi)
            self._result.prior_transform.CreateDefaultDisplayNodes()
            self._result.prior_transform.GetDisplayNode().SetEditorVisibility(True)

    def onRerunWithPrior(self) -> None:
        import math

        with slicer.util.tryWithErrorDisplay("Cannot use this prior placement."):
            log_scale, tx, ty, rotation = self.logic.sceneLogic().phi_from_transform(self._result)
            self.onSegment(phi=f"{math.exp(log_scale):.6f},{tx:.4f},{ty:.4f},{math.degrees(rotation):.4f}")

    # ---- export and adaptation ----------------------------------------------------------------------------------
    def onExport(self) -> None:
        with slicer.util.tryWithErrorDisplay("Export failed.", waitCursor=True):
            folder = self._parameterNode.exportFolder or str(Path.home())
            written = self.logic.sceneLogic().export(self._result, folder, self.ui.exportFormatComboBox.currentText)
            self._log("Exported: " + ", ".join(str(p) for p in written))

    def onExportDicom(self) -> None:
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        dialog = slicer.qSlicerDICOMExportDialog()
        dialog.setMRMLScene(slicer.mrmlScene)
        dialog.execDialog(shNode.GetItemByDataNode(self._result.segmentation))

    def onAdapt(self) -> None:
        if not ensure_dependencies():
            return
        from datetime import datetime

        from GmmSegLib.io import IMAGE_SUFFIXES
        from GmmSegLib.registry import user_models_dir

        folder = Path(self._parameterNode.adaptFolder)
        images = sorted(str(p) for p in folder.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES)) \
            if folder.is_dir() else []
        if not images:
            slicer.util.errorDisplay(f"No NIfTI/NRRD images found in '{folder}'.")
            return
        out = user_models_dir() / f"adapted_{datetime.now():%Y%m%d_%H%M%S}.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        self._workFolder = out.with_suffix(".work")  # gmmseg adapt's default; a cancelled run is not resumed here
        arguments = ["adapt", *images, "--out", str(out), "--device", self._parameterNode.device]
        if self._parameterNode.modelPath:
            arguments += ["--model", self._parameterNode.modelPath]

        def done() -> None:
            self._fillModelCombo()
            self.ui.modelComboBox.setCurrentIndex(self.ui.modelComboBox.findData(str(out)))
            self._log(f"Adapted model saved as {out} and selected.")

        self._runCli(arguments, done, f"Adapting to {len(images)} images (label-free)...")


class GmmSegModuleTest(ScriptedLoadableModuleTest):
    """Runs the same logic test body as the pytest suite (Testing/test_slicer_logic.py)."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_workflow_on_phantom()

    def test_workflow_on_phantom(self) -> None:
        import tempfile

        from GmmSegLib.selftest import run_logic_self_test

        self.delayDisplay("Segmenting, reviewing, refining and re-registering a phantom")
        with tempfile.TemporaryDirectory() as folder:
            measured = run_logic_self_test(slicer.mrmlScene, folder)
        self.delayDisplay(f"Passed: {measured}")
