"""phi (GmmSegLib.model.phi) <-> the RAS transform a clinician drags in Slicer: conventions, round trips, refusals."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.model.atlas import warp_prior
from GmmSegLib.model.canonical_crop import CANONICAL_SIZE, CANONICAL_SPACING_MM, CanonicalCrop
from GmmSegLib.model.phi import Phi, canonical_to_ras, phi_from_ras_transform, ras_transform_for_phi

CROP = CanonicalCrop(
    centre_x=90.3, centre_y=80.7, angle=0.6, spacing_x=1.4, spacing_y=1.4, native_rows=176, native_columns=190
)
# an oblique short-axis stack: rotated directions, 8 mm slices, some origin
IJK_TO_RAS = np.array(
    [
        [-1.4 * 0.8, 1.4 * 0.6, 0.0, 40.0],
        [-1.4 * 0.6, -1.4 * 0.8, 0.0, 120.0],
        [0.0, 0.0, 8.0, -30.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def test_phi_matrix_matches_how_the_prior_is_warped():
    """A blob at canonical offset p lands at s R p + t after warp_prior: the convention the transform relies on."""
    size, spacing = CANONICAL_SIZE, CANONICAL_SPACING_MM
    centre_mm = np.array([12.0, -9.0])
    coordinates = (np.arange(size) - (size - 1) / 2) * spacing
    yy, xx = np.meshgrid(coordinates, coordinates, indexing="ij")
    blob = np.exp(-((xx - centre_mm[0]) ** 2 + (yy - centre_mm[1]) ** 2) / (2 * 5.0**2))
    prior = torch.from_numpy(np.stack([1 - blob, blob, 0 * blob, 0 * blob])[None].astype(np.float32))
    phi = Phi.from_parameters(1.2, 6.0, -4.0, 20.0)
    moved = warp_prior(prior, torch.from_numpy(phi.array())[None])[0, 1].numpy()
    weights = np.where(moved > 0.5, moved, 0.0)  # leave out the prior's floor everywhere else
    weights /= weights.sum()
    found = np.array([(weights * xx).sum(), (weights * yy).sum()])
    expected = (phi.matrix() @ np.append(centre_mm, 1.0))[:2]
    assert np.allclose(found, expected, atol=0.3)


@pytest.mark.parametrize("crop", [CROP, replace(CROP, mirrored=True)], ids=["as stored", "mirrored stack"])
def test_transform_and_phi_round_trip(crop):
    reference = Phi.from_parameters(1.1, 3.0, -2.0, 5.0)
    wanted = Phi.from_parameters(0.9, -7.5, 4.0, -12.0)
    matrix = ras_transform_for_phi(wanted, reference, crop, IJK_TO_RAS)
    assert np.allclose(phi_from_ras_transform(matrix, reference, crop, IJK_TO_RAS).array(), wanted.array(), atol=1e-4)
    assert np.allclose(ras_transform_for_phi(reference, reference, crop, IJK_TO_RAS), np.eye(4), atol=1e-9)
    assert np.allclose(
        phi_from_ras_transform(np.eye(4), reference, crop, IJK_TO_RAS).array(), reference.array(), atol=1e-5
    )
    # the transform is a rigid motion with scale in patient space, never a mirror
    assert np.linalg.det(matrix[:3, :3]) > 0


def test_a_pure_shift_in_patient_space_is_a_shift_of_phi_in_mm():
    """Dragging the prior 10 mm within the slice plane moves phi's translation by 10 mm."""
    reference = Phi()
    shift = np.eye(4)
    in_plane = IJK_TO_RAS[:3, 0] / np.linalg.norm(IJK_TO_RAS[:3, 0])
    shift[:3, 3] = 10.0 * in_plane
    phi = phi_from_ras_transform(shift, reference, CROP, IJK_TO_RAS)
    assert math.hypot(phi.tx_mm, phi.ty_mm) == pytest.approx(10.0, abs=1e-4)
    assert phi.log_scale == pytest.approx(0.0, abs=1e-6) and phi.rotation_rad == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("case", ["across slices", "tilt", "shear", "mirror", "not finite"])
def test_transforms_the_prior_cannot_follow_are_refused(case):
    matrix = np.eye(4)
    if case == "across slices":
        matrix[:3, 3] = 5.0 * IJK_TO_RAS[:3, 2] / 8.0
    elif case == "tilt":
        c, s = math.cos(0.3), math.sin(0.3)
        matrix[1:3, 1:3] = [[c, -s], [s, c]]
    elif case == "shear":
        to_ras = canonical_to_ras(CROP, IJK_TO_RAS)
        shear = np.eye(4)
        shear[0, 1] = 0.4
        matrix = to_ras @ shear @ np.linalg.inv(to_ras)
    elif case == "mirror":
        to_ras = canonical_to_ras(CROP, IJK_TO_RAS)
        matrix = to_ras @ np.diag([-1.0, 1.0, 1.0, 1.0]) @ np.linalg.inv(to_ras)
    else:
        matrix[0, 3] = np.nan
    with pytest.raises(GmmSegError):
        phi_from_ras_transform(matrix, Phi(), CROP, IJK_TO_RAS)


def test_an_impossible_phi_is_refused():
    for scale in (0.0, -1.0):
        with pytest.raises(GmmSegError, match="positive"):
            Phi.from_parameters(scale, 0, 0, 0)
    with pytest.raises(GmmSegError, match="finite"):
        Phi.from_parameters(1.0, float("nan"), 0, 0)


def test_phi_reads_and_writes_as_the_json_and_the_command_line_have_it():
    phi = Phi.from_parameters(1.25, 3.5, -2.0, 10.0)
    assert Phi.from_record(phi.record()) == phi and Phi.parse(phi.argument()).array() == pytest.approx(phi.array())
    assert phi.record()["scale"] == pytest.approx(1.25) and phi.record()["rotation_deg"] == pytest.approx(10.0)
    for text in ("1,2,3", "a,b,c,d"):
        with pytest.raises(GmmSegError, match="four numbers"):
            Phi.parse(text)
