"""Whether two images' arrays sample the same points in space, and one array taken onto the other's grid.

The same grid may be stored in another axis order or direction (a file written mirrored or transposed by another
tool); its voxels are then the same points, reordered. Any other difference (moved, other voxel sizes, turned)
means that voxel i of one is not voxel i of the other, and comparing them voxel by voxel would compare different
places in the body.
"""

from __future__ import annotations

import numpy as np

from .images import Geometry

IDENTITY_AXES = (1, 2, 3)


def _spatial(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y, z) part of a grid: index-to-physical matrix (direction times spacing) and origin."""
    size = geometry.dimension
    direction = np.reshape(geometry.direction, (size, size))[:3, :3]
    return direction @ np.diag(geometry.spacing[:3]), np.asarray(geometry.origin[:3], dtype=float)


def grid_difference(
    shape: tuple[int, ...], grid: Geometry, reference_shape: tuple[int, ...], reference_grid: Geometry
) -> tuple[np.ndarray | None, str]:
    """The reference's voxel axes (x, y, z) as signed axes (+-1 .. +-3) of an array of ``shape`` on ``grid``, when
    both sample the same points in space (another storage order or direction: a mirrored or transposed file);
    else None and how the grids differ, in words. Shapes are (T,) Z, Y, X."""
    reference_matrix, reference_origin = _spatial(reference_grid)
    matrix, origin = _spatial(grid)
    steps = np.linalg.solve(matrix, reference_matrix)  # the reference's index steps in this grid's index steps
    signed = np.round(steps)
    if np.abs(steps - signed).max() * max(reference_shape[-3:]) > 0.05 or not np.array_equal(
        np.abs(signed) @ np.abs(signed).T, np.eye(3)
    ):
        sizes = [" x ".join(f"{v:g}" for v in sorted(g.spacing[:3])) for g in (grid, reference_grid)]
        if sizes[0] != sizes[1]:
            return None, f"voxels of {sizes[0]} mm against {sizes[1]} mm"
        return None, "axes turned by other than quarter turns"
    reference_size = np.array(reference_shape[::-1][:3])
    if shape[:-3] != reference_shape[:-3] or not np.array_equal(np.abs(signed) @ reference_size, shape[::-1][:3]):
        return None, f"shape {tuple(shape)} against {tuple(reference_shape)}"
    centres = [
        m @ (np.array(s[::-1][:3]) - 1) / 2 + o
        for m, o, s in ((matrix, origin, shape), (reference_matrix, reference_origin, reference_shape))
    ]
    shift = float(np.linalg.norm(centres[0] - centres[1]))
    if shift > 0.05 * min(grid.spacing[:3]):
        return None, f"field of view {shift:.1f} mm away"
    rows = np.argmax(np.abs(signed), axis=0)
    return (rows + 1) * signed[rows, np.arange(3)].astype(int), ""


def on_reference_grid(array: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``array`` reordered onto the reference's voxels (``axes`` from :func:`grid_difference`)."""
    lead = array.ndim - 3
    # array axis of index axis a is lead + 2 - a; the reference's array axes (z, y, x) are its index axes 2, 1, 0
    source = [lead + 2 - (abs(int(axes[axis])) - 1) for axis in (2, 1, 0)]
    moved = np.transpose(array, list(range(lead)) + source)
    flipped = [lead + position for position, axis in enumerate((2, 1, 0)) if axes[axis] < 0]
    return np.flip(moved, flipped) if flipped else moved


def pair_grid_problem(
    labels_shape: tuple[int, ...], labels_grid: Geometry, image_shape: tuple[int, ...], image_grid: Geometry
) -> str | None:
    """How a label map's grid differs from its image's, or None when its voxels are the image's, in the same
    order (as a trainer indexes them)."""
    axes, difference = grid_difference(labels_shape, labels_grid, image_shape, image_grid)
    if axes is None:
        return difference
    if tuple(axes) != IDENTITY_AXES:
        return "the same voxels stored in another axis order or direction"
    return None
