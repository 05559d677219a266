"""Refusing NIfTI files that end before their voxels do, or whose compressed stream is damaged.

ITK's NIfTI reader does not fail on a ``.nii`` or ``.nii.gz`` file that was cut short (an interrupted copy,
download or export): it returns the image with the missing voxels as zeros or leftovers, and the last slices
of the stack would be segmented as empty or as noise without a word. The NRRD, MetaImage and DICOM readers
refuse such files themselves. A gzip stream is read to its end once, which also checks its CRC and length,
so a byte damaged inside the file is caught too; this takes about as long as ITK's own reading of the file.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

from .errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
NIFTI1_HEADER_BYTES = 348
NIFTI2_HEADER_BYTES = 540


def nifti_data_end(header: bytes) -> int | None:
    """Where a NIfTI-1 or NIfTI-2 single-file image's voxels end (vox_offset + voxels x bytes per voxel).

    None when ``header`` is not a readable NIfTI header; ITK then decides what the file is.
    """
    if len(header) < 4:
        return None
    for order in "<>":
        (size,) = struct.unpack(order + "i", header[:4])
        if size == NIFTI1_HEADER_BYTES and len(header) >= NIFTI1_HEADER_BYTES:
            dims = struct.unpack(order + "8h", header[40:56])
            (bits_per_voxel,) = struct.unpack(order + "h", header[72:74])
            (offset,) = struct.unpack(order + "f", header[108:112])
            break
        if size == NIFTI2_HEADER_BYTES and len(header) >= NIFTI2_HEADER_BYTES:
            (bits_per_voxel,) = struct.unpack(order + "h", header[14:16])
            dims = struct.unpack(order + "8q", header[16:80])
            (offset,) = struct.unpack(order + "q", header[168:176])
            break
    else:
        return None
    rank = dims[0]
    if (not 1 <= rank <= 7 or any(d < 1 for d in dims[1: rank + 1]) or bits_per_voxel <= 0
            or not math.isfinite(offset) or offset < 0):
        return None
    return int(offset) + math.prod(int(d) for d in dims[1: rank + 1]) * int(bits_per_voxel) // 8


def check_nifti_complete(path: Path) -> None:
    """Raise ``InputError`` if the ``.nii`` / ``.nii.gz`` file at ``path`` is truncated or its gzip stream
    damaged; other files pass unchecked."""
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        return
    with open(path, "rb") as raw:
        header = raw.read(NIFTI2_HEADER_BYTES)
    if not header.startswith(GZIP_MAGIC):
        length = path.stat().st_size
    else:
        try:
            with gzip.open(path, "rb") as stream:
                header = stream.read(NIFTI2_HEADER_BYTES)
                length = len(header)
                while block := stream.read(1 << 22):
                    length += len(block)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise InputError(f"{path}: the compressed file is damaged or incomplete ({error}); "
                             "copy or export it again") from None
    end = nifti_data_end(header)
    if end is not None and length < end:
        raise InputError(f"{path}: the file ends after {length:,} of its {end:,} bytes (an interrupted copy or "
                         "export?); copy or export it again")
