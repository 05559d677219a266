"""phi, the atlas prior's placement, as one value type and as a transform in patient space.

:class:`Phi` is what the registration net gives, the JSON records, ``gmmseg segment --phi`` takes, the Slicer
module's sliders set and its prior transform holds: a uniform scale, an in-plane shift (mm) and a rotation.

phi moves the atlas in the canonical crop (mm about the crop centre): x -> s R(r) x + t. The canonical
crop itself is an in-plane similarity of the native slices (:class:`~GmmSegLib.model.canonical_crop.CanonicalCrop`),
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
from dataclasses import dataclass

import numpy as np

from ..core.errors import GmmSegError
from .canonical_crop import CanonicalCrop

PLANE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Phi:
    """x -> s R(r) x + t in canonical mm: ``log_scale`` (log s), ``tx_mm``, ``ty_mm`` and ``rotation_rad`` (r)."""

    log_scale: float = 0.0
    tx_mm: float = 0.0
    ty_mm: float = 0.0
    rotation_rad: float = 0.0

    @classmethod
    def from_parameters(cls, scale: float, tx_mm: float, ty_mm: float, rotation_deg: float) -> Phi:
        """From the values a person sets (a scale, not its log; degrees); refuses impossible ones."""
        values = (scale, tx_mm, ty_mm, rotation_deg)
        if not all(math.isfinite(v) for v in values):
            raise GmmSegError("phi values must be finite numbers")
        if scale <= 0:
            raise GmmSegError(f"prior scale must be positive, got {scale:g}")
        return cls.from_array(np.array([math.log(scale), tx_mm, ty_mm, math.radians(rotation_deg)], np.float32))

    @classmethod
    def parse(cls, text: str) -> Phi:
        """``SCALE,TX_MM,TY_MM,ROTATION_DEG`` as ``gmmseg segment --phi`` takes it (:meth:`argument`)."""
        try:
            scale, tx, ty, rotation = (float(v) for v in text.split(","))
        except ValueError:
            raise GmmSegError(f"--phi {text!r}: give four numbers SCALE,TX_MM,TY_MM,ROTATION_DEG") from None
        return cls.from_parameters(scale, tx, ty, rotation)

    @classmethod
    def from_array(cls, values) -> Phi:
        """From (log scale, tx, ty, rotation rad), as the networks give it."""
        return cls(*(float(v) for v in values))

    @classmethod
    def from_record(cls, record: dict) -> Phi:
        """From the JSON record of :meth:`record`."""
        return cls.from_array(
            np.array([record["log_scale"], record["tx_mm"], record["ty_mm"], record["rotation_rad"]], np.float32)
        )

    @property
    def scale(self) -> float:
        return math.exp(self.log_scale)

    @property
    def rotation_deg(self) -> float:
        return math.degrees(self.rotation_rad)

    def array(self) -> np.ndarray:
        """phi as the networks take and give it: (log scale, tx mm, ty mm, rotation rad), float32. The one place
        this layout is spelled; everything above the networks keeps a :class:`Phi`."""
        return np.array([self.log_scale, self.tx_mm, self.ty_mm, self.rotation_rad], np.float32)

    def record(self) -> dict[str, float]:
        """As a person reads it: scale, shift in mm, rotation in degrees (and the raw log scale and radians)."""
        return {
            "scale": self.scale,
            "tx_mm": self.tx_mm,
            "ty_mm": self.ty_mm,
            "rotation_deg": self.rotation_deg,
            "log_scale": self.log_scale,
            "rotation_rad": self.rotation_rad,
        }

    def argument(self) -> str:
        """The value of ``gmmseg segment --phi`` that asks for this phi."""
        return f"{self.scale:.6f},{self.tx_mm:.4f},{self.ty_mm:.4f},{self.rotation_deg:.4f}"

    def matrix(self) -> np.ndarray:
        """The 3 x 3 homogeneous similarity x -> s R x + t in canonical mm."""
        cos, sin = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        scale = self.scale
        return np.array(
            [[scale * cos, -scale * sin, self.tx_mm], [scale * sin, scale * cos, self.ty_mm], [0.0, 0.0, 1.0]]
        )

    @classmethod
    def of_matrix(cls, matrix: np.ndarray) -> Phi:
        """The phi of a 3 x 3 similarity; refuses shears, reflections and unequal scales."""
        linear = matrix[:2, :2]
        determinant = float(np.linalg.det(linear))
        if determinant <= 0:
            raise GmmSegError(
                "the prior transform mirrors or collapses the prior; only scale, shift and rotation are allowed"
            )
        scale = math.sqrt(determinant)
        rotation_part = linear / scale
        if not np.allclose(rotation_part @ rotation_part.T, np.eye(2), atol=1e-3):
            raise GmmSegError(
                "the prior transform shears or stretches the prior; only a uniform scale, a shift "
                "and a rotation are allowed"
            )
        rotation = math.atan2(rotation_part[1, 0], rotation_part[0, 0])
        return cls.from_array(np.array([math.log(scale), matrix[0, 2], matrix[1, 2], rotation], np.float32))


def canonical_to_ras(crop: CanonicalCrop, ijk_to_ras: np.ndarray) -> np.ndarray:
    """4 x 4 matrix from (canonical mm x, canonical mm y, slice index k) to RAS."""
    to_native = np.eye(4)
    to_native[:2, :2] = crop.linear() / np.array([[crop.spacing_x], [crop.spacing_y]])
    to_native[:2, 3] = crop.centre_x, crop.centre_y
    return np.asarray(ijk_to_ras, np.float64) @ to_native


def _in_plane(matrix3: np.ndarray) -> np.ndarray:
    """Embed a 2D homogeneous matrix into (x, y, k) homogeneous coordinates, k untouched."""
    embedded = np.eye(4)
    embedded[:2, :2] = matrix3[:2, :2]
    embedded[:2, 3] = matrix3[:2, 2]
    return embedded


def ras_transform_for_phi(phi: Phi, phi_reference: Phi, crop: CanonicalCrop, ijk_to_ras: np.ndarray) -> np.ndarray:
    """RAS 4 x 4 matrix moving the prior registered by ``phi_reference`` to where ``phi`` puts it."""
    change = phi.matrix() @ np.linalg.inv(phi_reference.matrix())
    to_ras = canonical_to_ras(crop, ijk_to_ras)
    return to_ras @ _in_plane(change) @ np.linalg.inv(to_ras)


def phi_from_ras_transform(
    ras_matrix: np.ndarray, phi_reference: Phi, crop: CanonicalCrop, ijk_to_ras: np.ndarray
) -> Phi:
    """The phi that the RAS transform ``ras_matrix`` (applied to the prior of ``phi_reference``) asks for."""
    ras_matrix = np.asarray(ras_matrix, np.float64)
    if ras_matrix.shape != (4, 4) or not np.all(np.isfinite(ras_matrix)):
        raise GmmSegError("the prior transform must be a finite 4 x 4 matrix")
    to_ras = canonical_to_ras(crop, ijk_to_ras)
    change = np.linalg.inv(to_ras) @ ras_matrix @ to_ras
    # the slice index row must stay (0, 0, 1, 0) and x, y (mm) must not depend on the slice index
    out_of_plane = max(np.abs(change[2] - np.array([0.0, 0.0, 1.0, 0.0])).max(), np.abs(change[:2, 2]).max())
    if out_of_plane > PLANE_TOLERANCE:
        raise GmmSegError(
            "the prior transform tilts or moves the prior across slices; the prior moves only "
            "within the short-axis plane"
        )
    change3 = np.array(
        [[change[0, 0], change[0, 1], change[0, 3]], [change[1, 0], change[1, 1], change[1, 3]], [0.0, 0.0, 1.0]]
    )
    return Phi.of_matrix(change3 @ phi_reference.matrix())
