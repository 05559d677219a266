"""Dice and HD95 on shapes with known answers, and HD95 against MONAI's on cardiac phantoms."""

import numpy as np
import pytest

from GmmSegLib.evaluation.metrics import dice, hd95, structure_metrics, summarise


def test_dice_known_values():
    a = np.zeros((1, 10, 10), bool)
    b = np.zeros((1, 10, 10), bool)
    a[0, :, :5] = True
    b[0, :, :5] = True
    assert dice(a, b) == 1.0
    b[0, :, :] = False
    b[0, :, 5:] = True
    assert dice(a, b) == 0.0
    b[0, :, :] = False
    b[0, :5, :5] = True
    assert dice(a, b) == pytest.approx(2 * 25 / (50 + 25))
    assert dice(np.zeros(3), np.zeros(3)) == 1.0


def test_hd95_of_a_shifted_box_is_the_shift_in_mm():
    a = np.zeros((4, 40, 40), bool)
    a[1:3, 10:20, 10:20] = True
    b = np.roll(a, 3, axis=2)
    assert hd95(a, b, (10.0, 1.5, 1.5)) == pytest.approx(4.5)
    assert hd95(a, a, (10.0, 1.5, 1.5)) == 0.0
    assert np.isnan(hd95(a, np.zeros_like(a), (1.0, 1.0, 1.0)))


def test_hd95_between_two_voxels_is_their_distance_in_mm():
    a = np.zeros((5, 9, 9), bool)
    b = np.zeros_like(a)
    a[1, 2, 3] = True
    b[3, 5, 7] = True
    spacing = (8.0, 1.25, 1.5)
    assert hd95(a, b, spacing) == pytest.approx(np.sqrt((2 * 8.0) ** 2 + (3 * 1.25) ** 2 + (4 * 1.5) ** 2))


def test_hd95_counts_the_first_and_last_slices_as_surface():
    """A thick box against the same box one slice longer: the extra slice is 10 mm from the other's last slice,
    which is surface in 3D (step 1 of the module's definition), so some 5 % of distances are 10 mm."""
    a = np.zeros((8, 30, 30), bool)
    a[1:6, 5:25, 5:25] = True
    b = a.copy()
    b[6, 5:25, 5:25] = True
    assert hd95(a, b, (10.0, 1.0, 1.0)) == pytest.approx(10.0)
    assert hd95(b, a, (10.0, 1.0, 1.0)) == pytest.approx(10.0)  # symmetric


@pytest.mark.parametrize("seed", range(4))
def test_hd95_equals_monais_on_phantom_hearts(small_phantom, seed):
    """MONAI's compute_hausdorff_distance(percentile=95), on the phantom's labels against a damaged copy (shifted,
    a slice lost, the wall thickened or thinned) with the anisotropic spacing of a cine."""
    monai_metrics = pytest.importorskip("monai.metrics", reason="MONAI (a test dependency) checks HD95")
    import torch
    from scipy import ndimage

    generator = np.random.default_rng(seed)
    truth = small_phantom.labels[seed % small_phantom.labels.shape[0]]
    damaged = np.roll(truth, tuple(generator.integers(-3, 4, size=2)), axis=(1, 2))
    damaged[generator.integers(truth.shape[0])] = 0
    if seed % 2:  # the wall thickened outwards
        damaged = np.where(ndimage.binary_dilation(damaged == 2, iterations=2) & (damaged == 0), 2, damaged)
    else:  # the wall thinned: its outer layer becomes background
        damaged = np.where((damaged == 2) & ~ndimage.binary_erosion(damaged == 2, np.ones((1, 3, 3))), 0, damaged)
    spacing = (10.0, *small_phantom.image.spacing_xyz[1::-1])
    for value in (1, 2, 3):
        ours = hd95(damaged == value, truth == value, spacing)
        theirs = monai_metrics.compute_hausdorff_distance(
            torch.from_numpy(damaged == value)[None, None],
            torch.from_numpy(truth == value)[None, None],
            include_background=True,
            percentile=95,
            spacing=list(spacing),
        )
        assert np.isfinite(ours) and ours == pytest.approx(float(theirs), abs=1e-4), value


def test_structure_metrics_and_summary():
    truth = np.zeros((2, 20, 20), np.uint8)
    truth[:, 5:10, 5:10] = 1
    truth[:, 12:15, 12:15] = 3
    prediction = truth.copy()
    prediction[:, 12:15, 12:15] = 0  # RV missed
    row = structure_metrics(prediction, truth, (8.0, 1.0, 1.0))
    assert row["LV_dice"] == 1.0 and row["RV_dice"] == 0.0 and row["MYO_dice"] == 1.0
    assert np.isnan(row["RV_hd95"])
    summary = summarise([row, structure_metrics(truth, truth, (8.0, 1.0, 1.0))])
    assert summary["RV_dice"] == 0.5 and summary["RV_hd95"] == 0.0 and summary["RV_hd95_undefined"] == 1
    assert summary["mean_dice"] == pytest.approx((1 + 1 + 0.5) / 3)


def _label_folders(tmp_path, small_phantom, stems=("a", "b")):
    """Ground-truth folder of the phantom's first frame (one file per stem) and an empty prediction folder."""
    import SimpleITK as sitk

    from GmmSegLib.io.images import to_sitk

    volume = small_phantom.image.frame_volume(0)
    truth, predictions = tmp_path / "gt", tmp_path / "pred"
    truth.mkdir()
    predictions.mkdir()
    image = to_sitk(small_phantom.labels[0].astype(np.uint8), volume.geometry)
    for stem in stems:
        sitk.WriteImage(image, str(truth / f"{stem}_gt.nii.gz"))
    return truth, predictions, image


def test_evaluate_compares_in_physical_space(tmp_path, small_phantom):
    """A prediction stored mirrored or transposed (the same voxels in space) scored Dice 0.03; one 100 mm away
    scored as if it lay on the ground truth."""
    import SimpleITK as sitk

    from GmmSegLib.core.errors import InputError
    from GmmSegLib.evaluation.folders import evaluate_folders

    truth, predictions, image = _label_folders(tmp_path, small_phantom, stems=("a",))
    for stored in (
        sitk.Flip(image, (True, False, False)),
        sitk.PermuteAxes(sitk.Flip(image, (False, True, True)), (1, 0, 2)),
    ):
        sitk.WriteImage(stored, str(predictions / "a_seg.nii.gz"))
        rows, summary = evaluate_folders(predictions, truth)
        assert summary["mean_dice"] == 1.0 and rows[0]["spacing_mm"] == "x".join(f"{s:g}" for s in image.GetSpacing())
    moved = sitk.Image(image)
    moved.SetOrigin(np.add(image.GetOrigin(), (100.0, 0.0, 0.0)).tolist())
    sitk.WriteImage(moved, str(predictions / "a_seg.nii.gz"))
    with pytest.raises(InputError, match=r"not on the grid of .*a_gt.nii.gz \(field of view 100.0 mm away"):
        evaluate_folders(predictions, truth)
    finer = sitk.Image(image)
    finer.SetSpacing((1.0, 1.0, image.GetSpacing()[2]))
    sitk.WriteImage(finer, str(predictions / "a_seg.nii.gz"))
    with pytest.raises(InputError, match="voxels of 1 x 1 x 8 mm against 1.5 x 1.5 x 8 mm"):
        evaluate_folders(predictions, truth)


def test_evaluate_scores_the_predictions_present_and_names_the_missing(tmp_path, small_phantom, caplog):
    """A missing prediction refused the whole evaluation; now the others are scored and the missing named."""
    import SimpleITK as sitk

    from GmmSegLib.core.errors import InputError
    from GmmSegLib.evaluation.folders import evaluate_folders

    truth, predictions, image = _label_folders(tmp_path, small_phantom, stems=("a", "b", "c"))
    with pytest.raises(InputError, match="no prediction for any of the 3 ground-truth files"):
        evaluate_folders(predictions, truth)
    sitk.WriteImage(image, str(predictions / "b_seg.nii.gz"))
    with caplog.at_level("WARNING", logger="gmmseg"):
        rows, summary = evaluate_folders(predictions, truth)
    assert [row["case"] for row in rows] == ["b"] and summary["mean_dice"] == 1.0
    assert [record.getMessage() for record in caplog.records] == [
        f"{predictions}: no prediction for 2 of 3 ground-truth files, left out of the scores: a, c"
    ]
