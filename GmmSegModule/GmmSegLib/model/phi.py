"""phi as a transform in patient space, so that a clinician can move the prior in Slicer's slice views.

phi moves the atlas in the canonical frame (mm about the crop centre): x -> s R(r) x + t. The canonical
frame itself is an in-plane similarity of the native slices (:class:`~GmmSegLib.model.alignment.CanonicalFrame`),
and the native voxel grid sits in patient space through the volume's IJK-to-RAS matrix. Chaining them
gives the 4 x 4 RAS matrix of a change of phi, which is what a linear transform node holds:

- :func:`ras_transform_for_phi` gives the RAS transform that moves the prior registered with
  ``phi_reference`` to where ``phi`` would put it (identity when they are equal);
- :func:`phi_from_ras_transform` is its inverse: the phi the user's edited transform asks for.

The prior only moves within the slice plane; a transform that tilts it out of the plane is refused.
Pure numpy: runs in the widget, the logic and the tests alike.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import GmmSegError
from .canonical_frame import CanonicalFrame

PLANE_TOLERANCE = 1e-3


def phi_from_parameters(scale: float, tx_mm: float, ty_mm: float, rotation_deg: float) -> np.ndarray:
    """phi (log scale, tx, ty, rotation rad) from the values a person sets; refuses impossible ones."""
    values = (scale, tx_mm, ty_mm, rotation_deg)
    if not all(math.isfinite(v) for v in values):
        raise GmmSegError("phi values must be finite numbers")
    if scale <= 0:
        raise GmmSegError(f"prior scale must be positive, got {scale:g}")
    return np.array([math.log(scale), tx_mm, ty_mm, math.radians(rotation_deg)], np.float32)


def phi_matrix(phi: np.ndarray) -> np.ndarray:
    """The 3 x 3 homogeneous similarity x -> s R x + t of phi (log s, tx, ty, rotation) in canonical mm."""
    log_scale, tx, ty, rotation = (float(v) for v in phi)
    scale, cos, sin = math.exp(log_scale), math.cos(rotation), math.sin(rotation)
    return np.array([[scale * cos, -scale * sin, tx], [scale * sin, scale * cos, ty], [0.0, 0.0, 1.0]])


def phi_of_matrix(matrix: np.ndarray) -> np.ndarray:
    """phi of a 3 x 3 similarity; refuses shears, reflections and unequal scales."""
    linear = matrix[:2, :2]
    determinant = float(np.linalg.det(linear))
    if determinant <= 0:
        raise GmmSegError("the prior transform mirrors or collapses the prior; only scale, shift and rotation "
                          "are allowed")
    scale = math.sqrt(determinant)
    rotation_part = linear / scale
    if not np.allclose(rotation_part @ rotation_part.T, np.eye(2), atol=1e-3):
        raise GmmSegError("the prior transform shears or stretches the prior; only a uniform scale, a shift and "
                          "a rotation are allowed")
    rotation = math.atan2(rotation_part[1, 0], rotation_part[0, 0])
    return np.array([math.log(scale), matrix[0, 2], matrix[1, 2], rotation], np.float32)


def canonical_to_ras(frame: CanonicalFrame, ijk_to_ras: np.ndarray) -> np.ndarray:
    """4 x 4 matrix from (canonical mm x, canonical mm y, slice index k) to RAS."""
    to_native = np.eye(4)
    to_native[:2, :2] = frame.linear() / np.array([[frame.spacing_x], [frame.spacing_y]])
    to_native[:2, 3] = frame.centre_x, frame.centre_y
    return np.asarray(ijk_to_ras, np.float64) @ to_native


def _in_plane(matrix3: np.ndarray) -> np.ndarray:
    """Embed a 2D homogeneous matrix into (x, y, k) homogeneous coordinates, k untouched."""
    embedded = np.eye(4)
    embedded[:2, :2] = matrix3[:2, :2]
    embedded[:2, 3] = matrix3[:2, 2]
    return embedded


def ras_transform_for_phi(phi: np.ndarray, phi_reference: np.ndarray, frame: CanonicalFrame,
                          ijk_to_ras: np.ndarray) -> np.ndarray:
    """RAS 4 x 4 matrix moving the prior registered by ``phi_reference`` to where ``phi`` puts it."""
    change = phi_matrix(phi) @ np.linalg.inv(phi_matrix(phi_reference))
    to_ras = canonical_to_ras(frame, ijk_to_ras)
    return to_ras @ _in_plane(change) @ np.linalg.inv(to_ras)


def phi_from_ras_transform(ras_matrix: np.ndarray, phi_reference: np.ndarray, frame: CanonicalFrame,
                           ijk_to_ras: np.ndarray) -> np.ndarray:
    """The phi that the RAS transform ``ras_matrix`` (applied to the prior of ``phi_reference``) asks for."""
    ras_matrix = np.asarray(ras_matrix, np.float64)
    if ras_matrix.shape != (4, 4) or not np.all(np.isfinite(ras_matrix)):
        raise GmmSegError("the prior transform must be a finite 4 x 4 matrix")
    to_ras = canonical_to_ras(frame, ijk_to_ras)
    change = np.linalg.inv(to_ras) @ ras_matrix @ to_ras
    # the slice index row must stay (0, 0, 1, 0) and x, y (mm) must not depend on the slice index
    out_of_plane = max(np.abs(change[2] - np.array([0.0, 0.0, 1.0, 0.0])).max(), np.abs(change[:2, 2]).max())
    if out_of_plane > PLANE_TOLERANCE:
        raise GmmSegError("the prior transform tilts or moves the prior across slices; the prior moves only "
                          "within the short-axis plane")
    change3 = np.array([[change[0, 0], change[0, 1], change[0, 3]],
                        [change[1, 0], change[1, 1], change[1, 3]],
                        [0.0, 0.0, 1.0]])
    return phi_of_matrix(change3 @ phi_matrix(phi_reference))
