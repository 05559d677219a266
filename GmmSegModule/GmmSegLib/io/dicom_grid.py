"""Whether a DICOM stack's slice positions form an image grid, and which slices do not.

An image grid places slice k at ``origin + k * step * normal``. ITK's series reader assumes that and takes
the distance between the outer slices over their count as the step: a missing slice, uneven steps or a
stack whose positions also step in-plane (a tilted, sheared stack) are then read with slices placed where
they were not acquired, and with a wrong slice spacing, so every volume measured on them is wrong. Here the
positions are checked against the grid first, and a stack that does not fit it is refused on one line that
names the slices and why, rather than resampled by guesswork.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError

PLACEMENT_TOLERANCE_MM = 0.1  # a slice may sit this far from its grid position (well under a pixel of cine MRI)


@dataclass(frozen=True)
class SliceGrid:
    """Where the first slice is and how far apart the slices are along the slice normal (mm)."""

    origin: tuple[float, float, float]
    step: float


def names(files: list[str], limit: int = 3) -> str:
    """File names (without their folder) for a message, at most ``limit`` of them."""
    shown = ", ".join(Path(file).name for file in files[:limit])
    return shown if len(files) <= limit else f"{shown} and {len(files) - limit} more"


def _mm(point: np.ndarray) -> str:
    return "(" + ", ".join(f"{value:.1f}" for value in point) + ") mm"


def slice_grid(folder: Path, positions: np.ndarray, files: list[str], normal: np.ndarray) -> SliceGrid:
    """The grid of a stack whose slice ``positions`` (N, 3), one ``files`` entry each, are sorted along the unit
    ``normal``; ``InputError`` naming the slices that are missing, unevenly spaced or stepping in-plane."""
    if len(positions) < 2:
        return SliceGrid(tuple(float(v) for v in positions[0]), 0.0)
    along = positions @ normal
    _check_steps(folder, positions, along, files)
    _check_in_plane(folder, positions - np.outer(along, normal), along, files)
    return SliceGrid(tuple(float(v) for v in positions[0]), float((along[-1] - along[0]) / (len(along) - 1)))


def _check_steps(folder: Path, positions: np.ndarray, along: np.ndarray, files: list[str]) -> None:
    """Refuse missing slices (a step that is a multiple of the usual one) and uneven steps."""
    steps = np.diff(along)
    usual = float(np.median(steps))
    multiple = np.rint(steps / usual) if usual > PLACEMENT_TOLERANCE_MM else np.ones_like(steps)
    gaps = [
        k
        for k in range(len(steps))
        if multiple[k] >= 2 and abs(steps[k] - multiple[k] * usual) <= PLACEMENT_TOLERANCE_MM * multiple[k]
    ]
    if gaps:
        k = gaps[0]
        expected = positions[k] + (positions[k + 1] - positions[k]) / multiple[k]
        more = f" (and {len(gaps) - 1} more gaps)" if len(gaps) > 1 else ""
        raise InputError(
            f"{folder}: a slice is missing at {_mm(expected)}, between {names([files[k]])} and "
            f"{names([files[k + 1]])}, {steps[k]:.2f} mm apart where the other slices are {usual:.2f} mm"
            f"{more}; a stack read across the gap would place slices where they were not acquired: "
            "add the missing file to the folder"
        )
    grid = along[0] + np.arange(len(along)) * (along[-1] - along[0]) / (len(along) - 1)
    if np.max(np.abs(along - grid)) > PLACEMENT_TOLERANCE_MM:
        k = int(np.argmax(np.abs(steps - usual)))
        raise InputError(
            f"{folder}: the slices are unevenly spaced: {names([files[k]])} and {names([files[k + 1]])} "
            f"are {steps[k]:.2f} mm apart where the others are {usual:.2f} mm; one slice spacing would "
            f"place slices up to {np.max(np.abs(along - grid)):.2f} mm from where they were acquired"
        )


def _check_in_plane(folder: Path, offsets: np.ndarray, along: np.ndarray, files: list[str]) -> None:
    """Refuse a stack whose slices move in-plane from one to the next (an image grid cannot hold a shear)."""
    offsets = offsets - offsets[0]
    stray = np.linalg.norm(offsets, axis=1)
    if stray.max() <= PLACEMENT_TOLERANCE_MM:
        return
    per_slice = offsets[-1] / (len(offsets) - 1)
    linear = np.outer(np.arange(len(offsets)), per_slice)
    remedy = (
        "an image grid cannot hold a sheared stack: resample it perpendicular to its slices (3D Slicer's "
        "DICOM module does so with acquisition geometry regularization) and pass the result as NIfTI"
    )
    if np.max(np.linalg.norm(offsets - linear, axis=1)) <= PLACEMENT_TOLERANCE_MM:
        step = float(np.linalg.norm(per_slice))
        tilt = np.degrees(np.arctan2(step, (along[-1] - along[0]) / (len(along) - 1)))
        raise InputError(
            f"{folder}: the slice positions step {step:.2f} mm in-plane per slice ({tilt:.1f} degrees "
            f"off the slice normal, {stray.max():.1f} mm from {names([files[0]])} to "
            f"{names([files[-1]])}): a tilted stack; {remedy}"
        )
    k = int(np.argmax(stray))
    raise InputError(
        f"{folder}: {names([files[k]])} lies {stray[k]:.2f} mm in-plane off the slice normal through "
        f"{names([files[0]])}: the slices are not stacked along their normal; {remedy}"
    )
