"""A slice's refinement carried to the cine's other frames, or to the neighbouring slices, that make the same error.

The clinician corrects one slice; the same slice in the other frames of a cine usually shares its errors (a missed
basal RV, a myocardium drawn too thin on one side), and the slices next to it may. Offered after a refinement, this
repeats it where its clicks land on the same wrong labels as they did before the refinement
(GmmSegLib.core.clicks.clicks_sharing_the_error), with the same boxes, as the module refines a slice (the click refiner, or the geodesic path for a model without one):

- **other frames**: the same slice of every other frame;
- **neighbouring slices**: the slice directly above and the one directly below in the same frame, if it shows some
  of the heart (a missed basal RV is not drawn on above the labelled heart, into the atria). Not further: where a
  structure was missed, a pixel that is background on the next slice but one may well be right there (the RV
  narrows towards the apex), and carried clicks would draw the structure on where it is not.

All the slices changed come back in one undo step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..core.clicks import clicks_sharing_the_error
from ..core.errors import GmmSegError
from ..core.labels import BACKGROUND
from .edit_history import ActionStep, LabelEdit
from .scene_outputs import SceneOutputs
from .texts import _

if TYPE_CHECKING:  # torch, only once the clinician refines
    from ..clinical.refinement import Refinement

SliceRefiner = Callable[..., "Refinement"]  # (frame, slice, labels, clicks, boxes) -> Refinement


def _last_refinement(outputs: SceneOutputs) -> tuple[LabelEdit, np.ndarray]:
    """The refinement to carry (the next step to undo) and its slice's labels before it."""
    step = outputs.history.next_undo()
    if not outputs.history.last_is_refinement:
        raise GmmSegError(_("refine a slice with clicks first; the last step is not a refinement"))
    return step, step.revert(outputs.read_frame(step.frame))[0][step.slice]


def _refined_there(
    outputs: SceneOutputs, step: LabelEdit, before: np.ndarray, frame: int, z: int, refine_slice: SliceRefiner
) -> LabelEdit | None:
    """Slice ``z`` of ``frame`` refined with the clicks that share the error there (written to the scene), or None
    when no click does or nothing changed."""
    labels = outputs.read_frame(frame)
    clicks = clicks_sharing_the_error(step.clicks, before, labels[z])
    if not clicks:
        return None
    refined = refine_slice(frame, z, labels, tuple(clicks), step.boxes)
    if not refined.changed_pixels:
        return None
    edited = labels.copy()
    edited[z] = refined.labels
    outputs.write_frame(frame, edited)
    return LabelEdit.between(step.description, frame, labels, edited, z, tuple(clicks), step.boxes)


def _record(outputs: SceneOutputs, edits: list[LabelEdit], what: str, update_indices: Callable[[], None]) -> None:
    """The carried edits as one undo step, named after the refinement and ``what`` it was carried to."""
    if edits:
        outputs.history.record(
            ActionStep(
                f"{edits[0].description} on {len(edits)} {what}",
                lambda: _replay(outputs, edits, update_indices, undoing=True),
                lambda: _replay(outputs, edits, update_indices, undoing=False),
                tuple(edits),
            )
        )
        update_indices()


def refine_other_frames(
    outputs: SceneOutputs, refine_slice: SliceRefiner, update_indices: Callable[[], None]
) -> list[int]:
    """Repeat the last refinement (the next step to undo) on its slice in the other frames that share its error,
    each through ``refine_slice(frame, slice, labels, clicks, boxes)``; the frames changed, recorded as one undo
    step."""
    step, before = _last_refinement(outputs)
    if outputs.num_frames < 2:
        raise GmmSegError(_("this result has one frame: there are no other frames to refine"))
    edits = [
        edit
        for frame in range(outputs.num_frames)
        if frame != step.frame
        and (edit := _refined_there(outputs, step, before, frame, step.slice, refine_slice)) is not None
    ]
    _record(outputs, edits, "other frames", update_indices)
    return [edit.frame for edit in edits]


def refine_neighbouring_slices(
    outputs: SceneOutputs, refine_slice: SliceRefiner, update_indices: Callable[[], None]
) -> list[int]:
    """Repeat the last refinement on the slices of its frame directly above and below that show some of the heart and
    share its error, through ``refine_slice``; the slices changed, recorded as one undo step."""
    step, before = _last_refinement(outputs)
    labels = outputs.read_frame(step.frame)
    if labels.shape[0] < 2:
        raise GmmSegError(_("this result has one slice: there are no neighbouring slices to refine"))
    edits = [
        edit
        for z in (step.slice - 1, step.slice + 1)
        if 0 <= z < labels.shape[0]
        and (labels[z] != BACKGROUND).any()
        and (edit := _refined_there(outputs, step, before, step.frame, z, refine_slice)) is not None
    ]
    _record(outputs, edits, "neighbouring slices", update_indices)
    return sorted(edit.slice for edit in edits)


def _replay(outputs: SceneOutputs, edits: list[LabelEdit], update_indices: Callable[[], None], undoing: bool) -> None:
    for edit in edits:
        labels = outputs.read_frame(edit.frame)
        outputs.write_frame(edit.frame, (edit.revert(labels) if undoing else edit.reapply(labels))[0])
    update_indices()
