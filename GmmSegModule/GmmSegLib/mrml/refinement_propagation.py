"""A slice's refinement carried to the same slice of the cine's other frames that make the same error.

The clinician corrects one frame; the neighbouring frames of a cine usually share its errors (a missed basal RV, a
myocardium drawn too thin on one side). Offered after a refinement, this repeats it on the same slice of every other
frame where its clicks land on the same wrong labels as they did before the refinement (a click whose pixel is
already right in that frame, or wrong in another way, would force a wrong answer there and is left out), with the
same boxes, as the module refines a slice (the click refiner, or the geodesic path for a model without one). All the
frames changed come back in one undo step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..core.clicks import Click
from ..core.errors import GmmSegError
from .edit_history import ActionStep, LabelEdit
from .scene_outputs import SceneOutputs
from .texts import _

if TYPE_CHECKING:  # torch, only once the clinician refines
    from ..clinical.refinement import Refinement


def _clicks_sharing_the_error(step: LabelEdit, before: np.ndarray, labels: np.ndarray) -> list[Click]:
    """The refinement's clicks whose pixel holds in ``labels`` (Y, X) what the refined frame held before, ``before``."""
    return [
        c for c in step.clicks if labels[int(round(c.y)), int(round(c.x))] == before[int(round(c.y)), int(round(c.x))]
    ]


def refine_other_frames(
    outputs: SceneOutputs, refine_slice: Callable[..., Refinement], update_indices: Callable[[], None]
) -> list[int]:
    """Repeat the last refinement (the next step to undo) on its slice in the other frames that share its error,
    each through ``refine_slice(frame, slice, labels, clicks, boxes)``; the frames changed, recorded as one undo
    step."""
    step = outputs.history.next_undo()
    if not outputs.history.last_is_refinement:
        raise GmmSegError(_("refine a slice with clicks first; the last step is not a refinement"))
    if outputs.num_frames < 2:
        raise GmmSegError(_("this result has one frame: there are no other frames to refine"))
    z = step.slice
    before = step.revert(outputs.read_frame(step.frame))[0][z]
    edits = []
    for frame in range(outputs.num_frames):
        labels = outputs.read_frame(frame)
        clicks = [] if frame == step.frame else _clicks_sharing_the_error(step, before, labels[z])
        if not clicks:
            continue
        refined = refine_slice(frame, z, labels, tuple(clicks), step.boxes)
        if refined.changed_pixels:
            edited = labels.copy()
            edited[z] = refined.labels
            outputs.write_frame(frame, edited)
            edits.append(LabelEdit.between(step.description, frame, labels, edited, z, tuple(clicks), step.boxes))
    if edits:
        outputs.history.record(
            ActionStep(
                f"{step.description} on {len(edits)} other frames",
                lambda: _replay(outputs, edits, update_indices, undoing=True),
                lambda: _replay(outputs, edits, update_indices, undoing=False),
            )
        )
        update_indices()
    return [edit.frame for edit in edits]


def _replay(outputs: SceneOutputs, edits: list[LabelEdit], update_indices: Callable[[], None], undoing: bool) -> None:
    for edit in edits:
        labels = outputs.read_frame(edit.frame)
        outputs.write_frame(edit.frame, (edit.revert(labels) if undoing else edit.reapply(labels))[0])
    update_indices()
