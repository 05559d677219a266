"""A segmentation that GmmSeg did not make (loaded from a file, or drawn in the Segment Editor) taken into the module,
so that it can be reviewed, refined and measured like a GmmSeg result.

Its LV, MYO and RV are found by the segments' names (or IDs), with the usual spellings ("LV", "LV cavity", "Left
ventricle", "Myocardium", ...), or by a mapping the caller gives. Its image is the cine whose browser synchronises it,
else the volume it references as its geometry, else the one the caller names. The module works on a GmmSeg
segmentation made from its labels, beside the user's, which is hidden and left unchanged. Without a model there are no
uncertainty maps and no prior: the review queue is ordered by what the labels tell
(:func:`GmmSegLib.clinical.review.label_review_queue`), and
click refinement starts from the labels themselves (:func:`GmmSegLib.clinical.refinement.label_probabilities`).
"""

from __future__ import annotations

import numpy as np
import slicer

from ..clinical.case_summary import CaseSummary
from ..clinical.indices import clinical_indices
from ..clinical.plausibility import implausible_findings
from ..core.errors import GmmSegError
from ..core.labels import STRUCTURES
from ..inference.case_result import CaseResult
from .inputs import frame_volumes
from .nodes import lps_geometry, read_labels
from .texts import _

# the names a segment of each structure goes by, lower case (segment names and IDs are compared in lower case)
SEGMENT_NAMES: dict[str, tuple[str, ...]] = {
    "LV": ("lv", "lv cavity", "lv blood pool", "left ventricle", "left ventricular cavity", "left ventricle cavity"),
    "MYO": ("myo", "myocardium", "lv myocardium", "left ventricular myocardium", "left ventricle myocardium"),
    "RV": ("rv", "rv cavity", "rv blood pool", "right ventricle", "right ventricular cavity", "right ventricle cavity"),
}


def structure_segments(segmentation, mapping: dict[str, str] | None = None) -> dict[str, str]:
    """The segment ID of LV, MYO and RV in ``segmentation``: ``mapping`` gives structure -> segment name or ID,
    else the segments' names or IDs are matched against :data:`SEGMENT_NAMES`."""
    content = segmentation.GetSegmentation()
    by_name = {}
    for index in range(content.GetNumberOfSegments()):
        segment_id = content.GetNthSegmentID(index)
        by_name.setdefault(segment_id.lower(), segment_id)
        by_name.setdefault((content.GetSegment(segment_id).GetName() or "").lower(), segment_id)
    found, missing = {}, []
    for structure in STRUCTURES:
        names = (mapping[structure].lower(),) if mapping and structure in mapping else SEGMENT_NAMES[structure]
        segment_id = next((by_name[name] for name in names if name in by_name), None)
        if segment_id is None:
            missing.append(structure)
        else:
            found[structure] = segment_id
    if missing:
        present = ", ".join(sorted({content.GetSegment(i).GetName() for i in by_name.values()})) or _("none")
        raise GmmSegError(
            _("{name}: no segment for {missing} (its segments: {present}); name them LV, MYO and RV").format(
                name=segmentation.GetName(), missing=", ".join(missing), present=present
            )
        )
    return found


def image_of(segmentation, fallback=None):
    """The input a segmentation belongs to: the browser that synchronises it (a cine), else the volume it references
    as its geometry, else ``fallback``."""
    scene = segmentation.GetScene()
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        browser = scene.GetNthNodeByClass(index, "vtkMRMLSequenceBrowserNode")
        if browser.IsProxyNodeID(segmentation.GetID()):
            return browser
    reference = segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole())
    image = reference if isinstance(reference, slicer.vtkMRMLScalarVolumeNode) else fallback
    if image is None:
        raise GmmSegError(
            _(
                "{name}: which image does it belong to? Choose it as the input (or as the segmentation's "
                "source volume in the Segment Editor)"
            ).format(name=segmentation.GetName())
        )
    return image


def segmentation_labels(segmentation, image, segment_ids: dict[str, str]) -> np.ndarray:
    """The labels (T, Z, Y, X) of LV, MYO and RV on the input's grid, every frame of a cine."""
    ids = tuple(segment_ids[structure] for structure in STRUCTURES)  # label value = position + 1
    volumes = frame_volumes(image)
    if not isinstance(image, slicer.vtkMRMLSequenceBrowserNode):
        return read_labels(segmentation, volumes[0], ids)[None]
    sequence = image.GetSequenceNode(segmentation)
    master = image.GetMasterSequenceNode()
    items = [sequence.GetDataNodeAtValue(master.GetNthIndexValue(t)) for t in range(len(volumes))]
    held = sum(item is not None for item in items)
    if held < len(volumes):
        raise GmmSegError(
            _(
                "{name}: holds {held} of the cine's {frames} frames; review a cine segmented in every "
                "frame, or one frame as a 3D volume"
            ).format(name=segmentation.GetName(), held=held, frames=len(volumes))
        )
    shown = image.GetSelectedItemNumber()
    return np.stack(
        [
            read_labels(segmentation if t == shown else item, volume, ids)  # the shown frame's latest edits
            for t, (item, volume) in enumerate(zip(items, volumes, strict=True))
        ]
    )


def adopted_result(segmentation, image, labels: np.ndarray) -> CaseResult:
    """A result made of the labels alone: no uncertainty, no prior, no probabilities, no model."""
    spacing = lps_geometry(frame_volumes(image)[0]).spacing
    findings = implausible_findings(labels, spacing)
    summary = CaseSummary(
        image.GetName(),
        int(labels.shape[0]),
        tuple(spacing),
        source=f"segmentation {segmentation.GetName()}",
        implausible=findings,
        review_reasons=findings,
    )
    if labels.shape[0] >= 2:
        try:  # ED and ES lead the review queue, and ED is shown first
            summary.clinical_indices = clinical_indices(labels, spacing).to_dict()
        except GmmSegError:  # no LV in some frame: the indices table says why
            pass
    return CaseResult(labels, {}, None, summary)


def hide(segmentation) -> None:
    """The user's segmentation out of the views (it stays listed and unchanged)."""
    display = segmentation.GetDisplayNode()
    if display is not None:
        display.SetVisibility(False)
