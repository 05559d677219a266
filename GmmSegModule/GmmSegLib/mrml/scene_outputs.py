"""The nodes one segmented input gets in the scene, made all at once and removed all at once.

For a 3D volume: a segmentation node (segments LV, MYO, RV with names, colours and SNOMED terminology;
reference geometry of the input), total / aleatoric / epistemic uncertainty volumes (0..1, one shared colour
table, black where the model is sure: the views add it to the image, see :func:`add_overlay_to_image`), the
registered prior of the heart under a linear transform the clinician can move, and a table of clinical indices.

For a cine (a sequence browser): the same outputs as sequences synchronised in the input's browser, one item
per time frame, so that browsing the cine browses its results. The views, the Segment Editor and node
references use the browser's proxy nodes, which live in the main scene; the segmentation's sequence saves
edits made on its proxy (``SetSaveChanges``), so an edit is kept when the clinician browses on. A cine also
gets its volume curves (a table and a plot chart).

Every node is tagged with ``GmmSeg.Role`` and ``GmmSeg.Input``. Proxies take their attributes from the item
they show (``vtkMRMLNode::CopyContent`` copies attributes, ``vtkSlicerSequencesLogic.cxx``), so the items carry
the tags too. All outputs are placed under the input's parent transform, beside the input in the subject
hierarchy. The segmentation (for a cine, its proxy) is the result's root: it references the input
(``GmmSegInput``) and every other node of the result (``GmmSegOutput``, in the order they were made). Node
references, unlike attributes, are renumbered when a saved scene is imported (``vtkMRMLScene::Import``), which is how
:mod:`GmmSegLib.mrml.resume` finds a result again. Beside what the views show, a result keeps the record of
:mod:`GmmSegLib.mrml.result_record` (summary, the model's labels, the class probabilities).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import slicer

from ..clinical.reader_choices import ReaderChoices
from ..core.errors import GmmSegError
from ..core.probability_steps import probabilities_as_read
from ..inference.case_result import CaseResult
from .edit_history import EditHistory
from .inputs import ROLE, frame_volumes, shown_volume, update_proxies
from .nodes import (
    has_surface,
    ijk_to_ras,
    ijk_to_ras_matrix,
    new_segmentation,
    read_labels,
    remove_with_dependents,
    write_labels,
)
from .result_record import (
    MODEL_LABELS,
    PROBABILITIES,
    SUMMARY,
    frame_array,
    new_frame_sequence,
    new_summary_node,
    read_reader_choices,
    write_reader_choices,
)
from .texts import _

INPUT = "GmmSeg.Input"
MIRRORED_STORAGE = "GmmSeg.MirroredStorage"  # "true" on a segmentation of a stack stored mirrored
REVIEW_ADVISED = "GmmSeg.ReviewAdvised"  # "true" when the model is unsure of a whole frame or the result implausible
IMPLAUSIBLE = "GmmSeg.Implausible"  # the findings that make the result implausible as a heart
ACCEPTED = "GmmSeg.Accepted"  # ISO time of Accept, on the segmentation (and each frame's item of a cine)
SUPERSEDED = "GmmSeg.Superseded"  # "true" on an accepted result that a re-run of its input replaced in the views
UNCERTAINTY_COLOURS = "GmmSeg uncertainty (black: certain)"
INPUT_REFERENCE = "GmmSegInput"  # from the segmentation to the input (a volume or a cine's browser)
OUTPUT_REFERENCE = "GmmSegOutput"  # from the segmentation to every other node of its result


@dataclass
class SceneOutputs:
    """The nodes made for one input. ``segmentation``, ``uncertainty`` and ``prior`` are main-scene nodes (for a
    cine, the browser's proxies); ``frame_volumes`` are read for arrays and geometry only. A segmentation that GmmSeg
    did not make (:mod:`GmmSegLib.mrml.adopt`) has no uncertainty maps (``uncertainty`` is empty) and no prior
    (``prior`` and ``prior_transform`` are None)."""

    input_node: object
    frame_volumes: list
    shown_volume: object
    segmentation: object
    uncertainty: dict[str, object]
    prior: object
    prior_transform: object
    indices_table: object
    result: CaseResult
    sequences: dict[str, object] = field(default_factory=dict)  # cine: role -> synchronised sequence
    plot_chart: object | None = None
    added: list = field(default_factory=list)
    history: EditHistory = field(default_factory=EditHistory)
    indices: dict = field(default_factory=dict)  # the indices the table shows (GmmSegLib.mrml.indices_nodes)

    @property
    def browser(self):
        return self.input_node if self.sequences else None

    @property
    def num_frames(self) -> int:
        return len(self.frame_volumes)

    @property
    def current_frame(self) -> int:
        """The time frame the views show (the browser's selected item), 0 for a 3D volume."""
        return max(0, self.browser.GetSelectedItemNumber()) if self.browser is not None else 0

    @property
    def parent_transform(self):
        return self.shown_volume.GetParentTransformNode()

    def present_in(self, scene) -> bool:
        """Whether the result still stands: its input and segmentation are in ``scene``."""
        return all(node is not None and scene.IsNodePresent(node) for node in (self.input_node, self.segmentation))

    def node_of(self, role: str):
        return next((n for n in self.added if n.GetAttribute(ROLE) == role), None)

    def keep(self, node) -> None:
        """Count ``node`` as one of this result's nodes: removed with it, and found again with it."""
        self.added.append(node)
        if self.segmentation is not None and node is not self.segmentation:
            self.segmentation.AddNodeReferenceID(OUTPUT_REFERENCE, node.GetID())

    @property
    def index_values(self) -> list[str]:
        """The index value of each frame: the cine's master sequence's, "0" for a 3D volume."""
        if self.browser is None:
            return ["0"]
        master = self.browser.GetMasterSequenceNode()
        return [master.GetNthIndexValue(t) for t in range(self.num_frames)]

    def class_probabilities(self, frame: int) -> np.ndarray | None:
        """The model's class probabilities (K, Z, Y, X) of ``frame``, or None when the result has none."""
        return probabilities_as_read(frame_array(self.node_of(PROBABILITIES), self.index_values[frame], vector=True))

    def slice_to_refine(
        self, frame: int, slice_index: int, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """What a refinement of a slice of ``frame`` reads: its image (Y, X), its class probabilities (K, Y, X) (for a
        segmentation GmmSeg did not make, those its ``labels`` (Z, Y, X) stand for) and the pixel size (x, y) in mm."""
        from ..clinical.refinement import label_probabilities  # torch: only once the clinician refines

        reference = self.frame_volumes[frame]
        image = slicer.util.arrayFromVolume(reference)[slice_index].astype(np.float32)
        spacing = np.linalg.norm(ijk_to_ras(reference)[:3, :2], axis=0)
        probabilities = self.class_probabilities(frame)
        probabilities = (
            probabilities[:, slice_index] if probabilities is not None else label_probabilities(labels[slice_index])
        )
        return image, probabilities, (float(spacing[0]), float(spacing[1]))

    def probability_frames(self) -> Sequence[np.ndarray] | None:
        """Every frame's class probabilities (K, Z, Y, X), each read from the scene when first asked for (the indices
        need ED's and ES's only); None when the result has none (a segmentation GmmSeg did not make)."""
        return _ProbabilityFrames(self) if self.node_of(PROBABILITIES) is not None else None

    def reader_choices(self) -> ReaderChoices:
        """The reader's choices of frames and slices, kept with the result's record in the scene."""
        return read_reader_choices(self.node_of(SUMMARY))

    def keep_reader_choices(self, choices: ReaderChoices) -> None:
        write_reader_choices(self.node_of(SUMMARY), choices)

    def notes(self, plot_view: bool) -> list[str]:
        """What the clinician should know of these outputs beside the images, one line each; ``plot_view``: whether
        the layout has a plot view, where a cine's volume curves show."""
        notes = []
        if self.result.summary.mirrored_storage:
            notes.append(
                _(
                    "Note: this stack is stored mirrored with respect to the training images (rows and columns "
                    "in the other handedness); it was segmented as such. Check the result if your scanner's "
                    "storage order is known to be the usual one."
                )
            )
        if self.plot_chart is not None and not plot_view:
            notes.append(
                _(
                    "The volume curves are in '{chart}': choose a layout with a plot view (e.g. Four-Up Plot) "
                    "to see them."
                ).format(chart=self.plot_chart.GetName())
            )
        return notes

    def set_attributes(self, values: dict) -> None:
        """Set (or, for None, remove) attributes on the segmentation and, for a cine, every frame's item."""
        nodes = [self.segmentation]
        if self.browser is not None:
            sequence = self.sequences["segmentation"]
            nodes += [sequence] + [sequence.GetNthDataNode(i) for i in range(sequence.GetNumberOfDataNodes())]
        for node in nodes:
            for key, value in values.items():
                if value is None:
                    node.RemoveAttribute(key)
                else:
                    node.SetAttribute(key, value)

    # -- labels of one frame, wherever they are held --------------------------------------------------------
    def labels_node(self, frame: int):
        """The segmentation node holding ``frame``, with the volume whose grid it is read on."""
        if self.browser is None:
            return self.segmentation, self.shown_volume
        if frame == self.current_frame:
            return self.segmentation, self.shown_volume
        return self.sequence_item("segmentation", frame), self.frame_volumes[frame]

    def frames_without_surface(self) -> list[int]:
        """The frames whose segmentation has no 3D surface yet, the frame shown first.

        A result's nodes are made without surfaces: converting a frame's labels to a closed surface takes 0.03-0.1 s
        each, which the panel spends while the GUI is idle, one frame per tick (GmmSegLib.gui.surface_filler), rather
        than while the result arrives."""
        if self.browser is None:
            return [] if has_surface(self.segmentation) else [0]
        shown = self.current_frame
        frames = [shown, *(t for t in range(len(self.frame_volumes)) if t != shown)]
        return [t for t in frames if not has_surface(self.sequence_item("segmentation", t))]

    def make_surface(self, frame: int) -> None:
        """Give ``frame``'s segmentation its 3D surface (the proxy's too when the frame is shown), as
        MONAIAuto3DSeg and TotalSegmentator show their results in 3D."""
        if self.browser is None:
            self.segmentation.CreateClosedSurfaceRepresentation()
            return
        self.sequence_item("segmentation", frame).CreateClosedSurfaceRepresentation()
        if frame == self.current_frame:
            self.segmentation.CreateClosedSurfaceRepresentation()

    def sequence_item(self, role: str, frame: int):
        master = self.browser.GetMasterSequenceNode()
        return self.sequences[role].GetDataNodeAtValue(master.GetNthIndexValue(frame))

    def read_frame(self, frame: int) -> np.ndarray:
        self.check_frame(frame)
        return read_labels(*self.labels_node(frame))

    def write_frame(self, frame: int, labels: np.ndarray) -> None:
        """Put ``labels`` into ``frame``: into its sequence item, and into the proxy too when it is shown. The shown
        segmentation's 3D surface is made again at once; a cine's stored item only loses its old surface, which the
        panel makes again while the GUI is idle (:meth:`frames_without_surface`, gui/surface_filler.py): converting
        both made each click refinement wait for two surfaces. For the frame shown, Slicer's Sequences logic copies
        the item, surface dropped, into the proxy (SequenceNodeModifiedEvent), then the proxy with its new surface
        back into the item (ProxyNodeModifiedEvent, vtkSlicerSequencesLogic::ProcessMRMLNodesEvents)."""
        self.check_frame(frame)
        shown = self.browser is None or frame == self.current_frame
        shown_surface = shown and has_surface(self.segmentation)
        if self.browser is not None:
            write_labels(
                self.sequence_item("segmentation", frame), self.frame_volumes[frame], labels, remake_surface=False
            )
        if shown:
            write_labels(self.segmentation, self.shown_volume, labels)
            if shown_surface:  # the proxy may hold the item's copy, surface dropped, by now
                self.segmentation.CreateClosedSurfaceRepresentation()

    def check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.num_frames:
            raise GmmSegError(
                _("frame {frame} does not exist (the input has {frames} frames)").format(
                    frame=frame, frames=self.num_frames
                )
            )


class _ProbabilityFrames(Sequence):
    """A result's class probabilities frame by frame, read from its scene nodes on first use and kept."""

    def __init__(self, outputs: SceneOutputs):
        self.outputs, self.read = outputs, {}

    def __len__(self) -> int:
        return self.outputs.num_frames

    def __getitem__(self, frame: int) -> np.ndarray:
        if frame not in self.read:
            self.read[frame] = self.outputs.class_probabilities(frame)
        return self.read[frame]


def add_output_nodes(scene, input_node, result: CaseResult) -> SceneOutputs:
    """Create every output node for ``input_node``; on any failure remove what was added and re-raise."""
    volumes = frame_volumes(input_node)
    shape = slicer.util.arrayFromVolume(volumes[0]).shape
    if result.labels.shape[0] != len(volumes) or result.labels.shape[1:] != shape:
        raise GmmSegError(_("the results do not match the input's grid (another image?); segment this input again"))
    builder = _Builder(scene, input_node, volumes, result)
    try:
        return builder.build()
    except Exception:
        remove_output_nodes(scene, builder.outputs_so_far())
        raise


def add_audit_copy(scene, outputs: SceneOutputs) -> None:
    """The model's output as it came, before any edit: a hidden segmentation, for a cine a sequence of them."""
    name = f"{outputs.input_node.GetName()} GmmSeg model output (audit)"
    labels = outputs.result.labels
    if outputs.browser is None:
        audit = new_segmentation(name, outputs.frame_volumes[0], labels[0])
        scene.AddNode(audit)
        audit.CreateDefaultDisplayNodes()
        audit.GetDisplayNode().SetVisibility(False)
        audit.SetAndObserveTransformNodeID(outputs.shown_volume.GetTransformNodeID())
    else:  # a sequence that no browser shows: listed, never drawn
        audit = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
        master = outputs.browser.GetMasterSequenceNode()
        audit.SetIndexName(master.GetIndexName())
        audit.SetIndexType(master.GetIndexType())
        for t, volume in enumerate(outputs.frame_volumes):
            audit.SetDataNodeAtValue(
                new_segmentation(f"{name} frame {t}", volume, labels[t]), master.GetNthIndexValue(t)
            )
    tag(audit, "original", outputs.input_node)
    outputs.keep(audit)
    place_in_study(scene, outputs.input_node, [audit])


def remove_output_nodes(scene, outputs: SceneOutputs) -> None:
    """Take a result's nodes (proxies, display and storage nodes included) out of the scene."""
    _stop_browsing(scene, outputs)
    for node in reversed(outputs.added):
        remove_with_dependents(scene, node)
    outputs.added.clear()
    outputs.sequences.clear()


def retire_output_nodes(scene, outputs: SceneOutputs) -> None:
    """Keep an accepted result that a new one of the same input replaces, out of the views: its nodes stay in the
    scene (listed, saved) marked ``GmmSeg.Superseded``, its segmentation is hidden, and a cine's sequences leave the
    browser, so that browsing the cine shows the new result only and no proxies pile up per re-run."""
    superseded = [outputs.segmentation] if outputs.browser is None else list(outputs.sequences.values())
    _stop_browsing(scene, outputs)
    for node in superseded:
        node.SetAttribute(SUPERSEDED, "true")
    if outputs.browser is None and outputs.segmentation.GetDisplayNode() is not None:
        outputs.segmentation.GetDisplayNode().SetVisibility(False)
    outputs.sequences.clear()


def _stop_browsing(scene, outputs: SceneOutputs) -> None:
    """Take a cine result's sequences out of its browser, and their proxies out of the scene."""
    browser = outputs.browser
    for sequence in outputs.sequences.values():
        if (
            browser is not None
            and scene.IsNodePresent(browser)
            and browser.IsSynchronizedSequenceNodeID(sequence.GetID())
        ):
            proxy = browser.GetProxyNode(sequence)
            # the browser forgets the proxy but leaves it in the scene: its copy marker is one of the attributes
            # that the first update overwrote (vtkMRMLSequenceBrowserNode::RemoveProxyNode)
            browser.RemoveSynchronizedSequenceNode(sequence.GetID())
            if proxy in outputs.added:
                outputs.added.remove(proxy)
            remove_with_dependents(scene, proxy)


def tag(node, role: str, input_node) -> None:
    node.SetAttribute(ROLE, role)
    node.SetAttribute(INPUT, input_node.GetID())


def place_in_study(scene, input_node, nodes: list) -> None:
    """Put nodes beside the input in the subject hierarchy (in the input's study, when it has one)."""
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if hierarchy is None:
        return
    parent = hierarchy.GetItemParent(hierarchy.GetItemByDataNode(input_node))
    for node in nodes:
        item = hierarchy.GetItemByDataNode(node)
        if item and parent:
            hierarchy.SetItemParent(item, parent)


def uncertainty_colours(scene):
    """A colour table from black (certain) through red to yellow (uncertain), opaque, shared by all maps: added to
    the image (:func:`add_overlay_to_image`), black leaves the image as it is and the tint grows with uncertainty."""
    existing = scene.GetFirstNodeByName(UNCERTAINTY_COLOURS)
    if existing is not None:
        return existing
    table = slicer.vtkMRMLColorTableNode()
    table.SetName(UNCERTAINTY_COLOURS)
    table.SetTypeToUser()
    table.SetNumberOfColors(256)
    for i in range(256):
        level = i / 255.0
        table.SetColor(i, f"{level:.2f}", min(1.0, 2.0 * level), max(0.0, 2.0 * level - 1.0), 0.0, 1.0)
    scene.AddNode(table)
    return table


def show_layers(scene, background, foreground, foreground_opacity: float) -> None:
    """Every slice view shows ``background`` with ``foreground`` (an uncertainty map, the prior, or None) added to it
    at ``foreground_opacity``, graded (:func:`add_overlay_to_image`). What ``slicer.util.setSliceViewerLayers`` does
    to the slice composite nodes (Base/Python/slicer/util.py, 5.10 and 5.12), done on ``scene`` rather than on the
    application's, so that the Slicer panel and the web app show a result alike."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        composite = scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode")
        composite.SetBackgroundVolumeID(background.GetID() if background is not None else None)
        composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
        composite.SetForegroundOpacity(foreground_opacity)
    add_overlay_to_image(scene)


def add_overlay_to_image(scene) -> None:
    """Make every slice view add its foreground (an uncertainty map or the prior) to the image, so that the overlay
    is graded: a scalar volume's colour-table alpha is drawn as 0 or 255 only (vtkMRMLScalarVolumeDisplayNode's
    pipeline ANDs it with a threshold, ``AlphaLogic`` with true value 255), so alpha blending would paint every
    uncertain pixel at the full foreground opacity. With ``vtkMRMLSliceCompositeNode::Add`` (vtkMRMLSliceLogic, 5.10
    and 5.12) the foreground's colour, scaled by the foreground opacity, is added to the background."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode").SetCompositing(slicer.vtkMRMLSliceCompositeNode.Add)


def new_scalar_volume(name: str, reference, array: np.ndarray):
    """A scalar volume outside any scene, on ``reference``'s grid."""
    node = slicer.vtkMRMLScalarVolumeNode()
    node.SetName(name)
    node.SetIJKToRASMatrix(ijk_to_ras_matrix(reference))
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array, np.float32))
    return node


class _Builder:
    """Makes the nodes of one result; :meth:`outputs_so_far` lets a failure remove exactly what was made."""

    def __init__(self, scene, input_node, volumes: list, result: CaseResult):
        self.scene, self.input_node, self.volumes, self.result = scene, input_node, volumes, result
        self.name = input_node.GetName()
        self.is_cine = isinstance(input_node, slicer.vtkMRMLSequenceBrowserNode)
        self.shown = shown_volume(input_node)
        self.added: list = []
        self.sequences: dict[str, object] = {}

    def outputs_so_far(self) -> SceneOutputs:
        return SceneOutputs(
            self.input_node,
            self.volumes,
            self.shown,
            None,
            {},
            None,
            None,
            None,
            self.result,
            sequences=self.sequences,
            added=self.added,
        )

    def build(self) -> SceneOutputs:
        shown = self.result.frame_of_interest if self.is_cine else 0
        if self.is_cine:
            self.input_node.SetSelectedItemNumber(shown)
        segmentation = self._segmentation()
        uncertainty = {
            kind: self._map(f"uncertainty:{kind}", f"{self.name} GmmSeg {kind} uncertainty", maps)
            for kind, maps in self.result.uncertainty.items()
        }
        prior, transform = self._prior() if self.result.prior is not None else (None, None)
        table = self._add(
            self.scene.AddNewNodeByClass("vtkMRMLTableNode", f"{self.name} GmmSeg clinical indices"), "indices"
        )
        self._record()
        place_in_study(self.scene, self.input_node, self.added)
        outputs = SceneOutputs(
            self.input_node,
            self.volumes,
            self.shown,
            segmentation,
            uncertainty,
            prior,
            transform,
            table,
            replace(self.result, probabilities=None),
            sequences=self.sequences,
        )
        outputs.segmentation.SetNodeReferenceID(INPUT_REFERENCE, self.input_node.GetID())
        for node in self.added:
            outputs.keep(node)
        return outputs

    def _prior(self) -> tuple:
        """The registered prior of the heart (1 - background) under a transform the clinician can move."""
        transform = self._add(
            self.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", f"{self.name} GmmSeg prior transform"),
            "prior transform",
        )
        transform.SetAndObserveTransformNodeID(self.shown.GetTransformNodeID())
        prior = self._map("prior", f"{self.name} GmmSeg prior (heart)", 1.0 - self.result.prior[:, 0])
        prior.SetAndObserveTransformNodeID(transform.GetID())
        return prior, transform

    def _record(self) -> None:
        """The record of the result (:mod:`GmmSegLib.mrml.result_record`); the probabilities live only there."""
        master = self.input_node.GetMasterSequenceNode() if self.is_cine else None
        values = [master.GetNthIndexValue(t) for t in range(len(self.volumes))] if self.is_cine else ["0"]
        self._add(new_summary_node(self.scene, f"{self.name} GmmSeg summary", self.result.summary), SUMMARY)
        self._add(
            new_frame_sequence(
                self.scene,
                f"{self.name} GmmSeg model labels",
                self.volumes,
                values,
                self.result.labels,
                vector=False,
                like=master,
            ),
            MODEL_LABELS,
        )
        if self.result.probabilities is not None:
            self._add(
                new_frame_sequence(
                    self.scene,
                    f"{self.name} GmmSeg class probabilities",
                    self.volumes,
                    values,
                    self.result.kept_probabilities,
                    vector=True,
                    like=master,
                ),
                PROBABILITIES,
            )

    def _add(self, node, role: str):
        tag(node, role, self.input_node)
        self.added.append(node)
        return node

    def _segmentation(self):
        name = f"{self.name} GmmSeg"
        labels = self.result.labels
        if not self.is_cine:
            node = self._add(new_segmentation(name, self.volumes[0], labels[0]), "segmentation")
            self._mark(node)
            self.scene.AddNode(node)
            node.CreateDefaultDisplayNodes()
            node.SetAndObserveTransformNodeID(self.shown.GetTransformNodeID())
            node.SetReferenceImageGeometryParameterFromVolumeNode(self.shown)
            return node
        items = [new_segmentation(f"{name} frame {t}", volume, labels[t]) for t, volume in enumerate(self.volumes)]
        for item in items:
            tag(item, "segmentation", self.input_node)
            self._mark(item)
        proxy = self._synchronise("segmentation", name, items, save_changes=True)
        proxy.SetReferenceImageGeometryParameterFromVolumeNode(self.shown)  # the main-scene proxy of the input
        return proxy

    def _mark(self, segmentation) -> None:
        if self.result.summary.mirrored_storage:  # recognised as stored mirrored (inference.handedness)
            segmentation.SetAttribute(MIRRORED_STORAGE, "true")
        if self.result.summary.review_advised:
            segmentation.SetAttribute(REVIEW_ADVISED, "true")
        if self.result.summary.implausible:  # what makes it implausible as a heart (plausibility.py)
            segmentation.SetAttribute(IMPLAUSIBLE, "; ".join(self.result.summary.implausible))

    def _map(self, role: str, name: str, maps: np.ndarray):
        """A scalar map (uncertainty or prior), a volume for a 3D input or a synchronised sequence for a cine."""
        if self.is_cine:
            items = [new_scalar_volume(f"{name} frame {t}", volume, maps[t]) for t, volume in enumerate(self.volumes)]
            for item in items:
                tag(item, role, self.input_node)
            node = self._synchronise(role, name, items, save_changes=False)
        else:
            node = self._add(new_scalar_volume(name, self.volumes[0], maps[0]), role)
            self.scene.AddNode(node)
            node.CreateDefaultDisplayNodes()
            node.SetAndObserveTransformNodeID(self.shown.GetTransformNodeID())
        display = node.GetDisplayNode()
        display.SetAndObserveColorNodeID(uncertainty_colours(self.scene).GetID())
        display.SetAutoWindowLevel(False)
        display.SetWindowLevelMinMax(0.0, 1.0)
        return node

    def _synchronise(self, role: str, name: str, items: list, save_changes: bool):
        """A sequence of ``items`` (one per frame, at the master's index values) synchronised in the input's
        browser; returns the browser's proxy node for it, in the main scene."""
        browser = self.input_node
        master = browser.GetMasterSequenceNode()
        sequence = self._add(self.scene.AddNewNodeByClass("vtkMRMLSequenceNode", name), f"{role} sequence")
        sequence.SetIndexName(master.GetIndexName())
        sequence.SetIndexUnit(master.GetIndexUnit())
        sequence.SetIndexType(master.GetIndexType())
        for t, item in enumerate(items):
            sequence.SetDataNodeAtValue(item, master.GetNthIndexValue(t))  # the sequence keeps its own copy
        self.sequences[role] = sequence
        browser.AddSynchronizedSequenceNode(sequence)
        browser.SetSaveChanges(sequence, save_changes)
        update_proxies(browser)
        proxy = browser.GetProxyNode(sequence)
        if proxy is None:
            raise GmmSegError(
                _("{name}: the sequence browser made no node to show the {role}").format(
                    name=browser.GetName(), role=role
                )
            )
        self.added.append(proxy)
        if proxy.GetDisplayNode() is None:
            proxy.CreateDefaultDisplayNodes()
        proxy.SetAndObserveTransformNodeID(self.shown.GetTransformNodeID())
        return proxy
