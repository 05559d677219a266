"""Reading NIfTI / NRRD with exact geometry, writing on the input grid, atomic outputs."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from conftest import GE_PIXDIM, GE_SROW, write_ge_sform_nifti
from GmmSegLib.core.errors import InputError
from GmmSegLib.core.labels import most_probable_class, to_product_labels
from GmmSegLib.io.images import AtomicOutputs, Geometry, image_stem, read_cardiac_image, read_label_volume, to_sitk

DIRECTION = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def _volume(shape=(6, 40, 48)) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 800, size=shape).astype(np.int16)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_3d_geometry_is_kept_exactly(tmp_path, suffix):
    array = _volume()
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.25, 1.25, 8.0))
    image.SetOrigin((-10.5, 20.25, 3.0))
    image.SetDirection(DIRECTION)
    path = tmp_path / f"stack{suffix}"
    sitk.WriteImage(image, str(path))
    read = read_cardiac_image(path)
    assert read.frames.shape == (1, 6, 40, 48) and not read.is_cine
    np.testing.assert_array_equal(read.frames[0], array)
    written = to_sitk(read.frames[0].astype(np.uint8), read.geometry)
    assert written.GetSpacing() == pytest.approx(image.GetSpacing())
    assert written.GetOrigin() == pytest.approx(image.GetOrigin())
    assert written.GetDirection() == pytest.approx(image.GetDirection())


def test_4d_cine_round_trip(tmp_path, small_phantom):
    image = small_phantom.image
    path = tmp_path / "cine.nii.gz"
    sitk.WriteImage(to_sitk(image.frames, image.geometry), str(path))
    read = read_cardiac_image(path)
    assert read.is_cine and read.frames.shape == image.frames.shape
    np.testing.assert_array_equal(read.frames, image.frames)
    assert read.frame_volume(1).geometry.dimension == 3
    probabilities = np.random.rand(*image.frames.shape, 4).astype(np.float32)
    vector = to_sitk(probabilities, read.geometry, components=True)
    assert vector.GetNumberOfComponentsPerPixel() == 4 and vector.GetDimension() == 4


def test_unreadable_and_missing_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_cardiac_image(tmp_path / "missing.nii.gz")
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="not a readable image"):
        read_cardiac_image(corrupt)
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(InputError, match="no DICOM series"):
        read_cardiac_image(tmp_path / "empty_folder")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_a_nifti_file_cut_short_is_refused_rather_than_read_with_missing_slices(tmp_path, phantom_volume, suffix):
    """ITK alone reads such a file without an error, the missing voxels as zeros."""
    whole = tmp_path / f"whole{suffix}"
    sitk.WriteImage(to_sitk(phantom_volume.frames[0], phantom_volume.geometry), str(whole))
    np.testing.assert_array_equal(read_cardiac_image(whole).frames, phantom_volume.frames)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.7)])
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(cut))).shape == phantom_volume.frames[0].shape  # ITK: no error
    with pytest.raises(InputError, match="incomplete|ends after"):
        read_cardiac_image(cut)
    with pytest.raises(InputError, match="incomplete|ends after"):
        read_label_volume(cut)


def test_a_damaged_byte_inside_a_compressed_nifti_is_refused(tmp_path, phantom_volume):
    path = tmp_path / "damaged.nii.gz"
    sitk.WriteImage(to_sitk(phantom_volume.frames[0], phantom_volume.geometry), str(path))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged or incomplete"):
        read_cardiac_image(path)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_infinite_voxels_of_a_nifti_are_refused_rather_than_read_as_zeros(
    tmp_path, phantom_volume, suffix, value
):
    import gzip
    import struct

    plain = tmp_path / "float.nii"
    sitk.WriteImage(to_sitk(phantom_volume.frames[0].astype(np.float32), phantom_volume.geometry), str(plain))
    data = bytearray(plain.read_bytes())
    (offset,) = struct.unpack("<f", data[108:112])
    middle = int(offset) + 4 * (phantom_volume.frames[0].size // 2 + 7)  # a voxel inside the stack, not the first
    data[middle : middle + 4] = struct.pack("<f", value)
    path = tmp_path / f"masked{suffix}"
    path.write_bytes(gzip.compress(bytes(data)) if suffix == ".nii.gz" else bytes(data))
    assert np.isfinite(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))).all()  # ITK alone: a zero, no error
    with pytest.raises(InputError, match="NaN or infinite voxels"):
        read_cardiac_image(path)
    np.testing.assert_array_equal(read_cardiac_image(plain).frames, phantom_volume.frames)  # the intact file reads


def test_a_complex_valued_image_is_refused(tmp_path):
    path = tmp_path / "complex.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray((_volume((4, 40, 48)) * (1 + 1j)).astype(np.complex64)), str(path))
    with pytest.raises(InputError, match="complex-valued"):
        read_cardiac_image(path)


def test_2d_image_is_refused(tmp_path):
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(_volume((40, 48))), str(path))
    with pytest.raises(InputError, match="2D image"):
        read_cardiac_image(path)


def test_a_stop_while_the_files_are_renamed_into_place_publishes_them_all(tmp_path, monkeypatch):
    """SIGTERM between two renames of the commit (as a scheduler's stop can land) waits for the last one, also when
    the system hands it to another thread than the one writing (as with torch's or Qt's threads running)."""
    import os
    import signal
    import threading
    import time

    from GmmSegLib.io import images

    class Stopped(BaseException):
        pass

    def stop(_signum, _frame):
        raise Stopped()

    renamed = []

    def replace_then_stop(source, target):
        os.rename(source, target)
        renamed.append(target)
        if len(renamed) == 1:  # arrives while the second file still waits, through a thread running already
            first_renamed.set()
            time.sleep(0.2)

    first_renamed = threading.Event()
    sender = threading.Thread(target=lambda: first_renamed.wait(30) and os.kill(os.getpid(), signal.SIGTERM))
    sender.start()
    previous = signal.signal(signal.SIGTERM, stop)
    monkeypatch.setattr(images.os, "replace", replace_then_stop)
    try:
        with pytest.raises(Stopped):
            with AtomicOutputs(tmp_path / "out") as outputs:
                outputs.add_bytes("a.json", b"{}")
                outputs.add_bytes("b.json", b"{}")
    finally:
        first_renamed.set()
        sender.join()
        signal.signal(signal.SIGTERM, previous)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json", "b.json"]


def test_a_stop_just_after_a_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl+C arriving the instant ``mkstemp`` returns (before the file is listed for removal) must not leave the
    hidden file behind: CI once found one after a SIGTERM."""
    import signal
    import tempfile

    from GmmSegLib.io import images

    make = tempfile.mkstemp

    def make_then_interrupt(*args, **kwargs):
        made = make(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # Python runs the handler at the next instruction: still inside here
        return made

    monkeypatch.setattr(images.tempfile, "mkstemp", make_then_interrupt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with AtomicOutputs(tmp_path / "out") as outputs:
                outputs.add_bytes("a.json", b"{}")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_outputs_publish_all_or_nothing(tmp_path):
    geometry = Geometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
    with pytest.raises(RuntimeError):
        with AtomicOutputs(tmp_path / "out") as outputs:
            outputs.add_image("a_seg.nii.gz", to_sitk(np.zeros((2, 3, 4), np.uint8), geometry))
            outputs.add_bytes("a.json", b"{}")
            raise RuntimeError("simulated failure half-way")
    assert list((tmp_path / "out").iterdir()) == []
    with AtomicOutputs(tmp_path / "out") as outputs:
        outputs.add_image("a_seg.nii.gz", to_sitk(np.zeros((2, 3, 4), np.uint8), geometry))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_seg.nii.gz"]


_WRITE_UNDER_LIMIT = """
import resource, signal, sys
import numpy as np
from GmmSegLib.core.errors import OutputError
from GmmSegLib.io.images import AtomicOutputs, Geometry, to_sitk
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
noise = np.random.default_rng(0).random((8, 64, 64)).astype(np.float32)  # 131 kB that gzip cannot shrink
try:
    with AtomicOutputs(sys.argv[1]) as outputs:
        outputs.add_image(sys.argv[2], to_sitk(noise, Geometry((1.0,) * 3, (0.0,) * 3, tuple(np.eye(3).ravel()))))
except OutputError as error:
    print(error)
    sys.exit(1)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="file-size limits are POSIX")
@pytest.mark.parametrize("name", ["map.nii.gz", "map.nii", "map.nrrd"])
def test_an_image_cut_short_by_the_system_is_an_output_error_and_not_published(tmp_path, name):
    """ITK's NIfTI writer returns after a short write; the NRRD writer raises ITK's own report: both must become
    one ``OutputError`` naming the file, with nothing published."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _WRITE_UNDER_LIMIT, str(tmp_path), name], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"{tmp_path / name}: could not be written") and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_most_probable_class_is_argmax_with_first_on_ties():
    probabilities = torch.rand(3, 4, 9, 11)
    assert torch.equal(most_probable_class(probabilities), probabilities.argmax(1))
    assert torch.equal(most_probable_class(probabilities[0], 0), probabilities[0].argmax(0))
    tied = torch.zeros(2, 4, 3, 3)
    tied[:, 1] = tied[:, 3] = 0.5
    assert most_probable_class(tied).unique().tolist() == [1]


def test_label_conventions_are_mapped_explicitly(tmp_path):
    acdc_labels = np.array([0, 1, 2, 3])
    assert to_product_labels(acdc_labels, "acdc").tolist() == [0, 3, 2, 1]
    assert to_product_labels(acdc_labels, "product").tolist() == [0, 1, 2, 3]
    with pytest.raises(InputError, match="label values 5 are not part of"):
        to_product_labels(np.array([0, 5]), "acdc")
    with pytest.raises(InputError, match=r"4, 5, .*, 11, \.\.\. \(996 values\).*image rather than a label map"):
        to_product_labels(np.arange(1000), "acdc")  # an image given where labels belong: a short message
    with pytest.raises(InputError, match="unknown label convention"):
        to_product_labels(acdc_labels, "mnms")
    path = tmp_path / "labels.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((2, 3, 4), 0.5, np.float32)), str(path))
    with pytest.raises(InputError, match="not a label map"):
        read_label_volume(path)


def test_image_stem():
    assert image_stem("/a/patient001_frame01.nii.gz") == "patient001_frame01"
    assert image_stem("b.nrrd") == "b"


# ---- NIfTI headers: what is read is what the user named, on the geometry the header defines -------------------
# field offsets of a NIfTI-1 header (nifti1.h), written here independently of the product's reader
PIXDIM, QFORM_CODE, SFORM_CODE, SROW = (76, "<8f"), (252, "<h"), (254, "<h"), (280, "<12f")


def _nifti(path, array=None, spacing=(1.4, 1.4, 8.0), **fields):
    """An uncompressed NIfTI-1 file written by ITK, then with header ``fields`` = ((offset, format), values)."""
    import struct

    array = _volume((4, 5, 6)) if array is None else array
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    data = bytearray(path.read_bytes())
    for (offset, fmt), values in fields.values():
        struct.pack_into(fmt, data, offset, *values)
    path.write_bytes(bytes(data))
    return path


def test_the_file_named_is_read_even_with_a_twin_of_the_other_nifti_suffix_beside_it(tmp_path):
    """ITK given scan.nii.gz with a scan.nii beside it took the header of one and the voxels of the other."""
    ed, es = _volume((4, 5, 6)), _volume((4, 5, 6)) * 0 + 7
    named = tmp_path / "scan.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(ed), str(named))
    sitk.WriteImage(sitk.GetImageFromArray(es), str(tmp_path / "scan.nii"))
    assert np.array_equal(read_cardiac_image(named).frames[0], ed)
    assert np.array_equal(read_cardiac_image(tmp_path / "scan.nii").frames[0], es)


@pytest.mark.parametrize("pixdim", [(1, 0.0, 1.4, 8), (1, -1.4, 1.4, 8), (1, 1.4, float("nan"), 8)])
def test_a_voxel_size_that_is_not_real_is_refused(tmp_path, pixdim):
    path = _nifti(tmp_path / "scan.nii", pixdim=(PIXDIM, (*pixdim, 0, 0, 0, 0)))
    with pytest.raises(InputError, match="not a real spacing"):
        read_cardiac_image(path)


def test_a_header_with_two_voxel_sizes_is_refused(tmp_path):
    srow = (-2.0, 0, 0, 10, 0, -2.0, 0, 20, 0, 0, 8, 30)  # the sform ITK would use says 2 mm, pixdim 1.4 mm
    path = _nifti(tmp_path / "scan.nii", q=(QFORM_CODE, (0,)), s=(SFORM_CODE, (1,)), srow=(SROW, srow))
    with pytest.raises(InputError, match="two voxel sizes"):
        read_cardiac_image(path)


def test_a_sform_orthonormal_to_rounding_is_read_orthonormalised_with_a_note(tmp_path, caplog):
    """As GE exports: no qform, an sform orthonormal to about 1e-4 (float32 rounding), which ITK refuses alone."""
    srow = (-1.4, 0.0002, 0, 10, 0, -1.4, 0, 20, 0, 0, 8, 30)
    path = _nifti(tmp_path / "scan.nii", q=(QFORM_CODE, (0,)), s=(SFORM_CODE, (1,)), srow=(SROW, srow))
    with caplog.at_level("WARNING", logger="gmmseg"):
        image = read_cardiac_image(path)
    direction = np.reshape(image.geometry.direction, (3, 3))
    assert np.allclose(direction @ direction.T, np.eye(3), atol=1e-6)  # orthonormal now
    assert np.allclose(image.geometry.spacing, (1.4, 1.4, 8.0), atol=1e-5)
    assert np.allclose(image.geometry.origin, (-10.0, -20.0, 30.0), atol=1e-4)  # RAS to ITK's LPS
    assert any("made orthonormal" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("shape", [(10, 12, 14), (3, 10, 12, 14)], ids=["stack", "cine"])
def test_a_ge_sform_without_qform_is_read_where_its_sform_puts_every_voxel(tmp_path, caplog, shape):
    """A real GE export (conftest's header, exactly): ITK refuses it, and ITK 5.4's permissive reading turns its
    rotation into the transposed one; it is read by the sform made orthonormal, with one warning line."""
    path = write_ge_sform_nifti(tmp_path / "ge.nii", _volume(shape))
    with caplog.at_level("WARNING", logger="gmmseg"):
        image = read_cardiac_image(path)
    assert image.frames.shape == (shape[0] if len(shape) == 4 else 1, 10, 12, 14)
    geometry = image.frame_volume(0).geometry
    spacing, origin = np.array(geometry.spacing), np.array(geometry.origin)
    direction = np.reshape(geometry.direction, (3, 3))
    assert np.allclose(direction @ direction.T, np.eye(3), atol=1e-6)
    assert np.allclose(spacing, GE_PIXDIM[1:4], atol=1e-5)
    sform = np.reshape(np.array(GE_SROW, np.float32).astype(float), (3, 4))
    corners = np.array([[i, j, k] for i in (0, 13) for j in (0, 11) for k in (0, 9)], float)
    where_read = origin + corners * spacing @ direction.T  # ITK's index to physical point (LPS)
    where_the_sform_says = (corners @ sform[:, :3].T + sform[:, 3]) * (-1, -1, 1)  # RAS to LPS
    assert np.abs(where_read - where_the_sform_says).max() < 0.05  # mm: no more than the rounding moves them
    notes = [record.getMessage() for record in caplog.records]
    assert len(notes) == 1 and str(path) in notes[0] and "sform" in notes[0] and "orthonormal" in notes[0]


def test_a_sheared_grid_is_refused(tmp_path):
    srow = (-1.4, 0.3, 0, 10, 0, -1.4, 0, 20, 0, 0, 8, 30)
    path = _nifti(tmp_path / "scan.nii", q=(QFORM_CODE, (0,)), s=(SFORM_CODE, (1,)), srow=(SROW, srow))
    with pytest.raises(InputError, match="sheared"):
        read_cardiac_image(path)


def test_a_sform_and_qform_that_disagree_are_reported_in_one_line(tmp_path, caplog):
    srow = (-1.4, 0, 0, 50, 0, -1.4, 0, 20, 0, 0, 8, 30)  # 50 mm away from the qform's origin
    path = _nifti(tmp_path / "scan.nii", q=(QFORM_CODE, (1,)), s=(SFORM_CODE, (2,)), srow=(SROW, srow))
    with caplog.at_level("WARNING", logger="gmmseg"):
        image = read_cardiac_image(path)
    notes = [record.getMessage() for record in caplog.records if "disagree" in record.getMessage()]
    assert len(notes) == 1 and "the qform is used" in notes[0]
    assert np.allclose(image.geometry.origin, (0.0, 0.0, 0.0))  # the qform's, as ITK (and Slicer) read it
