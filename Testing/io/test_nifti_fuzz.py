"""A fuzz pass over the NIfTI reader: headers with random edits and files cut at random offsets.

The invariant: a file is either refused with an ``InputError`` (one clear line, never another exception), or
read on exactly the geometry its header defines: its dimensions, the voxel size of ``pixdim``, and the orientation
and origin of its sform or its qform (in ITK's LPS convention), computed here from the header's bytes.
Seeded: every run tries the same cases, and a failure names its seed.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import SimpleITK as sitk

from GmmSegLib.core.errors import InputError
from GmmSegLib.io.images import read_cardiac_image

CASES = 1000
LPS = np.diag([-1.0, -1.0, 1.0])
# NIfTI-1 fields (nifti1.h): name -> (offset, format)
FIELDS = {
    "dim": (40, "8h"),
    "datatype": (70, "h"),
    "bitpix": (72, "h"),
    "pixdim": (76, "8f"),
    "vox_offset": (108, "f"),
    "qform_code": (252, "h"),
    "sform_code": (254, "h"),
    "quatern": (256, "6f"),
    "srow": (280, "12f"),
}


def _base(rng: np.random.Generator) -> bytes:
    array = rng.integers(0, 1000, (int(rng.integers(2, 6)), int(rng.integers(3, 9)), int(rng.integers(3, 9))))
    image = sitk.GetImageFromArray(array.astype(np.int16))
    image.SetSpacing(tuple(float(v) for v in rng.uniform(0.5, 10, 3)))
    image.SetOrigin(tuple(float(v) for v in rng.uniform(-100, 100, 3)))
    return image, array


def _mutate(data: bytearray, rng: np.random.Generator) -> None:
    """One to three random edits of header fields."""
    for name in rng.choice(list(FIELDS), size=int(rng.integers(1, 4)), replace=False):
        offset, fmt = FIELDS[name]
        values = list(struct.unpack_from("<" + fmt, data, offset))
        index = int(rng.integers(len(values)))
        kind = fmt[-1]
        if kind in "hi":
            values[index] = int(rng.choice([-1, 0, 1, 2, 3, 4, 7, 100, int(rng.integers(-3, 300))]))
        else:
            special = [
                0.0,
                -values[index],
                math.nan,
                math.inf,
                1e-9,
                1e9,
                values[index] * (1 + 1e-4),
                values[index] + float(rng.normal(0, 0.2)),
                float(rng.uniform(-2, 2)),
            ]
            values[index] = float(special[int(rng.integers(len(special)))])
        struct.pack_into("<" + fmt, data, offset, *values)


def _field(data: bytes, name: str):
    offset, fmt = FIELDS[name]
    values = struct.unpack_from("<" + fmt, data, offset)
    return values if len(values) > 1 else values[0]


def _quaternion_rotation(b: float, c: float, d: float) -> np.ndarray:
    """nifti1.h, "Method 2" (with nifti1_io.c's normalisation of a quaternion longer than 1)."""
    a = 1.0 - (b * b + c * c + d * d)
    if a < 1e-7:
        norm = math.sqrt(b * b + c * c + d * d) or 1.0
        b, c, d, a = b / norm, c / norm, d / norm, 0.0
    a = math.sqrt(a)
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ]
    )


def _header_geometries(data: bytes) -> list[tuple[np.ndarray, np.ndarray]]:
    """What the header's transforms say (direction 3 x 3, origin), in ITK's LPS: the sform's, the qform's, or the
    unrotated grid at the origin when it has neither."""
    found = []
    affine = np.reshape(np.array(_field(data, "srow"), float), (3, 4))
    if _field(data, "sform_code") and np.all(np.linalg.norm(affine[:, :3], axis=0) > 0):  # else not a transform
        rotation = affine[:, :3] / np.linalg.norm(affine[:, :3], axis=0)
        u, _, vt = np.linalg.svd(rotation)
        found.append((LPS @ (u @ vt), LPS @ affine[:, 3]))
    if _field(data, "qform_code"):
        b, c, d, x, y, z = _field(data, "quatern")
        qfac = -1.0 if _field(data, "pixdim")[0] < 0 else 1.0
        found.append((LPS @ (_quaternion_rotation(b, c, d) * [1.0, 1.0, qfac]), LPS @ np.array([x, y, z])))
    return found or [(np.eye(3), np.zeros(3))]


@pytest.mark.parametrize("seed", range(CASES))
def test_a_damaged_header_is_refused_or_read_on_exactly_its_geometry(tmp_path, seed):
    rng = np.random.default_rng(seed)
    image, array = _base(rng)
    path = tmp_path / ("scan.nii.gz" if seed % 5 == 0 else "scan.nii")
    sitk.WriteImage(image, str(tmp_path / "scan.nii"))
    data = bytearray((tmp_path / "scan.nii").read_bytes())
    if seed % 4 == 3:
        data = data[: int(rng.integers(0, len(data)))]  # cut at a random offset
    else:
        _mutate(data, rng)
    if path.suffix == ".gz":
        import gzip

        (tmp_path / "scan.nii").unlink()
        path.write_bytes(gzip.compress(bytes(data)))
    else:
        path.write_bytes(bytes(data))
    try:
        read = read_cardiac_image(path)
    except InputError as refusal:
        assert str(refusal).startswith(str(path)) and "\n" not in str(refusal)
        return
    geometry = read.geometry
    dims = _field(bytes(data), "dim")
    assert read.frames.shape[1:][::-1] == tuple(dims[1:4])[:3], f"seed {seed}: size"
    assert np.allclose(geometry.spacing[:3], _field(bytes(data), "pixdim")[1:4], rtol=1e-5), f"seed {seed}: spacing"
    direction = np.reshape(geometry.direction, (geometry.dimension,) * 2)[:3, :3]
    assert any(
        np.allclose(direction, expected_direction, atol=1e-3)
        and np.allclose(geometry.origin[:3], expected_origin, rtol=1e-5, atol=1e-3)
        for expected_direction, expected_origin in _header_geometries(bytes(data))
    ), f"seed {seed}: placement"
