"""A clinician's click on a slice: where, which structure, and whether it is there or not.

Plain data without torch, so that the Slicer module keeps its clicks (for undo, and for the slice's next refinement)
before PyTorch is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .labels import STRUCTURES

CLICK_KINDS = len(STRUCTURES) * 2  # foreground LV, MYO, RV, then background LV, MYO, RV


@dataclass(frozen=True)
class Click:
    """A click at (x, y), in pixels of the grid it is given on: ``structure`` is there (``foreground``) or is not."""

    x: float
    y: float
    structure: str
    foreground: bool

    @property
    def channel(self) -> int:
        return list(STRUCTURES).index(self.structure) + (0 if self.foreground else len(STRUCTURES))
