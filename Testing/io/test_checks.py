"""Inputs that are not short-axis cardiac MR are refused with a clear reason."""

import numpy as np
import pytest

from GmmSegLib.core.errors import InputError
from GmmSegLib.io.checks import blank_slices, check_short_axis
from GmmSegLib.io.images import CardiacImage, Geometry


def _image(frames: np.ndarray, spacing=(1.5, 1.5, 8.0)) -> CardiacImage:
    geometry = Geometry(spacing, (0.0,) * len(spacing), tuple(np.eye(len(spacing)).ravel()))
    return CardiacImage(frames.astype(np.float32), geometry, "test-image")


def test_a_phantom_passes(phantom_volume, small_phantom):
    """A generated short-axis stack and cine are accepted, with no slice taken for blank."""
    for image in (phantom_volume, small_phantom.image):
        blank = check_short_axis(image)
        assert blank.shape == (image.frames.shape[1],) and not blank.any()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: np.where(a > 500, np.nan, a), "NaN"),
        (lambda a: np.zeros_like(a), "constant"),
        (lambda a: (a > 400).astype(np.float32) * 2, "label map"),
        (lambda a: a[:, :, :20, :20], "not a short-axis MR image"),
    ],
)
def test_bad_content_is_refused(phantom_volume, change, message):
    with pytest.raises(InputError, match=message):
        check_short_axis(_image(change(phantom_volume.frames.copy())))


def test_implausible_geometry_is_refused(phantom_volume):
    with pytest.raises(InputError, match="slice spacing"):
        check_short_axis(_image(phantom_volume.frames, (1.5, 1.5, 0.1)))
    with pytest.raises(InputError, match="column spacing"):
        check_short_axis(_image(phantom_volume.frames, (9.0, 9.0, 8.0)))
    with pytest.raises(InputError, match="not square"):
        check_short_axis(_image(phantom_volume.frames, (1.0, 2.0, 8.0)))
    ct_like = np.random.default_rng(0).normal(size=(1, 120, 64, 64))
    with pytest.raises(InputError, match="not a short-axis stack"):
        check_short_axis(_image(ct_like, (0.7, 0.7, 1.0)))


def test_cine_where_3d_is_required(small_phantom):
    with pytest.raises(InputError, match="4D cine"):
        check_short_axis(small_phantom.image, require_3d=True)


def test_empty_and_huge_are_refused():
    with pytest.raises(InputError, match="empty"):
        check_short_axis(_image(np.zeros((1, 0, 64, 64))))
    huge = np.broadcast_to(np.float32(1), (100, 40, 1024, 1024))  # a view: no memory is allocated
    image = CardiacImage(huge, Geometry((1.5, 1.5, 8.0, 1.0), (0.0,) * 4, tuple(np.eye(4).ravel())), "huge")
    with pytest.raises(InputError, match="too large"):
        check_short_axis(image)


def test_blank_slices_are_the_ones_without_an_image(phantom_volume):
    frames = phantom_volume.frames.copy()
    frames[:, 0] = 0.0  # zero-filled, as converters write a slice missing from a series
    frames[:, 3] = 250.0  # constant
    frames[:, 5] = frames[:, 5] * 1e-2 + 40.0  # faint, but an image: a hundredth of the stack's range
    expected = np.zeros(frames.shape[1], bool)
    expected[[0, 3]] = True
    np.testing.assert_array_equal(blank_slices(frames), expected)
    check_short_axis(_image(frames))  # some blank slices: still a stack to segment


def test_one_hot_voxel_neither_flattens_the_other_slices_nor_unblanks_its_own(phantom_volume):
    """Judged against the stack's range, one voxel at 1e6 made every other slice look flat (8 of 9 left out)."""
    frames = phantom_volume.frames.copy()
    frames[0, 2, 10, 10] = 1e6
    assert not blank_slices(frames).any()
    frames[0, 4] = 0.0
    frames[0, 4, 7, 7] = 1e6  # a zero-filled slice with a glitch in it is still blank
    np.testing.assert_array_equal(np.flatnonzero(blank_slices(frames)), [4])


def test_a_stack_of_only_constant_slices_is_refused(phantom_volume):
    levels = np.arange(phantom_volume.frames.shape[1], dtype=np.float32) * 10.0
    frames = np.broadcast_to(levels[None, :, None, None], phantom_volume.frames.shape)
    with pytest.raises(InputError, match="every slice is constant"):
        check_short_axis(_image(np.ascontiguousarray(frames)))
