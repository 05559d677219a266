"""Plausibility checks that turn unusable inputs into one-line errors before any work is done.

Short-axis cine MRI has in-plane pixels of roughly 0.5-3 mm, slices of 2-20 mm and a few to a few
dozen slices; anything far outside (a CT volume, a 2D screenshot, a label map, a file full of NaNs)
is refused with a message saying why, instead of producing a meaningless segmentation.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from .images import CardiacImage

IN_PLANE_SPACING_MM = (0.3, 4.0)
SLICE_SPACING_MM = (1.0, 30.0)
MAX_SLICES = 40
IN_PLANE_SIZE = (32, 1024)
MAX_FRAMES = 100
MAX_VOXELS = 200_000_000
# A slice whose robust intensity spread (between these percentiles of its own voxels, all frames) is at most
# this share of the largest slice's spread holds no image: converters write such zero-filled or constant slices
# for positions missing from a series, and wide stacks have them. Percentiles, not the range: one hot voxel
# (a scanner or converter glitch at 1e6) would otherwise make every real slice look flat beside it.
BLANK_PERCENTILES = (1.0, 99.0)
BLANK_SPREAD_FRACTION = 1e-3
BLANK_SAMPLE = 100_000  # voxels per slice the percentiles are taken from


def check_short_axis(image: CardiacImage, require_3d: bool = False) -> np.ndarray:
    """Raise ``InputError`` unless ``image`` looks like a short-axis cardiac MR stack or cine.

    Returns which slices are blank (:func:`blank_slices`), found on the way, for the caller to leave out.
    """
    name = image.source
    frames, slices, rows, columns = image.frames.shape
    if require_3d and image.is_cine:
        raise InputError(f"{name}: is a 4D cine ({frames} frames); a single 3D phase is required here")
    if image.frames.size == 0:
        raise InputError(f"{name}: the image is empty")
    if image.frames.size > MAX_VOXELS:
        raise InputError(
            f"{name}: {image.frames.size:,} voxels is too large for a cardiac cine "
            f"(limit {MAX_VOXELS:,}); crop or split it first"
        )
    if frames > MAX_FRAMES:
        raise InputError(f"{name}: {frames} frames is more than a cine has (limit {MAX_FRAMES})")
    if not (IN_PLANE_SIZE[0] <= rows <= IN_PLANE_SIZE[1] and IN_PLANE_SIZE[0] <= columns <= IN_PLANE_SIZE[1]):
        raise InputError(
            f"{name}: slices of {columns}x{rows} pixels are not a short-axis MR image "
            f"(expected {IN_PLANE_SIZE[0]}..{IN_PLANE_SIZE[1]} per side)"
        )
    if slices > MAX_SLICES:
        raise InputError(
            f"{name}: {slices} slices is not a short-axis stack (at most {MAX_SLICES}); "
            "is this a 3D volume of another kind, or a cine stored as slices?"
        )
    sx, sy, sz = image.spacing_xyz
    for label, value, (low, high) in (
        ("column", sx, IN_PLANE_SPACING_MM),
        ("row", sy, IN_PLANE_SPACING_MM),
        ("slice", sz, SLICE_SPACING_MM),
    ):
        if not (low <= value <= high):
            raise InputError(
                f"{name}: implausible {label} spacing {value:g} mm for short-axis MRI (expected {low:g}..{high:g} mm)"
            )
    if abs(sx - sy) > 0.25 * max(sx, sy):
        raise InputError(
            f"{name}: in-plane pixels are not square ({sx:g} x {sy:g} mm); is the stack stored in another orientation?"
        )
    if not np.all(np.isfinite(image.frames)):
        raise InputError(f"{name}: contains NaN or infinite values (or values beyond the 32-bit float range)")
    for frame_index, frame in enumerate(image.frames):
        if float(frame.max()) == float(frame.min()):
            raise InputError(
                f"{name}: frame {frame_index} is constant ({float(frame.min()):g}); there is no image to segment"
            )
    blank = blank_slices(image.frames)
    if blank.all():
        raise InputError(
            f"{name}: every slice is constant (or holds only a few stray voxels); there is no image to segment"
        )
    values = np.unique(image.frames[0, :, ::4, ::4])
    if values.size <= 5 and np.all(values == np.round(values)):
        raise InputError(
            f"{name}: has only {values.size} distinct values; this looks like a label map, not an MR image"
        )
    return blank


def blank_slices(frames: np.ndarray) -> np.ndarray:
    """Which slices of a stack or cine (T, Z, Y, X) hold no image in any frame, as a boolean (Z,).

    Each slice is judged by its own robust spread (``BLANK_PERCENTILES`` over its voxels of every frame) against
    the largest slice's, so that a few outlying voxels neither make a blank slice look like an image nor the
    real slices look flat. The networks would draw a heart into such a slice (its normalised crop is flat),
    so they are left out of localisation and segmentation and labelled background.
    """
    count, slices, rows, columns = frames.shape
    step = max(1, int(np.sqrt(count * rows * columns / BLANK_SAMPLE)))
    sample = np.moveaxis(frames[:, :, ::step, ::step], 1, 0).reshape(slices, -1)
    low, high = np.percentile(sample, BLANK_PERCENTILES, axis=1)
    spread = high - low
    return spread <= BLANK_SPREAD_FRACTION * float(spread.max())
