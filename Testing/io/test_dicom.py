"""Reading a DICOM folder: the short-axis stack among other series, on the geometry it was acquired on, and one
line naming the slices whenever that geometry cannot be kept."""

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import write_dicom_series, write_image
from GmmSegLib.core.errors import InputError
from GmmSegLib.io.images import read_cardiac_image

STEP = 8.0  # mm between slices along their normal


def _volume(shape) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 800, size=shape).astype(np.int16)


def _orientation(degrees: float, axis: str = "z") -> str:
    """ImageOrientationPatient of an axial slice turned by ``degrees`` about the x or z axis."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    row, column = ((c, s, 0.0), (-s, c, 0.0)) if axis == "z" else ((1.0, 0.0, 0.0), (0.0, c, s))
    return "\\".join(f"{v:.10f}" for v in (*row, *column))


def _no_itk_output(capfd) -> None:
    """ITK prints its warnings (several raw lines) straight to the process's stderr."""
    assert capfd.readouterr().err == ""


def test_dicom_series_3d_and_cine(tmp_path):
    array = _volume((2, 5, 40, 48))
    write_dicom_series(tmp_path / "stack", array[:1])
    stack = read_cardiac_image(tmp_path / "stack")
    assert stack.frames.shape == (1, 5, 40, 48)
    assert stack.spacing_xyz == pytest.approx((1.4, 1.4, STEP))
    np.testing.assert_array_equal(stack.frames[0], array[0])
    write_dicom_series(tmp_path / "cine", array, phases=2)
    cine = read_cardiac_image(tmp_path / "cine")
    assert cine.frames.shape == (2, 5, 40, 48)
    np.testing.assert_array_equal(cine.frames, array.astype(np.float32))


def test_an_oblique_stack_keeps_its_acquired_geometry_whatever_the_file_order(tmp_path):
    """Slices 30 degrees off axial, written apex first: origin the first slice along the normal, spacing the step."""
    array = _volume((1, 6, 40, 48))
    normal = np.array([0.0, -np.sin(np.radians(30)), np.cos(np.radians(30))])
    first = np.array([-20.5, 31.25, 7.0])
    write_dicom_series(
        tmp_path / "oblique",
        array[:, ::-1],
        orientation=lambda z: _orientation(30, "x"),
        position=lambda z: tuple(first + (5 - z) * STEP * normal),
    )
    stack = read_cardiac_image(tmp_path / "oblique")
    np.testing.assert_array_equal(stack.frames[0], array[0])
    assert stack.geometry.spacing == pytest.approx((1.4, 1.4, STEP))
    assert stack.geometry.origin == pytest.approx(tuple(first), abs=1e-6)
    direction = np.reshape(stack.geometry.direction, (3, 3))
    np.testing.assert_allclose(direction[:, 2], normal, atol=1e-9)


def test_a_missing_slice_is_named_rather_than_read_across_the_gap(tmp_path, capfd):
    """ITK reads such a series at one averaged spacing, placing slices millimetres from where they were acquired."""
    files = write_dicom_series(tmp_path / "gap", _volume((1, 8, 40, 48)))
    files[4].unlink()
    capfd.readouterr()
    with pytest.raises(
        InputError,
        match=r"a slice is missing at \(0\.0, 0\.0, 32\.0\) mm, between im0003\.dcm and "
        r"im0005\.dcm, 16\.00 mm apart where the other slices are 8\.00 mm",
    ):
        read_cardiac_image(tmp_path / "gap")
    _no_itk_output(capfd)


def test_unevenly_spaced_slices_are_refused_naming_them(tmp_path):
    write_dicom_series(
        tmp_path / "uneven", _volume((1, 6, 40, 48)), position=lambda z: (0.0, 0.0, z * STEP + (3.0 if z == 5 else 0.0))
    )
    with pytest.raises(
        InputError,
        match=r"unevenly spaced: im0004\.dcm and im0005\.dcm are 11\.00 mm apart where "
        r"the others are 8\.00 mm",
    ):
        read_cardiac_image(tmp_path / "uneven")


def test_a_tilted_stack_is_refused_rather_than_read_without_its_shear(tmp_path, capfd):
    """Positions stepping 20 degrees off the slice normal: ITK drops the shear and takes 8.51 mm for 8 mm."""
    in_plane = STEP * np.tan(np.radians(20))
    write_dicom_series(tmp_path / "tilted", _volume((1, 6, 40, 48)), position=lambda z: (z * in_plane, 0.0, z * STEP))
    capfd.readouterr()
    with pytest.raises(InputError, match=r"step 2\.91 mm in-plane per slice \(20\.0 degrees off the slice normal"):
        read_cardiac_image(tmp_path / "tilted")
    _no_itk_output(capfd)


def test_a_stack_within_a_tenth_of_a_millimetre_of_its_grid_is_read_on_it(tmp_path):
    write_dicom_series(
        tmp_path / "near",
        _volume((1, 6, 40, 48)),
        position=lambda z: (0.01 * z, 0.0, z * STEP + (0.05 if z == 2 else 0.0)),
    )
    assert read_cardiac_image(tmp_path / "near").spacing_xyz == pytest.approx((1.4, 1.4, STEP))


def test_per_position_series_a_rounding_apart_in_orientation_are_one_stack(tmp_path, caplog):
    """Orientations 0.03 degrees apart are one stack; one a degree apart is left out with a warning line."""
    array = _volume((2, 7, 40, 48))
    turn = {z: 0.0 if z < 4 else 0.03 if z < 6 else 1.0 for z in range(7)}
    write_dicom_series(
        tmp_path / "study",
        array,
        phases=2,
        series=lambda z: f"1.2.826.0.1.3680043.2.1125.{10 + z}",
        orientation=lambda z: _orientation(turn[z]),
    )
    with caplog.at_level("WARNING", logger="gmmseg"):
        cine = read_cardiac_image(tmp_path / "study")
    assert cine.frames.shape == (2, 6, 40, 48)
    np.testing.assert_array_equal(cine.frames, array[:, :6].astype(np.float32))
    notes = [record.getMessage() for record in caplog.records]
    assert len(notes) == 1 and "left out 2 images of another orientation or matrix" in notes[0]


def test_a_study_folder_gives_its_short_axis_stack_and_says_what_it_left_out(tmp_path, caplog):
    """One series per slice position (as some scanners store a cine) and a localiser in the same folder."""
    array = _volume((2, 5, 40, 48))
    write_dicom_series(tmp_path / "study", array, phases=2, series=lambda z: f"1.2.826.0.1.3680043.2.1125.{10 + z}")
    write_dicom_series(
        tmp_path / "study",
        _volume((1, 1, 40, 48)),
        series=lambda z: "1.2.826.0.1.3680043.2.1125.99",
        orientation=lambda z: "1\\0\\0\\0\\0\\-1",
        description="localiser",
        prefix="loc",
    )
    with caplog.at_level("WARNING", logger="gmmseg"):
        cine = read_cardiac_image(tmp_path / "study")
    assert cine.frames.shape == (2, 5, 40, 48)
    assert cine.spacing_xyz == pytest.approx((1.4, 1.4, STEP))
    np.testing.assert_array_equal(cine.frames, array.astype(np.float32))
    assert [
        r.getMessage()
        for r in caplog.records
        if "left out 1 image of" in r.getMessage() and "'localiser'" in r.getMessage()
    ]


@pytest.mark.parametrize("phases", [1, 2])
def test_a_duplicated_slice_is_named_with_its_position_and_files(tmp_path, phases):
    files = write_dicom_series(tmp_path / "twice", _volume((phases, 5, 40, 48)), phases=phases)
    shutil.copy(files[2], tmp_path / "twice" / "copy.dcm")
    with pytest.raises(
        InputError,
        match=rf"slice position \(0\.0, 0\.0, 16\.0\) mm holds {phases + 1} images where "
        rf"the other positions hold {phases}: a duplicated or missing image "
        r"\((copy\.dcm, im0002\.dcm|im0002\.dcm, copy\.dcm)",
    ):
        read_cardiac_image(tmp_path / "twice")


@pytest.mark.parametrize(
    "shape, pixel, described", [((64, 64), 1.4, "64x64 of 1.4 x 1.4 mm"), ((40, 48), 1.25, "48x40 of 1.25 x 1.25 mm")]
)
def test_a_series_with_an_image_of_another_matrix_names_it(tmp_path, shape, pixel, described):
    """ITK alone fails on another size ('Size mismatch') and reads another pixel size at the first image's."""
    write_dicom_series(tmp_path / "mixed", _volume((1, 5, 40, 48)))
    write_dicom_series(
        tmp_path / "mixed",
        _volume((1, 1, *shape)),
        spacing=(pixel, pixel, STEP),
        position=lambda z: (0.0, 0.0, 2 * STEP),
        prefix="odd",
    )
    (tmp_path / "mixed" / "im0002.dcm").unlink()  # the odd image takes its place
    with pytest.raises(
        InputError,
        match=rf"series 'sa cine' holds 1 image of another matrix \(odd0000\.dcm: "
        rf"{described}, the other 4 48x40 of 1\.4 x 1\.4 mm\)",
    ):
        read_cardiac_image(tmp_path / "mixed")


def test_a_folder_of_nifti_files_says_so(tmp_path):
    folder = tmp_path / "niftis"
    folder.mkdir()
    for name in ("patient001_frame01.nii.gz", "patient001_frame12.nii.gz"):
        write_image(folder / name, _volume((5, 40, 48)))
    with pytest.raises(
        InputError,
        match=r"no DICOM series .* holds 2 NIfTI files \(patient001_frame01\.nii\.gz, "
        r"patient001_frame12\.nii\.gz\): pass them as files, for example "
        r".*niftis/\*\.nii\.gz",
    ):
        read_cardiac_image(folder)


def test_a_folder_with_two_acquisitions_of_the_same_slices_is_refused(tmp_path):
    array = _volume((1, 4, 40, 48))
    write_dicom_series(tmp_path / "two", array, description="sa cine")
    write_dicom_series(
        tmp_path / "two",
        array,
        series=lambda z: "1.2.826.0.1.3680043.2.1125.7",
        description="sa cine post contrast",
        prefix="post",
    )
    with pytest.raises(InputError, match="same slice positions.*post contrast"):
        read_cardiac_image(tmp_path / "two")
    other = _volume((1, 4, 40, 48))
    write_dicom_series(tmp_path / "tie", array)
    write_dicom_series(
        tmp_path / "tie",
        other,
        series=lambda z: "1.2.826.0.1.3680043.2.1125.8",
        orientation=lambda z: "1\\0\\0\\0\\0\\-1",
        description="long axis stack",
        prefix="lax",
    )
    with pytest.raises(InputError, match="no single short-axis stack"):
        read_cardiac_image(tmp_path / "tie")


def test_a_dicom_header_that_cannot_be_read_is_an_input_error(tmp_path):
    image = sitk.GetImageFromArray(_volume((1, 40, 48)))
    image.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.5")
    image.SetMetaData("0008|0060", "MR")
    image.SetMetaData("0018|1060", "twelve")  # trigger time
    (tmp_path / "bad").mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(tmp_path / "bad" / "im.dcm"))
    writer.Execute(image)
    with pytest.raises(InputError, match="unreadable position, orientation, trigger time"):
        read_cardiac_image(tmp_path / "bad")


def test_a_multi_frame_dicom_file_is_refused_with_what_to_do(tmp_path):
    image = sitk.GetImageFromArray(_volume((6, 40, 48)).astype(np.int16))
    image.SetSpacing((1.4, 1.4, 8.0))
    image.SetMetaData("0008|0060", "MR")
    (tmp_path / "enhanced").mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(tmp_path / "enhanced" / "cine.dcm"))
    writer.Execute(image)  # GDCM writes a 3D image as one Enhanced MR file of 6 frames
    with pytest.raises(InputError, match="multi-frame .*dcm2niix"):
        read_cardiac_image(tmp_path / "enhanced")
