"""Refusing NIfTI files that ITK would read wrongly without a word: cut short, damaged, or holding NaNs.

ITK's NIfTI reader does not fail on a ``.nii`` or ``.nii.gz`` file that was cut short (an interrupted copy,
download or export): it returns the image with the missing voxels as zeros or leftovers, and the last slices
of the stack would be segmented as empty or as noise. The NRRD, MetaImage and DICOM readers refuse such files
themselves. A gzip stream is read to its end once, which also checks its CRC and length, so a byte damaged
inside the file is caught too; this takes about as long as ITK's own reading of the file.

The same reader turns NaN and infinite voxels of a floating-point NIfTI into zeros (NRRD keeps them, and
``checks`` refuses them there), so a NaN-masked image would be segmented as if it held black tissue. The
voxels of a floating-point NIfTI are therefore scanned for them while the file is read for the checks above.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
NIFTI1_HEADER_BYTES = 348
NIFTI2_HEADER_BYTES = 540


# NIfTI datatype codes of real floating-point voxels, which can hold NaN or infinity
FLOAT_DATATYPES = {16: "f4", 64: "f8"}
BLOCK_BYTES = 1 << 22


@dataclass(frozen=True)
class NiftiLayout:
    """Where a single-file NIfTI image's voxels lie in the (decompressed) file, and their float type if any."""

    offset: int
    end: int
    float_dtype: np.dtype | None


def nifti_layout(header: bytes) -> NiftiLayout | None:
    """The voxels' place and type from a NIfTI-1 or NIfTI-2 header.

    None when ``header`` is not a readable NIfTI header; ITK then decides what the file is.
    """
    if len(header) < 4:
        return None
    for order in "<>":
        (size,) = struct.unpack(order + "i", header[:4])
        if size == NIFTI1_HEADER_BYTES and len(header) >= NIFTI1_HEADER_BYTES:
            dims = struct.unpack(order + "8h", header[40:56])
            datatype, bits_per_voxel = struct.unpack(order + "2h", header[70:74])
            (offset,) = struct.unpack(order + "f", header[108:112])
            break
        if size == NIFTI2_HEADER_BYTES and len(header) >= NIFTI2_HEADER_BYTES:
            datatype, bits_per_voxel = struct.unpack(order + "2h", header[12:16])
            dims = struct.unpack(order + "8q", header[16:80])
            (offset,) = struct.unpack(order + "q", header[168:176])
            break
    else:
        return None
    rank = dims[0]
    if (not 1 <= rank <= 7 or any(d < 1 for d in dims[1: rank + 1]) or bits_per_voxel <= 0
            or not math.isfinite(offset) or offset < 0):
        return None
    end = int(offset) + math.prod(int(d) for d in dims[1: rank + 1]) * int(bits_per_voxel) // 8
    float_dtype = np.dtype(order + FLOAT_DATATYPES[datatype]) if datatype in FLOAT_DATATYPES else None
    return NiftiLayout(int(offset), end, float_dtype)


class NonFiniteScan:
    """Fed a file's bytes block by block, finds whether its float voxels hold a NaN or an infinity."""

    def __init__(self, layout: NiftiLayout):
        self.layout, self.position, self.carry, self.found = layout, 0, b"", False

    def feed(self, block: bytes) -> None:
        start, end = self.position, self.position + len(block)
        self.position = end
        voxels = block[max(self.layout.offset - start, 0): max(self.layout.end - start, 0)]
        if self.found or not voxels:
            return
        data = self.carry + voxels
        whole = len(data) - len(data) % self.layout.float_dtype.itemsize
        self.carry = data[whole:]
        self.found = not np.isfinite(np.frombuffer(data[:whole], self.layout.float_dtype)).all()


def check_nifti_file(path: Path) -> None:
    """Raise ``InputError`` if the ``.nii`` / ``.nii.gz`` file at ``path`` is truncated, its gzip stream
    damaged, or its floating-point voxels hold NaN or infinity; other files pass unchecked."""
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        return
    with open(path, "rb") as raw:
        compressed = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    try:
        with (gzip.open if compressed else open)(path, "rb") as stream:
            header = stream.read(NIFTI2_HEADER_BYTES)
            layout = nifti_layout(header)
            scan = NonFiniteScan(layout) if layout is not None and layout.float_dtype is not None else None
            if not compressed and scan is None:
                length = path.stat().st_size  # nothing in the voxels to check: the size says if they are all there
            else:  # read to the end: the gzip CRC and length are checked there, and the float voxels scanned
                length, block = 0, header
                while block:
                    length += len(block)
                    if scan is not None:
                        scan.feed(block)
                    block = stream.read(BLOCK_BYTES)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise InputError(f"{path}: the compressed file is damaged or incomplete ({error}); "
                         "copy or export it again") from None
    if scan is not None and scan.found:
        raise InputError(f"{path}: contains NaN or infinite voxels, which the NIfTI reader would turn into "
                         "zeros; replace them (for example by 0 outside the heart) and save the image again")
    if layout is not None and length < layout.end:
        raise InputError(f"{path}: the file ends after {length:,} of its {layout.end:,} bytes (an interrupted copy "
                         "or export?); copy or export it again")
