"""A clinician's prompts on a slice: clicks (where, which structure, whether it is there or not), scribbles (a
stroke of clicks of one kind) and boxes (the structure lies inside).

Plain data without torch, so that the Slicer module keeps its prompts (for undo, and for the slice's next refinement)
before PyTorch is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .labels import STRUCTURES

CLICK_KINDS = len(STRUCTURES) * 2  # foreground LV, MYO, RV, then background LV, MYO, RV


@dataclass(frozen=True)
class Click:
    """A click at (x, y), in pixels of the grid it is given on: ``structure`` is there (``foreground``) or is not.
    ``stroke``: a point of a scribble, which marks only where it is drawn (a click also speaks for its surroundings)."""

    x: float
    y: float
    structure: str
    foreground: bool
    stroke: bool = False

    @property
    def channel(self) -> int:
        return list(STRUCTURES).index(self.structure) + (0 if self.foreground else len(STRUCTURES))


@dataclass(frozen=True)
class Box:
    """A box (x0, y0, x1, y1, inclusive, in pixels of the grid it is given on) that holds all of ``structure``."""

    x0: float
    y0: float
    x1: float
    y1: float
    structure: str

    @property
    def channel(self) -> int:
        return list(STRUCTURES).index(self.structure)


def scribble(points: list[tuple[float, float]], structure: str, foreground: bool, step_px: float = 3.0) -> list[Click]:
    """A stroke through ``points`` (x, y) as clicks of one kind every ``step_px`` pixels along it."""
    path = np.asarray(points, float).reshape(-1, 2)
    if len(path) == 1:
        return [Click(float(path[0, 0]), float(path[0, 1]), structure, foreground, stroke=True)]
    lengths = np.linalg.norm(np.diff(path, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    at = np.linspace(0.0, along[-1], max(2, int(np.ceil(along[-1] / step_px)) + 1))
    xs, ys = np.interp(at, along, path[:, 0]), np.interp(at, along, path[:, 1])
    return [Click(float(x), float(y), structure, foreground, stroke=True) for x, y in zip(xs, ys, strict=True)]
