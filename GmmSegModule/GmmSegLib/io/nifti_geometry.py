"""A NIfTI file's geometry decided as 3D Slicer decides it, and refused where the header cannot decide it.

3D Slicer and this product read NIfTI with ITK's ``NiftiImageIO`` (ITK 5.4, ``Modules/IO/NIFTI/src/
itkNiftiImageIO.cxx``, SetImageIOOrientationFromNIfTI): the voxel size comes from ``pixdim``; the orientation and
origin from the sform when it is orthonormal (to 1e-4) and either the qform is unset, the sform is labelled
scanner-anatomical, or the two agree; else from the qform; with neither, the image is unrotated at the origin.
Around that rule ITK is silent or merely warns where the result is not real, so before ITK reads a file:

- a voxel size of 0, a negative or a non-finite one is refused (ITK would read 1 mm voxels: an LV of a tenth of
  its volume), and so is a header whose ``pixdim`` and the transform ITK uses give two different voxel sizes;
- an sform that is orthonormal only to within rounding of a scanner's geometry (GE exports, with no qform), which
  ITK refuses by default, is read by that sform made orthonormal (its nearest rotation), and said so in one line.
  ITK reads the voxels with ``ITK_NIFTI_SFORM_PERMISSIVE``, but the geometry is set here from the header: ITK 5.4's
  permissive mode (SimpleITK 2.5, slicer-core 5.13) builds the transposed rotation (``V U^T`` for ``U V^T``; fixed
  in ITK 6, commit c42f5004e9), which would place an oblique stack tens of mm away. A truly sheared grid is
  refused, as no image in Slicer can represent it;
- an sform and a qform that disagree are reported in one line naming the one used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .nifti_header import DATATYPE_BITS, XFORM_UNKNOWN, NiftiHeader

ITK_ORTHONORMAL_TOLERANCE = 1e-4  # itkNiftiImageIO.cxx: candidate_identity.is_identity(1.0e-4)
ROUNDING_TOLERANCE = 1e-3  # beyond ITK's tolerance, still float32 rounding of the scanner's direction cosines
SPACING_TOLERANCE_MM = 1e-3  # itkNiftiImageIO.cxx: large_value_tolerance of the sform's scales
AGREEMENT_MM, AGREEMENT_DEG = 0.5, 0.5  # an sform and a qform closer than this are one geometry
_LPS = np.diag([-1.0, -1.0, 1.0])  # NIfTI world (RAS) to ITK's


@dataclass
class ReadPlan:
    """How ITK is to read the file and what to tell the user. ``sform_geometry``: (spacing, direction, origin) to
    set on what ITK read with ITK_NIFTI_SFORM_PERMISSIVE, whose own geometry is not trusted."""

    sform_geometry: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def permissive(self) -> bool:
        return self.sform_geometry is not None


def plan_reading(header: NiftiHeader, path: Path) -> ReadPlan:
    """Refuse a header that does not define a real grid; say how ITK is to read the others."""
    if not header.shape:
        raise InputError(
            f"{path}: the header's dimensions {list(header.dim)} are not valid (dim[0] must count 1 to "
            "7 axes of 1 or more voxels); the file is damaged or not an image"
        )
    if header.datatype not in DATATYPE_BITS:
        raise InputError(
            f"{path}: the header's voxel type (datatype {header.datatype}) is not a NIfTI one; the file "
            "is damaged or not an image"
        )
    if not (math.isfinite(header.vox_offset) and header.vox_offset >= header.header_bytes):
        raise InputError(
            f"{path}: the header says the voxels start at byte {header.vox_offset:g}, inside the header "
            "or nowhere; the file is damaged"
        )
    for name, code, numbers in (
        ("qform", header.qform_code, header.quatern),
        ("sform", header.sform_code, header.srow),
    ):
        if code != XFORM_UNKNOWN and not all(math.isfinite(v) for v in numbers):
            raise InputError(
                f"{path}: the header's {name} holds numbers that are not finite; where the image lies "
                "cannot be decided; export the image again"
            )
    spacing = header.spatial_pixdim
    if not all(math.isfinite(v) and v > 0 for v in spacing):
        hint = ""
        if header.sform_code != XFORM_UNKNOWN:
            hint = f" (its sform says {_mm(np.linalg.norm(header.sform()[:3, :3], axis=0)[: len(spacing)])})"
        raise InputError(
            f"{path}: the header's voxel size is {_mm(spacing)}{hint}: not a real spacing, so the "
            "image's size cannot be decided; export the image again from the scanner or converter"
        )
    if header.qform_code == XFORM_UNKNOWN and header.sform_code == XFORM_UNKNOWN:
        return ReadPlan(
            notes=[
                f"{path}: the header holds no orientation (qform and sform codes 0); the image is "
                "read unrotated at the origin, as 3D Slicer reads it"
            ]
        )
    deviation = orthonormality_deviation(header.sform()) if header.sform_code != XFORM_UNKNOWN else 0.0
    if header.qform_code != XFORM_UNKNOWN or deviation <= ITK_ORTHONORMAL_TOLERANCE:
        return ReadPlan()  # ITK reads it as it is (a sheared sform beside a qform gives way to the qform)
    if deviation <= ROUNDING_TOLERANCE:
        return ReadPlan(
            sform_geometry=header_geometry(header, header.sform()),
            notes=[
                f"{path}: the header has no qform and its sform's directions are orthonormal only to {deviation:.1e} "
                f"(rounding in the scanner's export); the image is read by the sform made orthonormal, which moves no "
                f"voxel by more than {_orthonormalisation_shift_mm(header):.2g} mm"
            ],
        )
    raise InputError(
        f"{path}: the header's sform describes a sheared grid (its directions are {deviation:.1e} from "
        "orthonormal), which neither ITK nor 3D Slicer can represent; resample the image to an "
        "orthogonal grid, or export it again"
    )


def check_read_geometry(header: NiftiHeader, spacing, direction, origin, path: Path) -> list[str]:
    """The transform ITK took (its rules hold numerical tests beyond these), checked against the header: refused
    when ITK's geometry is none of the header's, or when its voxel size contradicts the transform used; notes
    for an sform and a qform that disagree."""
    used = next(
        (name for name, expected in _candidates(header) if _same_geometry(expected, spacing, direction, origin)), None
    )
    if used is None:
        raise InputError(
            f"{path}: the image's geometry as read is neither the header's sform nor its qform (a "
            "damaged header?); export the image again"
        )
    if used == "sform":
        pixdim = np.array(header.spatial_pixdim)
        scales = np.linalg.norm(header.sform()[:3, :3], axis=0)[: len(pixdim)]
        if np.any(np.abs(scales - pixdim) > np.maximum(SPACING_TOLERANCE_MM, 0.01 * pixdim)):
            raise InputError(
                f"{path}: the header gives two voxel sizes, {_mm(pixdim)} (pixdim) and {_mm(scales)} "
                "(sform); the image's size cannot be decided; export the image again"
            )
    if header.qform_code != XFORM_UNKNOWN and header.sform_code != XFORM_UNKNOWN:
        shift, turn = _difference(header.sform(), header.qform())
        if shift > AGREEMENT_MM or turn > AGREEMENT_DEG:
            return [
                f"{path}: the header's sform and qform disagree (by {shift:.1f} mm and {turn:.1f} degrees); "
                f"the {used} is used, as 3D Slicer uses it"
            ]
    return []


def _candidates(header: NiftiHeader) -> list[tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """The geometries the header can mean, as ITK gives them: (spacing, direction 3 x 3, origin) in mm and LPS."""
    spacing = np.array(header.spatial_pixdim) * header.mm_per_unit
    found = []
    if header.sform_code != XFORM_UNKNOWN:
        found.append(("sform", header.sform()))
    if header.qform_code != XFORM_UNKNOWN:
        found.append(("qform", header.qform()))
    if not found:
        return [("none", (spacing, np.eye(3), np.zeros(3)))]
    # a degenerate transform cannot be what ITK took
    return [
        (name, header_geometry(header, affine))
        for name, affine in found
        if orthonormality_deviation(affine) != math.inf
    ]


def header_geometry(header: NiftiHeader, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid that ``affine`` (the header's sform or qform) defines, as ITK describes one: (spacing from pixdim,
    direction 3 x 3, origin), in mm and LPS. The direction is the transform's nearest rotation, which for an
    orthonormal transform is its normalised columns."""
    spacing = np.array(header.spatial_pixdim) * header.mm_per_unit
    return spacing, _LPS @ nearest_rotation(affine), _LPS @ affine[:3, 3] * header.mm_per_unit


def nearest_rotation(affine: np.ndarray) -> np.ndarray:
    """The orthonormal matrix nearest to the 3 x 3 of ``affine``: the polar factor U V^T of its SVD, as ITK 6
    orthonormalises a NIfTI sform (itkNiftiImageIO.cxx, SetImageIOOrientationFromNIfTI)."""
    u, _, vt = np.linalg.svd(affine[:3, :3])
    return u @ vt


def _same_geometry(expected, spacing, direction, origin) -> bool:
    """Whether what ITK read (over its first up to three axes) is the ``expected`` geometry."""
    size = len(spacing)
    expected_spacing, expected_direction, expected_origin = expected
    return bool(
        np.allclose(spacing, expected_spacing[:size], rtol=1e-5)
        # ITK takes an sform orthonormal to 1e-4 as it is: its columns differ from the nearest rotation's
        and np.allclose(direction, expected_direction[:size, :size], atol=ROUNDING_TOLERANCE)
        and np.allclose(origin, expected_origin[:size], rtol=1e-5, atol=1e-3)
    )


def orthonormality_deviation(affine: np.ndarray) -> float:
    """How far the column-normalised 3 x 3 of ``affine`` is from a rotation: the largest |R R^T - I| entry
    (infinite for a degenerate or non-finite matrix)."""
    matrix = affine[:3, :3]
    norms = np.linalg.norm(matrix, axis=0)
    if not _is_finite(affine) or np.any(norms == 0):
        return math.inf
    rotation = matrix / norms
    return float(np.abs(rotation @ rotation.T - np.eye(3)).max())


def _orthonormalisation_shift_mm(header: NiftiHeader) -> float:
    """The largest displacement of a voxel centre when the sform's directions are replaced by the nearest
    orthonormal ones, over the image's corners."""
    matrix = header.sform()[:3, :3]
    nearest = nearest_rotation(matrix) * np.linalg.norm(matrix, axis=0)
    shape = list(header.shape[:3]) + [1] * (3 - len(header.shape[:3]))
    corners = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])
    return float(np.linalg.norm(corners @ (matrix - nearest).T, axis=1).max())


def _difference(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """How far apart two voxel-to-world transforms place the grid: origin shift (mm), axis turn (degrees)."""
    if not (_is_finite(first) and _is_finite(second)):
        return math.inf, math.inf
    shift = float(np.linalg.norm(first[:3, 3] - second[:3, 3]))
    a, b = (m[:3, :3] / np.maximum(np.linalg.norm(m[:3, :3], axis=0), 1e-12) for m in (first, second))
    cosines = np.clip(np.sum(a * b, axis=0), -1.0, 1.0)
    return shift, float(np.degrees(np.arccos(cosines)).max())


def _is_finite(matrix: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(matrix)))


def _mm(values) -> str:
    return " x ".join(f"{float(v):g}" for v in values) + " mm"
