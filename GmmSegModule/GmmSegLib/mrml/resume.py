"""A GmmSeg result found again in a scene: after the scene was saved and opened, or the module reloaded.

Everything the panel works with is in the scene (:mod:`GmmSegLib.mrml.scene_outputs`): the segmentation, which
references its input and every other node of its result; the uncertainty maps and the prior as volumes or
synchronised sequences; the indices table; the audit copy and the Accept stamps once accepted; and the record of
:mod:`GmmSegLib.mrml.result_record` (summary, the model's labels, the class probabilities). :func:`resume` reads them
back into a :class:`SceneOutputs`, so that review, Refine, Undo, Accept, Re-run and Export work as on the result just
made. The module's undo history is not kept in the scene: edits made before the scene was saved stay in the
segmentation but cannot be undone with the module's Undo.
"""

from __future__ import annotations

import numpy as np
import slicer

from ..core.errors import GmmSegError
from ..core.labels import UNCERTAINTY_KINDS
from ..inference.case_result import CaseResult
from .inputs import ROLE, frame_volumes, shown_volume
from .nodes import read_labels
from .result_record import MODEL_LABELS, SUMMARY, frame_array, read_summary
from .scene_outputs import ACCEPTED, INPUT_REFERENCE, OUTPUT_REFERENCE, SUPERSEDED, SceneOutputs, tag
from .texts import _


def is_result(node) -> bool:
    """Whether ``node`` is the segmentation of a GmmSeg result (the node that references the rest)."""
    return isinstance(node, slicer.vtkMRMLSegmentationNode) and node.GetAttribute(ROLE) == "segmentation"


def is_superseded(segmentation) -> bool:
    """Whether a re-run of its input replaced this (accepted) result in the views: it is kept for the record only
    (:func:`GmmSegLib.mrml.scene_outputs.retire_output_nodes`)."""
    return segmentation.GetAttribute(SUPERSEDED) == "true"


def result_segmentations(scene) -> list:
    """The segmentations of the GmmSeg results in ``scene`` whose image is there and that no re-run replaced, in the
    order they were added (the newest last)."""
    nodes = (
        scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
        for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))
    )
    return [
        node
        for node in nodes
        if is_result(node) and not is_superseded(node) and node.GetNodeReference(INPUT_REFERENCE) is not None
    ]


def latest_result(scene, input_node=None) -> SceneOutputs | None:
    """The newest GmmSeg result in ``scene`` (of ``input_node``, when that has one), taken up; None when there is
    none."""
    segmentations = result_segmentations(scene)
    of_input = [s for s in segmentations if s.GetNodeReference(INPUT_REFERENCE) is input_node]
    chosen = (of_input or segmentations)[-1:]
    return resume(scene, chosen[0]) if chosen else None


def resume(scene, segmentation) -> SceneOutputs:
    """The result whose segmentation is ``segmentation``, read back from the scene."""
    input_node = segmentation.GetNodeReference(INPUT_REFERENCE)
    if is_superseded(segmentation):
        raise GmmSegError(
            _("{name}: a later result of its image replaced it; it is kept for the record, not for review").format(
                name=segmentation.GetName()
            )
        )
    if input_node is None or not scene.IsNodePresent(input_node):
        raise GmmSegError(
            _("{name}: the image it was made from is no longer in the scene").format(name=segmentation.GetName())
        )
    added = [segmentation] + [
        segmentation.GetNthNodeReference(OUTPUT_REFERENCE, i)
        for i in range(segmentation.GetNumberOfNodeReferences(OUTPUT_REFERENCE))
    ]
    added = [node for node in added if node is not None]

    def role(name: str):
        return next((node for node in added if node.GetAttribute(ROLE) == name), None)

    sequences = {}
    if isinstance(input_node, slicer.vtkMRMLSequenceBrowserNode):
        sequences = {
            node.GetAttribute(ROLE).removesuffix(" sequence"): node
            for node in added
            if isinstance(node, slicer.vtkMRMLSequenceNode) and input_node.IsSynchronizedSequenceNodeID(node.GetID())
        }
        if "segmentation" not in sequences:
            raise GmmSegError(
                _("{name}: its frames are no longer in the cine {cine}").format(
                    name=segmentation.GetName(), cine=input_node.GetName()
                )
            )
    if role(SUMMARY) is None:
        raise GmmSegError(
            _("{name}: the result's record is missing (made by an earlier GmmSeg); segment the input again").format(
                name=segmentation.GetName()
            )
        )
    uncertainty = {kind: node for kind in UNCERTAINTY_KINDS if (node := role(f"uncertainty:{kind}")) is not None}
    outputs = SceneOutputs(
        input_node,
        frame_volumes(input_node),
        shown_volume(input_node),
        segmentation,
        uncertainty,
        role("prior"),
        role("prior transform"),
        role("indices"),
        None,
        sequences=sequences,
        plot_chart=role("volume plot"),
        added=added,
    )
    if outputs.indices_table is None:  # deleted by hand: the next refresh fills a new one
        outputs.indices_table = scene.AddNewNodeByClass(
            "vtkMRMLTableNode", f"{input_node.GetName()} GmmSeg clinical indices"
        )
        tag(outputs.indices_table, "indices", input_node)
        outputs.keep(outputs.indices_table)
    outputs.result = _case_result(outputs)
    return outputs


def _case_result(outputs: SceneOutputs) -> CaseResult:
    """What the model produced, as the scene holds it; the probabilities stay in the scene
    (:meth:`SceneOutputs.class_probabilities`), and the prior is the heart map shown (no array kept)."""
    values = outputs.index_values
    model_labels = [frame_array(outputs.node_of(MODEL_LABELS), value, vector=False) for value in values]
    if any(labels is None for labels in model_labels):  # the record's labels were deleted: the labels as they are
        model_labels = [read_labels(*outputs.labels_node(t)) for t in range(outputs.num_frames)]
    maps = {
        kind: np.stack(_map_frames(outputs, f"uncertainty:{kind}", node)) for kind, node in outputs.uncertainty.items()
    }
    return CaseResult(np.stack(model_labels).astype(np.uint8), maps, None, read_summary(outputs.node_of(SUMMARY)))


def _map_frames(outputs: SceneOutputs, role: str, node) -> list[np.ndarray]:
    """A scalar map's arrays, one per frame: the items of a cine's synchronised sequence, or the volume's."""
    if outputs.browser is None:
        return [np.array(slicer.util.arrayFromVolume(node))]
    return [frame_array(outputs.sequences[role], value, vector=False) for value in outputs.index_values]


def taken_up_notes(outputs: SceneOutputs) -> list[str]:
    """What the clinician should know of a result taken up from the scene, one line each."""
    name = outputs.segmentation.GetName()
    accepted = outputs.segmentation.GetAttribute(ACCEPTED)
    reviewing = (
        _("Reviewing {name} (accepted {accepted}).").format(name=name, accepted=accepted)
        if accepted
        else _("Reviewing {name}.").format(name=name)
    )
    notes = [
        reviewing,
        _("The module's Undo starts here: earlier edits are kept in the segmentation, not in the Undo history."),
    ]
    if not outputs.uncertainty:
        notes.append(
            _(
                "This segmentation has no uncertainty maps (GmmSeg did not make it): the review table lists the "
                "slices of the ED and ES frames first, base and apex before the middle, without scores."
            )
        )
    if outputs.prior_transform is None:
        notes.append(_("It has no prior to move: Re-run with this prior is not available; Segment runs the model."))
    notes += [_("Review advised: {reason}.").format(reason=reason) for reason in outputs.result.summary.review_reasons]
    return notes
