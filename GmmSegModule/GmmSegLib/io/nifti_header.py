"""The fields of a NIfTI-1 or NIfTI-2 header that decide where its voxels are and whether they are all there.

Read with ``struct`` from the first bytes of a (decompressed) ``.nii`` file, in either byte order. Field
offsets follow the NIfTI-1 standard (nifti1.h, NIfTI Data Format Working Group, 2004) and its NIfTI-2
successor (nifti2.h, 2011). The transforms are in NIfTI's own world coordinates (RAS+); ``qform`` is built
from the quaternion as the standard defines it (nifti1.h, "Method 2").
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

NIFTI1_HEADER_BYTES = 348
NIFTI2_HEADER_BYTES = 540
XFORM_UNKNOWN = 0
# NIfTI datatype codes of real floating-point voxels, which can hold NaN or infinity
FLOAT_DATATYPES = {16: "f4", 64: "f8"}
# every NIfTI datatype code (nifti1.h DT_*) and its bits per voxel
DATATYPE_BITS = {
    2: 8,
    4: 16,
    8: 32,
    16: 32,
    32: 64,
    64: 64,
    128: 24,
    256: 8,
    512: 16,
    768: 32,
    1024: 64,
    1280: 64,
    1536: 128,
    1792: 128,
    2048: 256,
    2304: 32,
}

# (field, NIfTI-1 offset, NIfTI-1 format, NIfTI-2 offset, NIfTI-2 format); formats without the byte order
_FIELDS = (
    ("dim", 40, "8h", 16, "8q"),
    ("datatype", 70, "h", 12, "h"),
    ("bitpix", 72, "h", 14, "h"),
    ("pixdim", 76, "8f", 104, "8d"),
    ("vox_offset", 108, "f", 168, "q"),
    ("qform_code", 252, "h", 344, "i"),
    ("sform_code", 254, "h", 348, "i"),
    ("quatern", 256, "6f", 352, "6d"),  # quatern_b, c, d, qoffset_x, y, z
    ("srow", 280, "12f", 400, "12d"),  # srow_x, srow_y, srow_z
    ("xyzt_units", 123, "B", 500, "i"),
)
# what ITK multiplies lengths by for each spatial unit code (itkNiftiImageIO.cxx: spacingscale); others: 1
UNIT_TO_MM = {1: 1000.0, 2: 1.0, 3: 0.001}


@dataclass(frozen=True)
class NiftiHeader:
    """What the header says; numbers as stored, nothing checked yet."""

    dim: tuple[int, ...]
    datatype: int
    bitpix: int
    pixdim: tuple[float, ...]
    vox_offset: float
    qform_code: int
    sform_code: int
    quatern: tuple[float, ...]
    srow: tuple[float, ...]
    xyzt_units: int
    byte_order: str
    version: int

    @classmethod
    def parse(cls, data: bytes) -> NiftiHeader | None:
        """The header at the start of ``data``, or None when it is no NIfTI header (ITK then decides)."""
        if len(data) < 4:
            return None
        for order in "<>":
            (size,) = struct.unpack(order + "i", data[:4])
            if size in (NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES) and len(data) >= size:
                version = 1 if size == NIFTI1_HEADER_BYTES else 2
                values = {}
                for name, offset1, format1, offset2, format2 in _FIELDS:
                    offset, fmt = (offset1, format1) if version == 1 else (offset2, format2)
                    unpacked = struct.unpack_from(order + fmt, data, offset)
                    values[name] = unpacked if len(unpacked) > 1 else unpacked[0]
                return cls(byte_order=order, version=version, **values)
        return None

    @property
    def header_bytes(self) -> int:
        """The header's own size: 352 (348 and the 4-byte extension flag) for NIfTI-1, 544 for NIfTI-2."""
        return (NIFTI1_HEADER_BYTES if self.version == 1 else NIFTI2_HEADER_BYTES) + 4

    @property
    def rank(self) -> int:
        return int(self.dim[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each axis (x first), or () when the dimensions are not valid."""
        if not 1 <= self.rank <= 7 or any(d < 1 for d in self.dim[1 : self.rank + 1]):
            return ()
        return tuple(int(d) for d in self.dim[1 : self.rank + 1])

    def voxel_range(self) -> tuple[int, int] | None:
        """Where the voxels lie in the (decompressed) file: (first byte, one past the last), or None. The voxel size
        is the datatype's, as the NIfTI library reads it (it ignores ``bitpix``)."""
        bits = DATATYPE_BITS.get(self.datatype)
        if not self.shape or bits is None or not math.isfinite(self.vox_offset) or self.vox_offset < 0:
            return None
        return int(self.vox_offset), int(self.vox_offset) + math.prod(self.shape) * bits // 8

    @property
    def float_dtype(self) -> np.dtype | None:
        return np.dtype(self.byte_order + FLOAT_DATATYPES[self.datatype]) if self.datatype in FLOAT_DATATYPES else None

    @property
    def spatial_pixdim(self) -> tuple[float, ...]:
        """The voxel size (mm) along the spatial axes the image has (up to three)."""
        return tuple(float(v) for v in self.pixdim[1 : 1 + min(3, max(self.rank, 0))])

    @property
    def mm_per_unit(self) -> float:
        """How many mm one of the header's length units is (the spatial bits of xyzt_units)."""
        return UNIT_TO_MM.get(int(self.xyzt_units) & 0x07, 1.0)

    def sform(self) -> np.ndarray:
        """The 4 x 4 sform (voxel index to world mm)."""
        matrix = np.eye(4)
        matrix[:3] = np.reshape(np.array(self.srow, float), (3, 4))
        return matrix

    def qform(self) -> np.ndarray:
        """The 4 x 4 qform from the quaternion, pixdim and qfac (nifti1.h "Method 2"; a quaternion longer than 1
        is normalised, as nifti1_io.c's nifti_quatern_to_mat44 does)."""
        b, c, d, x, y, z = (float(v) for v in self.quatern)
        a = 1.0 - (b * b + c * c + d * d)
        if a < 1e-7:
            norm = math.sqrt(b * b + c * c + d * d) or 1.0
            b, c, d, a = b / norm, c / norm, d / norm, 0.0
        else:
            a = math.sqrt(a)
        rotation = np.array(
            [
                [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
            ]
        )
        qfac = -1.0 if self.pixdim[0] < 0 else 1.0
        spacing = np.array([abs(float(v)) for v in self.pixdim[1:4]]) * np.array([1.0, 1.0, qfac])
        matrix = np.eye(4)
        matrix[:3, :3] = rotation * spacing
        matrix[:3, 3] = (x, y, z)
        return matrix
