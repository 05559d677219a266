"""The canonical crop of a short-axis volume: the in-plane transform between native slices and the crop.

A :class:`CanonicalCrop` records where the network's 128 x 128 crop of 1.5 mm pixels lies in a volume's
native slices (LV centre in native pixels, rotation, mirroring, native pixel size). Plain numbers and numpy,
no torch: the Slicer module places the prior transform with it without loading the model (resampling with it
is :mod:`GmmSegLib.model.alignment`).

Coordinates: native pixel (x = column, y = row); canonical pixel (u, v). With p the canonical offset
from the crop centre in mm, R the rotation by ``angle`` and M = diag(1, -1) if ``mirrored`` (else the identity),
the native position is centre + R M p / spacing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

CANONICAL_SIZE = 128
CANONICAL_SPACING_MM = 1.5


@dataclass(frozen=True)
class CanonicalCrop:
    """In-plane transform from a volume's native slices to the canonical crop."""

    centre_x: float
    centre_y: float
    angle: float  # radians; canonical -x axis maps to the LV->RV direction
    spacing_x: float  # native pixel size in mm
    spacing_y: float
    native_rows: int
    native_columns: int
    size: int = CANONICAL_SIZE
    spacing: float = CANONICAL_SPACING_MM
    mirrored: bool = False  # canonical v runs against the native handedness (a mirrored stack)

    def to_dict(self) -> dict:
        return asdict(self)

    def linear(self) -> np.ndarray:
        """R M: the 2 x 2 map from a canonical offset in mm to a native offset in mm."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.array([[c, -s], [s, c]]) @ np.diag([1.0, -1.0 if self.mirrored else 1.0])

    def canonical_to_native_points(self, uv: np.ndarray) -> np.ndarray:
        """Map canonical pixel coordinates (..., 2) as (u, v) to native (x, y) pixel coordinates."""
        half = (self.size - 1) / 2.0
        offset_mm = (np.asarray(uv, dtype=np.float64) - half) * self.spacing
        rotated = offset_mm @ self.linear().T
        return np.stack(
            [self.centre_x + rotated[..., 0] / self.spacing_x, self.centre_y + rotated[..., 1] / self.spacing_y],
            axis=-1,
        )

    def native_to_canonical_points(self, xy: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`canonical_to_native_points`."""
        xy = np.asarray(xy, dtype=np.float64)
        offset_mm = np.stack(
            [(xy[..., 0] - self.centre_x) * self.spacing_x, (xy[..., 1] - self.centre_y) * self.spacing_y], axis=-1
        )
        unrotated = offset_mm @ self.linear()  # R M is orthogonal: its inverse is its transpose
        return unrotated / self.spacing + (self.size - 1) / 2.0
