"""MRML glue of the GmmSeg module: volume or cine nodes in, segmentation, uncertainty and result nodes out.

Uses only MRML and ``vtkSlicer*Logic`` classes, never Qt or ``slicer.app``, so it runs on a bare scene
from ``slicer-core`` (the tests) exactly as inside the Slicer application. Torch is imported only by
the functions that run the model or refine, never at import.

What the scene gets for one input (DESIGN section 4):
- one segmentation node, segments ``LV``, ``MYO``, ``RV`` (names, colours, terminology tags), reference
  geometry of the input; for a cine a segmentation sequence synchronised in the input's browser;
- scalar volumes of total / aleatoric / epistemic uncertainty (0..1, a shared colour table), the
  registered prior of the heart (1 - background probability) under a linear transform node that
  the clinician can move, and a table of clinical indices (plus a volume-curve plot for a cine).
Every node is tagged with ``GmmSeg.Role`` and ``GmmSeg.Input`` so that the widget and the tests find them.
Bad input leaves the scene as it was: inputs are validated before any node is added, and a failure
while adding removes what was added.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import slicer
import vtk
from slicer.util import arrayFromVolume, updateVolumeFromArray

from .alignment import CanonicalFrame
from .checks import check_short_axis
from .clinical import MYOCARDIUM_DENSITY_G_PER_ML, clinical_indices, structure_volumes_ml
from .errors import GmmSegError, InputError
from .io import CardiacImage, Geometry, read_cardiac_image, read_label_volume
from .labels import STRUCTURES
from .outputs import UNCERTAINTY_FILES
from .prior_transform import phi_from_ras_transform, ras_transform_for_phi
from .review import review_queue

ROLE = "GmmSeg.Role"
INPUT = "GmmSeg.Input"
MIRRORED_STORAGE = "GmmSeg.MirroredStorage"  # set to "true" on a segmentation of a stack stored mirrored
REVIEW_ADVISED = "GmmSeg.ReviewAdvised"  # "true" when the model is unsure about a whole frame (review.py)
SEGMENT_NAMES = {"LV": "LV cavity", "MYO": "Myocardium", "RV": "RV cavity"}
SEGMENT_COLOURS = {"LV": (0.85, 0.26, 0.21), "MYO": (0.40, 0.73, 0.33), "RV": (0.26, 0.47, 0.85)}
# Slicer's terminology entry string: context~category~type~type modifier~region context~region~region modifier.
# Codes are SNOMED CT structures; the project's Resources/Terminology/GmmSegCardiac.term.json lists them.
TERMINOLOGY_CONTEXT = "GmmSeg cardiac short-axis"
SEGMENT_CODES = {"LV": ("87878005", "Left ventricle"), "MYO": ("74281007", "Myocardium"),
                 "RV": ("53085002", "Right ventricle")}
UNCERTAINTY_COLOURS = "GmmSeg uncertainty"


def terminology_tag(segment_id: str) -> str:
    """The ``TerminologyEntry`` tag of one segment (category: anatomical structure)."""
    code, meaning = SEGMENT_CODES[segment_id]
    return (f"{TERMINOLOGY_CONTEXT}~SCT^123037004^Anatomical Structure~SCT^{code}^{meaning}~^^~"
            "Anatomic codes - DICOM master list~^^~^^")


def register_segmentation_converters() -> None:
    """Register the segmentation conversion rules (the Segmentations module does this at application start)."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    present = {rule.GetName() for rule in factory.GetConverterRules()}
    for rule in (slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule(),
                 slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule()):
        if rule.GetName() not in present:
            factory.RegisterConverterRule(rule)


# ---- reading input nodes -----------------------------------------------------------------------------
def _matrix(node: slicer.vtkMRMLVolumeNode) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _lps_geometry(node: slicer.vtkMRMLVolumeNode) -> Geometry:
    """SimpleITK-style geometry (LPS) of a volume node (Slicer works in RAS)."""
    ijk_to_ras = _matrix(node)
    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    direction = ras_to_lps @ (ijk_to_ras[:3, :3] / spacing)
    origin = ras_to_lps @ ijk_to_ras[:3, 3]
    return Geometry(tuple(float(v) for v in spacing), tuple(float(v) for v in origin),
                    tuple(float(v) for v in direction.ravel()))


def _cine_geometry(first: Geometry, frames: int) -> Geometry:
    """A 4D geometry (time as the 4th axis, 1 unit per frame) around a 3D frame's geometry."""
    direction = np.eye(4)
    direction[:3, :3] = np.reshape(first.direction, (3, 3))
    return Geometry(first.spacing + (1.0,), first.origin + (0.0,), tuple(float(v) for v in direction.ravel()))


def input_volumes(node) -> list:
    """The volume node(s) behind an input: one volume, or every frame of a sequence / sequence browser."""
    if node is None:
        raise InputError("no input selected: choose a volume or a cine (volume sequence)")
    if isinstance(node, slicer.vtkMRMLSequenceBrowserNode):
        node = node.GetMasterSequenceNode()
        if node is None:
            raise InputError("the sequence browser has no sequence to segment")
    if isinstance(node, slicer.vtkMRMLSequenceNode):
        volumes = [node.GetNthDataNode(i) for i in range(node.GetNumberOfDataNodes())]
        if not volumes:
            raise InputError(f"{node.GetName()}: the sequence is empty")
        if not all(isinstance(v, slicer.vtkMRMLScalarVolumeNode) for v in volumes):
            raise InputError(f"{node.GetName()}: not a volume sequence; a cine of MR volumes is required")
    else:
        volumes = [node]
    for volume in volumes:
        if isinstance(volume, slicer.vtkMRMLLabelMapVolumeNode):
            raise InputError(f"{volume.GetName()}: is a label map; choose the MR image")
        if not isinstance(volume, slicer.vtkMRMLScalarVolumeNode) or volume.GetImageData() is None:
            raise InputError(f"{volume.GetName()}: has no image data; a greyscale MR volume is required")
        if volume.GetImageData().GetNumberOfScalarComponents() != 1:
            raise InputError(f"{volume.GetName()}: has several components per voxel; a greyscale MR image "
                             "is required")
    return volumes


def _input_geometry(volumes: list) -> Geometry:
    """The (LPS) geometry of an input: its volume's, or 4D around the first frame's for a cine."""
    geometry = _lps_geometry(volumes[0])
    return _cine_geometry(geometry, len(volumes)) if len(volumes) > 1 else geometry


def cardiac_image_from_node(node) -> CardiacImage:
    """A checked (T, Z, Y, X) image with LPS geometry from a volume, sequence or sequence browser node."""
    volumes = input_volumes(node)
    arrays = [arrayFromVolume(v).astype(np.float32) for v in volumes]
    if any(a.ndim != 3 or a.shape[0] == 1 for a in arrays):
        raise InputError(f"{node.GetName()}: is a 2D image; a 3D short-axis stack or a cine is required")
    if len({a.shape for a in arrays}) != 1:
        raise InputError(f"{node.GetName()}: the cine's frames differ in size")
    image = CardiacImage(np.stack(arrays), _input_geometry(volumes), node.GetName())
    check_short_axis(image)
    return image


def _ijk_to_ras(geometry: Geometry) -> np.ndarray:
    """IJK-to-RAS 4 x 4 of the spatial part of an (LPS) geometry."""
    spacing = np.array(geometry.spacing[:3])
    dimension = geometry.dimension
    direction = np.reshape(geometry.direction, (dimension, dimension))[:3, :3]
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    matrix = np.eye(4)
    matrix[:3, :3] = lps_to_ras @ direction * spacing
    matrix[:3, 3] = lps_to_ras @ np.array(geometry.origin[:3])
    return matrix


def add_volume_nodes(scene, image: CardiacImage, name: str):
    """Put an image into the scene: a volume node for a 3D stack, a sequence in a browser for a cine."""
    matrix = _vtk_matrix(_ijk_to_ras(image.geometry))

    def volume(frame: np.ndarray, volume_name: str, add: bool):
        node = slicer.vtkMRMLScalarVolumeNode()
        node.SetName(volume_name)
        if add:
            scene.AddNode(node)
        node.SetIJKToRASMatrix(matrix)
        updateVolumeFromArray(node, np.ascontiguousarray(frame, np.float32))
        return node

    if not image.is_cine:
        return volume(image.frames[0], name, True)
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", f"{name} frames")
    sequence.SetIndexName("frame")
    sequence.SetIndexUnit("")
    for t, frame in enumerate(image.frames):
        sequence.SetDataNodeAtValue(volume(frame, f"{name} frame {t}", False), str(t))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", name)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    return browser


# ---- outputs of one case --------------------------------------------------------------------------------
@dataclass
class CaseOutputs:
    """What the model produced for one input, on its native grid: arrays (T, Z, Y, X), maps (T, K, Z, Y, X)."""

    labels: np.ndarray
    uncertainty: dict[str, np.ndarray]
    prior: np.ndarray
    summary: dict
    probabilities: np.ndarray | None = None

    @property
    def frame_of_interest(self) -> int:
        """The frame whose nodes are shown and edited: ED for a cine (found from the LV volume), else the only one."""
        indices = self.summary.get("clinical_indices") or {}
        return int(indices.get("ed_frame", 0))

    @classmethod
    def from_result(cls, result, summary: dict) -> CaseOutputs:
        return cls(result.labels, result.uncertainty, result.prior, summary, result.probabilities)

    @classmethod
    def read(cls, folder: str | Path, stem: str) -> CaseOutputs:
        """Read what ``gmmseg segment`` wrote for ``stem`` (how the separate-process run hands back)."""
        folder = Path(folder)
        labels, _ = read_label_volume(folder / f"{stem}_seg.nii.gz")
        maps = {kind: read_cardiac_image(folder / f"{stem}_{suffix}.nii.gz").frames
                for kind, suffix in UNCERTAINTY_FILES.items()}
        frames = next(iter(maps.values())).shape[0]
        labels = labels.reshape((frames,) + labels.shape[-3:]).astype(np.uint8)
        prior = _read_vector(folder / f"{stem}_prior.nii.gz", frames)
        probabilities_path = folder / f"{stem}_probabilities.nii.gz"
        probabilities = _read_vector(probabilities_path, frames) if probabilities_path.exists() else None
        summary = json.loads((folder / f"{stem}.json").read_text())
        return cls(labels, maps, prior, summary, probabilities)


def _read_vector(path: Path, frames: int) -> np.ndarray:
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float32)  # ([T,] Z, Y, X, K)
    array = array.reshape((frames,) + array.shape[-4:])
    return np.moveaxis(array, -1, 1)


@dataclass
class SceneResult:
    """The nodes made for one input (the first frame's nodes for a cine; sequences alongside)."""

    input_node: object
    volumes: list
    segmentation: object
    uncertainty: dict[str, object]
    prior: object
    prior_transform: object
    indices_table: object
    outputs: CaseOutputs
    segmentation_sequence: object | None = None
    plot_chart: object | None = None
    added: list = field(default_factory=list)

    @property
    def frame_of_interest(self) -> int:
        return self.outputs.frame_of_interest


# ---- the logic ---------------------------------------------------------------------------------------------
class GmmSegLogic:
    """Everything the module does to a scene; ``process`` runs the model in this process (batch, tests)."""

    def __init__(self, scene):
        self.scene = scene
        register_segmentation_converters()

    # -- running the model in this process ---------------------------------------------------------------
    def process(self, input_node, model: str | None = None, device: str = "auto",
                phi: np.ndarray | None = None) -> SceneResult:
        """Segment ``input_node`` with the model and put the results into the scene (waits for completion)."""
        from .device import resolve_device
        from .inference import segment
        from .outputs import summary_record
        from .registry import load_registered

        image = cardiac_image_from_node(input_node)
        network, entry = load_registered(model)
        result = segment(image, network, resolve_device(device), phi=phi)
        summary = summary_record(result, image, entry)
        return self.add_outputs(input_node, CaseOutputs.from_result(result, summary))

    @staticmethod
    def write_input(input_node) -> Path:
        """Write the input as a NIfTI file (a cine as one 4D file) for the separate-process run, in a private
        temporary folder made for it once the input is known to be usable; the caller removes the folder."""
        from .io import AtomicOutputs, to_sitk

        image = cardiac_image_from_node(input_node)
        folder = Path(tempfile.mkdtemp(prefix="gmmseg-"))
        name = "gmmseg_input.nii.gz"
        try:
            with AtomicOutputs(folder) as outputs:
                outputs.add_image(name, to_sitk(image.frames if image.is_cine else image.frames[0], image.geometry))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # a copy of the patient's images is never left behind
            raise
        return folder / name

    # -- adding results to the scene ----------------------------------------------------------------------
    def add_outputs(self, input_node, outputs: CaseOutputs) -> SceneResult:
        """Create every output node; on any failure remove what was added and re-raise."""
        volumes = input_volumes(input_node)
        if outputs.labels.shape[0] != len(volumes) or outputs.labels.shape[1:] != arrayFromVolume(volumes[0]).shape:
            raise GmmSegError("the outputs do not match the input's grid; segment this input again")
        added: list = []
        try:
            return self._add_outputs(input_node, volumes, outputs, added)
        except Exception:
            for node in reversed(added):
                if self.scene.IsNodePresent(node):
                    self.scene.RemoveNode(node)
            raise

    def _track(self, node, added: list, role: str, input_node):
        node.SetAttribute(ROLE, role)
        node.SetAttribute(INPUT, input_node.GetID())
        added.append(node)
        return node

    def _add_outputs(self, input_node, volumes: list, outputs: CaseOutputs, added: list) -> SceneResult:
        name = input_node.GetName()
        shown = outputs.frame_of_interest
        reference = volumes[shown]
        segmentation = self._track(self._segmentation_node(f"{name} GmmSeg", reference, outputs.labels[shown]),
                                   added, "segmentation", input_node)
        if outputs.summary.get("mirrored_storage"):  # recognised as stored mirrored (GmmSegLib.handedness)
            segmentation.SetAttribute(MIRRORED_STORAGE, "true")
        if outputs.summary.get("review_advised"):
            segmentation.SetAttribute(REVIEW_ADVISED, "true")
        uncertainty = {}
        for kind, maps in outputs.uncertainty.items():
            node = self._scalar_volume(f"{name} GmmSeg {kind} uncertainty", reference, maps[shown], added, input_node,
                                       f"uncertainty:{kind}")
            node.GetDisplayNode().SetAndObserveColorNodeID(self._uncertainty_colours().GetID())
            node.GetDisplayNode().SetAutoWindowLevel(False)
            node.GetDisplayNode().SetWindowLevelMinMax(0.0, 1.0)
            uncertainty[kind] = node
        transform = self._track(self.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode",
                                                             f"{name} GmmSeg prior transform"),
                                added, "prior transform", input_node)
        prior = self._scalar_volume(f"{name} GmmSeg prior (heart)", reference, 1.0 - outputs.prior[shown, 0],
                                    added, input_node, "prior")
        prior.GetDisplayNode().SetAndObserveColorNodeID(self._uncertainty_colours().GetID())
        prior.SetAndObserveTransformNodeID(transform.GetID())
        result = SceneResult(input_node, volumes, segmentation, uncertainty, prior, transform, None, outputs,
                             added=added)
        if len(volumes) > 1:
            result.segmentation_sequence = self._segmentation_sequence(input_node, volumes, outputs, added)
        result.indices_table = self._track(self.scene.AddNewNodeByClass("vtkMRMLTableNode",
                                                                        f"{name} GmmSeg clinical indices"),
                                           added, "indices", input_node)
        self.update_indices(result, outputs.labels)
        self._place_in_study(input_node, added)
        return result

    def _place_in_study(self, input_node, nodes: list) -> None:
        """Put the outputs beside the input in the subject hierarchy (the input's study, when it has one)."""
        hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(self.scene)
        if hierarchy is None:
            return
        parent = hierarchy.GetItemParent(hierarchy.GetItemByDataNode(input_node))
        for node in nodes:
            item = hierarchy.GetItemByDataNode(node)
            if item and parent:
                hierarchy.SetItemParent(item, parent)

    def _segmentation_node(self, name: str, reference, labels: np.ndarray):
        """A segmentation node in the scene, segments LV, MYO, RV from (Z, Y, X) labels on ``reference``'s grid."""
        segmentation = slicer.vtkMRMLSegmentationNode()
        segmentation.SetName(name)
        segmentation.UndoEnabledOn()
        self.scene.AddNode(segmentation)
        segmentation.CreateDefaultDisplayNodes()
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference)
        for segment_id in STRUCTURES:
            segmentation.GetSegmentation().AddEmptySegment(segment_id, SEGMENT_NAMES[segment_id],
                                                           SEGMENT_COLOURS[segment_id])
            segment = segmentation.GetSegmentation().GetSegment(segment_id)
            segment.SetTag(segment.GetTerminologyEntryTagName(), terminology_tag(segment_id))
        self._write_labels(segmentation, reference, labels)
        return segmentation

    @staticmethod
    def _write_labels(segmentation, reference, labels: np.ndarray) -> None:
        labelmap = slicer.vtkMRMLLabelMapVolumeNode()
        labelmap.SetIJKToRASMatrix(_vtk_matrix(_matrix(reference)))
        updateVolumeFromArray(labelmap, labels.astype(np.uint8))
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation,
                                                                                         _segment_ids()):
            raise GmmSegError("could not write the labels into the segmentation")

    def _scalar_volume(self, name: str, reference, array: np.ndarray, added: list, input_node, role: str):
        node = self._track(self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name), added, role, input_node)
        node.SetIJKToRASMatrix(_vtk_matrix(_matrix(reference)))
        updateVolumeFromArray(node, np.ascontiguousarray(array, np.float32))
        node.CreateDefaultDisplayNodes()
        return node

    def _uncertainty_colours(self):
        """A colour table from transparent (certain) through yellow to red (uncertain), shared by all maps."""
        existing = self.scene.GetFirstNodeByName(UNCERTAINTY_COLOURS)
        if existing is not None:
            return existing
        table = slicer.vtkMRMLColorTableNode()
        table.SetName(UNCERTAINTY_COLOURS)
        table.SetTypeToUser()
        table.SetNumberOfColors(256)
        for i in range(256):
            level = i / 255.0
            table.SetColor(i, f"{level:.2f}", 1.0, 1.0 - 0.8 * level, 0.2 * (1 - level), min(1.0, 2.0 * level))
        self.scene.AddNode(table)
        return table

    def _segmentation_sequence(self, input_node, volumes: list, outputs: CaseOutputs, added: list):
        """Every frame's segmentation in a sequence, synchronised in the input's browser when it has one."""
        sequence = self._track(self.scene.AddNewNodeByClass("vtkMRMLSequenceNode",
                                                            f"{input_node.GetName()} GmmSeg segmentation"),
                               added, "segmentation sequence", input_node)
        source = input_node.GetMasterSequenceNode() if isinstance(input_node, slicer.vtkMRMLSequenceBrowserNode) \
            else input_node if isinstance(input_node, slicer.vtkMRMLSequenceNode) else None
        if source is not None:
            sequence.SetIndexName(source.GetIndexName())
            sequence.SetIndexUnit(source.GetIndexUnit())
        for t, volume in enumerate(volumes):
            frame = self._segmentation_node(f"frame {t}", volume, outputs.labels[t])
            index = source.GetNthIndexValue(t) if source is not None else str(t)
            sequence.SetDataNodeAtValue(frame, index)  # the sequence keeps its own copy
            self.scene.RemoveNode(frame)
        if isinstance(input_node, slicer.vtkMRMLSequenceBrowserNode):
            input_node.AddSynchronizedSequenceNode(sequence)
        return sequence

    def remove_outputs(self, result: SceneResult) -> None:
        """Take a result's nodes out of the scene (a re-run replaces a result that was not accepted)."""
        for node in reversed(result.added):
            if self.scene.IsNodePresent(node):
                self.scene.RemoveNode(node)
        result.added.clear()

    # -- results that follow the segmentation -------------------------------------------------------------------
    def current_labels(self, result: SceneResult, frame: int | None = None) -> np.ndarray:
        """The (possibly edited) labels of one frame (Z, Y, X) as the segmentation node holds them now."""
        frame = result.frame_of_interest if frame is None else frame
        node = result.segmentation
        if result.segmentation_sequence is not None and frame != result.frame_of_interest:
            node = result.segmentation_sequence.GetNthDataNode(frame)
        reference = result.volumes[frame]
        labelmap = slicer.vtkMRMLLabelMapVolumeNode()
        self.scene.AddNode(labelmap)
        try:
            if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(node, _segment_ids(), labelmap,
                                                                                          reference):
                raise GmmSegError("could not read the segmentation's labels")
            return arrayFromVolume(labelmap).astype(np.uint8).copy()
        finally:
            self.scene.RemoveNode(labelmap)

    def all_labels(self, result: SceneResult) -> np.ndarray:
        """The (possibly edited) labels of every frame (T, Z, Y, X)."""
        return np.stack([self.current_labels(result, t) for t in range(len(result.volumes))])

    def update_indices(self, result: SceneResult, labels: np.ndarray | None = None) -> dict:
        """Refill the indices table (and the cine plot) from ``labels`` (T, Z, Y, X); default: the segmentation now."""
        spacing = tuple(result.outputs.summary["spacing_mm"])
        frames = list(self.all_labels(result) if labels is None else labels)
        table = result.indices_table
        table.RemoveAllColumns()
        if len(frames) >= 2:
            try:
                indices = clinical_indices(np.stack(frames), spacing).to_dict()
            except GmmSegError as error:  # no LV left after editing, or too few slices for volumes: say why
                indices = {"error": str(error)}
                self._fill_table(table, indices)
                return indices
            scalars = {k: v for k, v in indices.items() if not isinstance(v, (dict, list))}
            warnings = {f"warning {n}": text for n, text in enumerate(indices["warnings"], 1)}
            self._fill_table(table, {**scalars, **warnings})
            result.plot_chart = self._volume_plot(result, indices)
        else:
            indices = {f"{k} volume (ml)": v for k, v in structure_volumes_ml(frames[0], spacing).items()}
            indices["LV mass (g)"] = indices["MYO volume (ml)"] * MYOCARDIUM_DENSITY_G_PER_ML
            self._fill_table(table, indices)
        return indices

    @staticmethod
    def _fill_table(table, values: dict) -> None:
        names, numbers = vtk.vtkStringArray(), vtk.vtkStringArray()
        names.SetName("Index")
        numbers.SetName("Value")
        for key, value in values.items():
            names.InsertNextValue(str(key))
            text = "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
            numbers.InsertNextValue(text)
        table.AddColumn(names)
        table.AddColumn(numbers)

    def _volume_plot(self, result: SceneResult, indices: dict):
        """LV and RV volume over the cine in a plot chart; ED and ES frames are in the series' names."""
        name = result.input_node.GetName()
        table = self._output_node(result, "vtkMRMLTableNode", f"{name} GmmSeg volume curves", "volume curves")
        table.RemoveAllColumns()
        columns = {"frame": [float(t) for t in range(len(indices["volumes_ml"]["LV"]))]}
        for structure in ("LV", "RV"):
            columns[f"{structure} (ml)"] = indices["volumes_ml"][structure]
        for column_name, values in columns.items():
            array = vtk.vtkDoubleArray()
            array.SetName(column_name)
            for value in values:
                array.InsertNextValue(value)
            table.AddColumn(array)
        chart = self._output_node(result, "vtkMRMLPlotChartNode", f"{name} GmmSeg volume curves", "volume plot")
        chart.SetTitle(f"Volumes (ED frame {indices.get('ed_frame')}, ES frame {indices.get('es_frame')})")
        chart.SetXAxisTitle("frame")
        chart.SetYAxisTitle("ml")
        chart.RemoveAllPlotSeriesNodeIDs()
        for structure in ("LV", "RV"):
            series = self._output_node(result, "vtkMRMLPlotSeriesNode", f"{name} {structure} volume",
                                       f"volume series:{structure}")
            series.SetAndObserveTableNodeID(table.GetID())
            series.SetXColumnName("frame")
            series.SetYColumnName(f"{structure} (ml)")
            series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
            series.SetColor(*SEGMENT_COLOURS[structure])
            chart.AddAndObservePlotSeriesNodeID(series.GetID())
        return chart

    def _output_node(self, result: SceneResult, class_name: str, name: str, role: str):
        """The node of ``role`` for this input, created once."""
        for node in result.added:
            if node.GetAttribute(ROLE) == role and self.scene.IsNodePresent(node):
                return node
        return self._track(self.scene.AddNewNodeByClass(class_name, name), result.added, role, result.input_node)

    # -- review, refinement, accept -----------------------------------------------------------------------
    def review_items(self, result: SceneResult, limit: int = 20) -> list[dict]:
        """The most uncertain slices/regions first, for the review table."""
        spacing = tuple(result.outputs.summary["spacing_mm"])
        items = review_queue(result.outputs.uncertainty["total"], result.outputs.labels, spacing)
        return [item.to_dict() for item in items[:limit]]

    def refine(self, result: SceneResult, structure: str, foreground_ras: list, background_ras: list,
               frame: int | None = None) -> int:
        """Click refinement of ``structure`` on the slice of the clicks; undoable; returns changed voxels."""
        from .refinement import refine

        frame = result.frame_of_interest if frame is None else frame
        if not 0 <= frame < len(result.volumes):
            raise GmmSegError(f"frame {frame} does not exist (the input has {len(result.volumes)} frames)")
        if result.outputs.probabilities is None:
            raise GmmSegError("these results carry no class probabilities; segment again to refine")
        reference = result.volumes[frame]
        ras_to_ijk = np.linalg.inv(_matrix(reference))
        clicks = {kind: [np.rint(ras_to_ijk @ np.append(p, 1.0))[:3].astype(int) for p in points]
                  for kind, points in (("foreground", foreground_ras), ("background", background_ras))}
        slices = {int(k) for points in clicks.values() for _, _, k in points}
        if len(slices) != 1:
            raise GmmSegError("place all clicks of one refinement on the same slice")
        (slice_index,) = slices
        labels = self.current_labels(result, frame)
        if not 0 <= slice_index < labels.shape[0]:
            raise GmmSegError(f"the clicks are outside the image (slice {slice_index})")
        image = arrayFromVolume(reference)[slice_index].astype(np.float32)
        spacing = np.linalg.norm(_matrix(reference)[:3, :2], axis=0)
        refined = refine(image, result.outputs.probabilities[frame, :, slice_index], labels[slice_index], structure,
                         [(int(i), int(j)) for i, j, _ in clicks["foreground"]],
                         [(int(i), int(j)) for i, j, _ in clicks["background"]], float(spacing.mean()))
        if refined.changed_pixels:
            self.scene.SaveStateForUndo()
            labels[slice_index] = refined.labels
            node = result.segmentation if frame == result.frame_of_interest else \
                result.segmentation_sequence.GetNthDataNode(frame)
            self._write_labels(node, reference, labels)
        return refined.changed_pixels

    def accept(self, result: SceneResult) -> object:
        """Freeze the result: keep the model's original output for audit, stamp the node, update the indices."""
        original = next((n for n in result.added if n.GetAttribute(ROLE) == "original"
                         and self.scene.IsNodePresent(n)), None)
        if original is None:
            frame = result.frame_of_interest
            original = self._segmentation_node(f"{result.input_node.GetName()} GmmSeg model output (audit)",
                                               result.volumes[frame], result.outputs.labels[frame])
            self._track(original, result.added, "original", result.input_node)
            original.SetHideFromEditors(True)
        model = result.outputs.summary.get("model") or {}
        result.segmentation.SetAttribute("GmmSeg.Accepted", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        unverified = "" if model.get("verified", True) else " (unverified: in no model registry)"
        result.segmentation.SetAttribute("GmmSeg.Model", f"{model.get('id')} sha256:{model.get('sha256')}{unverified}")
        self.update_indices(result)
        return original

    # -- the prior's phi as a transform ----------------------------------------------------------------------
    def phi_from_transform(self, result: SceneResult, frame: int | None = None) -> np.ndarray:
        """The phi that the (possibly moved) prior transform asks for, for ``frame``."""
        frame = result.frame_of_interest if frame is None else frame
        matrix = vtk.vtkMatrix4x4()
        result.prior_transform.GetMatrixTransformToParent(matrix)
        ras = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
        return phi_from_ras_transform(ras, self._automatic_phi(result, frame), self._canonical_frame(result),
                                      _matrix(result.volumes[frame]))

    def set_transform_from_phi(self, result: SceneResult, phi: np.ndarray, frame: int | None = None) -> None:
        """Move the prior transform to where ``phi`` puts the prior (the sliders' path)."""
        frame = result.frame_of_interest if frame is None else frame
        ras = ras_transform_for_phi(phi, self._automatic_phi(result, frame), self._canonical_frame(result),
                                    _matrix(result.volumes[frame]))
        result.prior_transform.SetMatrixTransformToParent(_vtk_matrix(ras))

    @staticmethod
    def _automatic_phi(result: SceneResult, frame: int) -> np.ndarray:
        record = result.outputs.summary["phi"][frame]
        return np.array([record["log_scale"], record["tx_mm"], record["ty_mm"], record["rotation_rad"]], np.float32)

    @staticmethod
    def _canonical_frame(result: SceneResult) -> CanonicalFrame:
        return CanonicalFrame(**result.outputs.summary["canonical_frame"])

    # -- files in, files out (batch) -----------------------------------------------------------------------------
    def segment_file(self, path: str | Path, folder: str | Path, model: str | None = None,
                     device: str = "auto") -> list[Path]:
        """Segment an image file through the scene as the module does, export the results to ``folder``, and
        take every node this added out of the scene again, so that a batch of cines does not pile up in memory."""
        from .io import image_stem

        before = {node.GetID() for node in _nodes(self.scene)}
        try:
            image = read_cardiac_image(path)
            node = add_volume_nodes(self.scene, image, image_stem(Path(path)))
            return self.export(self.process(node, model=model, device=device), folder)
        finally:
            _remove_nodes_added_since(self.scene, before)

    # -- export -------------------------------------------------------------------------------------------------
    def export(self, result: SceneResult, folder: str | Path, extension: str = ".nii.gz") -> list[Path]:
        """Write the current segmentation (all frames) and the uncertainty maps on the input's grid."""
        from .io import AtomicOutputs, to_sitk

        if extension not in (".nii.gz", ".nrrd"):
            raise GmmSegError(f"unsupported export format {extension!r}; use .nii.gz or .nrrd")
        image_geometry = _input_geometry(result.volumes)
        labels = self.all_labels(result)
        stem = result.input_node.GetName().replace(" ", "_")
        squeeze = labels.shape[0] == 1
        with AtomicOutputs(folder) as outputs:
            outputs.add_image(f"{stem}_seg{extension}", to_sitk(labels[0] if squeeze else labels, image_geometry))
            for kind, maps in result.outputs.uncertainty.items():
                outputs.add_image(f"{stem}_{kind}_uncertainty{extension}",
                                  to_sitk(maps[0] if squeeze else maps, image_geometry))
            indices = self.update_indices(result, labels)
            outputs.add_bytes(f"{stem}_indices.json", json.dumps(indices, indent=2).encode())
        return outputs.paths


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


def _segment_ids() -> vtk.vtkStringArray:
    """LV, MYO, RV: the segment of label value i is the i-th."""
    ids = vtk.vtkStringArray()
    for segment_id in STRUCTURES:
        ids.InsertNextValue(segment_id)
    return ids


def _vtk_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix

