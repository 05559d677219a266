"""Refusing NIfTI files that ITK would read wrongly without a word: cut short, damaged, or holding NaNs.

ITK's NIfTI reader does not fail on a ``.nii`` or ``.nii.gz`` file that was cut short (an interrupted copy,
download or export): it returns the image with the missing voxels as zeros or leftovers, and the last slices
of the stack would be segmented as empty or as noise. The NRRD, MetaImage and DICOM readers refuse such files
themselves. A gzip stream is read to its end once, which also checks its CRC and length, so a byte damaged
inside the file is caught too; this takes about as long as ITK's own reading of the file.

The same reader turns NaN and infinite voxels of a floating-point NIfTI into zeros (NRRD keeps them, and
``checks`` refuses them there), so a NaN-masked image would be segmented as if it held black tissue. The
voxels of a floating-point NIfTI are therefore scanned for them while the file is read for the checks above.

ITK's NIfTI writer has the same fault the other way round: a short write (a full disk, a file-size limit) is
only printed, never raised, so the outputs it writes are read back here (``written_shortfall``) before they are
published.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .nifti_header import NIFTI2_HEADER_BYTES, NiftiHeader

GZIP_MAGIC = b"\x1f\x8b"
BLOCK_BYTES = 1 << 22


class NonFiniteScan:
    """Fed a file's bytes block by block, finds whether its float voxels hold a NaN or an infinity."""

    def __init__(self, voxels: tuple[int, int], dtype: np.dtype):
        self.voxels, self.dtype, self.position, self.carry, self.found = voxels, dtype, 0, b"", False

    def feed(self, block: bytes) -> None:
        start, end = self.position, self.position + len(block)
        self.position = end
        first, last = self.voxels
        voxels = block[max(first - start, 0) : max(last - start, 0)]
        if self.found or not voxels:
            return
        data = self.carry + voxels
        whole = len(data) - len(data) % self.dtype.itemsize
        self.carry = data[whole:]
        self.found = not np.isfinite(np.frombuffer(data[:whole], self.dtype)).all()


DAMAGED_STREAM = (EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class NiftiExtent:
    """How much of a NIfTI file is there: its header (None if not NIfTI), the bytes of its (decompressed) content,
    and whether its floating-point voxels hold NaN or infinity (when they were scanned)."""

    header: NiftiHeader | None
    length: int
    non_finite: bool

    @property
    def missing(self) -> tuple[int, int] | None:
        """(bytes there, bytes the header needs) when the file ends before its last voxel, else None."""
        voxels = self.header.voxel_range() if self.header is not None else None
        return (self.length, voxels[1]) if voxels is not None and self.length < voxels[1] else None


def read_through(path: Path, scan_non_finite: bool = True) -> NiftiExtent:
    """Read a ``.nii`` / ``.nii.gz`` file to its end (a compressed one always, which checks its CRC and length;
    an uncompressed one only to scan its float voxels). Raises one of ``DAMAGED_STREAM`` on a damaged gzip
    stream."""
    with open(path, "rb") as raw:
        compressed = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    with (gzip.open if compressed else open)(path, "rb") as stream:
        data = stream.read(NIFTI2_HEADER_BYTES)
        header = NiftiHeader.parse(data)
        voxels = header.voxel_range() if header is not None else None
        dtype = header.float_dtype if voxels is not None and scan_non_finite else None
        scan = NonFiniteScan(voxels, dtype) if dtype is not None else None
        if not compressed and scan is None:  # nothing in the voxels to check: the size says if they are all there
            return NiftiExtent(header, path.stat().st_size, False)
        length, block = 0, data
        while block:
            length += len(block)
            if scan is not None:
                scan.feed(block)
            block = stream.read(BLOCK_BYTES)
    return NiftiExtent(header, length, scan is not None and scan.found)


def check_nifti_file(path: Path) -> NiftiHeader | None:
    """Raise ``InputError`` if the ``.nii`` / ``.nii.gz`` file at ``path`` is truncated, its gzip stream
    damaged, or its floating-point voxels hold NaN or infinity; returns its header (None for other files, and
    for a file whose header is not NIfTI, which ITK then judges)."""
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        return None
    try:
        extent = read_through(path)
    except DAMAGED_STREAM as error:
        raise InputError(
            f"{path}: the compressed file is damaged or incomplete ({error}); copy or export it again"
        ) from None
    if extent.non_finite:
        raise InputError(
            f"{path}: contains NaN or infinite voxels, which the NIfTI reader would turn into "
            "zeros; replace them (for example by 0 outside the heart) and save the image again"
        )
    if extent.missing is not None:
        length, needed = extent.missing
        raise InputError(
            f"{path}: the file ends after {length:,} of its {needed:,} bytes (an interrupted copy "
            "or export?); copy or export it again"
        )
    return extent.header


def written_shortfall(path: Path) -> str | None:
    """What is missing from a NIfTI file just written, or None when it is whole.

    ITK's NIfTI writer does not fail when the system writes less than asked (a full disk, a file-size limit): it
    prints ``** ERROR: NWAD`` on stderr and returns, leaving a file cut short. So what it wrote is read back to
    its end before it is published.
    """
    try:
        extent = read_through(path, scan_non_finite=False)
    except DAMAGED_STREAM:
        return "its compressed stream is cut short"
    if extent.header is None:
        return f"it holds no NIfTI header, {extent.length:,} bytes"
    if extent.missing is not None:
        return "it ends after {:,} of its {:,} bytes".format(*extent.missing)
    return None
