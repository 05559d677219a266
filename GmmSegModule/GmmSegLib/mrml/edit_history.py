"""Undo and redo of the module's own edits (click refinement, Accept), several levels deep.

Slicer's scene-wide undo is off by default (``vtkMRMLScene`` UndoFlag, and the developer guide's MRML
overview: "By default, undo/redo is disabled"), and the Segment Editor keeps a history of its own, so the
module keeps this one. A label edit is stored as the voxels it changed, with their values before and after;
undoing puts back the old value only where a voxel still holds the edit's value, so that an edit made in the
Segment Editor in between is kept rather than overwritten. Steps that are not label edits (Accept) carry
their own undo and redo actions. No MRML here: the caller reads and writes the labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.clicks import Box, Click

Labels = np.ndarray  # (Z, Y, X) uint8 labels of one time frame


@dataclass
class LabelEdit:
    """The voxels of one frame that an edit changed (flat indices), with their values before and after; a click
    refinement also keeps its slice and prompts (clicks, boxes), which the slice's next refinement sees again."""

    description: str
    frame: int
    voxels: np.ndarray
    before: np.ndarray
    after: np.ndarray
    slice: int | None = None
    clicks: tuple[Click, ...] = ()
    boxes: tuple[Box, ...] = ()

    @classmethod
    def between(
        cls,
        description: str,
        frame: int,
        old: Labels,
        new: Labels,
        slice_index: int | None = None,
        clicks: tuple[Click, ...] = (),
        boxes: tuple[Box, ...] = (),
    ) -> LabelEdit:
        changed = np.flatnonzero(old.ravel() != new.ravel())
        return cls(
            description,
            frame,
            changed,
            old.ravel()[changed].copy(),
            new.ravel()[changed].copy(),
            slice_index,
            clicks,
            boxes,
        )

    def revert(self, labels: Labels) -> tuple[Labels, int]:
        """``labels`` with the edit undone where it still stands, and how many voxels that restored."""
        return _replace(labels, self.voxels, self.after, self.before)

    def reapply(self, labels: Labels) -> tuple[Labels, int]:
        return _replace(labels, self.voxels, self.before, self.after)


@dataclass
class ActionStep:
    """A step that is not a single label edit: what undoes it and what does it again."""

    description: str
    undo: Callable[[], None]
    redo: Callable[[], None]


Step = LabelEdit | ActionStep


class EditHistory:
    """A linear undo/redo history: a new step after some undos drops the steps that were undone."""

    def __init__(self, depth: int = 50):
        self.depth = depth
        self._done: list[Step] = []
        self._undone: list[Step] = []

    def record(self, step: Step) -> None:
        self._done.append(step)
        del self._done[: -self.depth]
        self._undone.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def prompts_on(self, frame: int, slice_index: int) -> tuple[list[Click], list[Box]]:
        """The clicks and boxes of the refinements of this slice that stand (not undone), oldest first."""
        steps = [
            step
            for step in self._done
            if isinstance(step, LabelEdit) and step.frame == frame and step.slice == slice_index
        ]
        return [c for step in steps for c in step.clicks], [b for step in steps for b in step.boxes]

    def next_undo(self) -> Step | None:
        return self._done[-1] if self._done else None

    def next_redo(self) -> Step | None:
        return self._undone[-1] if self._undone else None

    def mark_undone(self) -> Step:
        step = self._done.pop()
        self._undone.append(step)
        return step

    def mark_redone(self) -> Step:
        step = self._undone.pop()
        self._done.append(step)
        return step

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()


def _replace(labels: Labels, voxels: np.ndarray, expected: np.ndarray, replacement: np.ndarray) -> tuple[Labels, int]:
    result = labels.copy()
    flat = result.reshape(-1)
    still = flat[voxels] == expected
    flat[voxels[still]] = replacement[still]
    return result, int(still.sum())
