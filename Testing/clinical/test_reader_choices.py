"""The reader's choices of frames and slice limits, and the EF range from the probabilities (phantom cine)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from GmmSegLib.clinical.indices import clinical_indices
from GmmSegLib.clinical.reader_choices import ReaderChoices
from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.core.labels import LV, MYO, RV


def lv_extent(labels: np.ndarray) -> tuple[int, int]:
    held = np.flatnonzero((labels == LV).any(axis=(1, 2)))
    return int(held[0]), int(held[-1])


def test_the_model_proposes_each_ventricles_slice_limits_and_nothing_is_manual(small_phantom):
    labels, spacing = small_phantom.labels, small_phantom.image.spacing_xyz
    indices = clinical_indices(labels, spacing)
    first, last = lv_extent(labels[indices.es_frame])
    assert (indices.slice_limits["LV ES"]["first"], indices.slice_limits["LV ES"]["last"]) == (first, last)
    assert not indices.slice_limits["LV ES"]["manual"] and indices.manual_choices == []
    assert indices.lv_ef_range is None  # no probabilities, no range


def test_a_basal_slice_left_out_at_es_raises_the_ef_by_its_cavity_and_says_so(small_phantom):
    labels, spacing = small_phantom.labels, small_phantom.image.spacing_xyz
    automatic = clinical_indices(labels, spacing)
    es = automatic.es_frame
    first, last = lv_extent(labels[es])
    voxel_ml = np.prod(spacing) / 1000
    basal_cavity_ml = (labels[es, first] == LV).sum() * voxel_ml
    confirmed = clinical_indices(labels, spacing, choices=ReaderChoices(limits={"LV ES": (first + 1, last)}))
    assert confirmed.lv_esv == pytest.approx(automatic.lv_esv - basal_cavity_ml)
    assert confirmed.lv_edv == pytest.approx(automatic.lv_edv) and confirmed.lv_ef > automatic.lv_ef
    assert confirmed.lv_mass == pytest.approx(automatic.lv_mass)  # the mass is counted at ED
    assert confirmed.rv_esv == pytest.approx(automatic.rv_esv)  # the RV keeps its own limits
    assert confirmed.slice_limits["LV ES"] == {**confirmed.slice_limits["LV ES"], "first": first + 1, "manual": True}
    assert confirmed.manual_choices == [f"LV ES slices {first + 1}-{last}"]
    assert confirmed.volumes_ml["LV"][es] == pytest.approx(confirmed.lv_esv)  # the curve shows what was counted
    again = clinical_indices(labels, spacing, choices=ReaderChoices.from_dict(confirmed.reader_choices))
    assert again.lv_ef == pytest.approx(confirmed.lv_ef)


def test_lv_limits_at_ed_bound_the_myocardium_counted_for_the_mass(small_phantom):
    labels, spacing = small_phantom.labels, small_phantom.image.spacing_xyz
    first, last = lv_extent(labels[0])
    confirmed = clinical_indices(labels, spacing, choices=ReaderChoices(limits={"LV ED": (first, last - 1)}))
    voxel_ml = np.prod(spacing) / 1000
    kept_myocardium = (labels[0, :last] == MYO).sum() * voxel_ml
    assert confirmed.lv_mass == pytest.approx(kept_myocardium * 1.05)


def test_an_excluded_slice_counts_for_no_structure_and_chosen_frames_are_used(small_phantom):
    labels, spacing = small_phantom.labels, small_phantom.image.spacing_xyz
    middle = labels.shape[1] // 2
    choices = ReaderChoices(ed_frame=1, es_frame=2, excluded={"ED": [middle]})
    indices = clinical_indices(labels, spacing, choices=choices)
    voxel_ml = np.prod(spacing) / 1000
    assert (indices.ed_frame, indices.es_frame) == (1, 2)
    expected_rv = ((labels[1] == RV).sum() - (labels[1, middle] == RV).sum()) * voxel_ml
    assert indices.rv_edv == pytest.approx(expected_rv)
    assert indices.manual_choices == ["ED frame 1", "ES frame 2", f"ED slice {middle} excluded"]


@pytest.mark.parametrize(
    "choices, message",
    [
        (ReaderChoices(ed_frame=7), "ED frame 7 does not exist"),
        (ReaderChoices(ed_frame=1, es_frame=1), "the same frame"),
        (ReaderChoices(limits={"LV ES": (5, 2)}), "first <= last"),
        (ReaderChoices(limits={"LV mid": (0, 2)}), "unknown slice limits"),
        (ReaderChoices(excluded={"ED": [99]}), "excluded slices"),
    ],
)
def test_choices_naming_what_the_segmentation_lacks_are_refused(small_phantom, choices, message):
    with pytest.raises(GmmSegError, match=message):
        clinical_indices(small_phantom.labels, small_phantom.image.spacing_xyz, choices=choices)


def soft_probabilities(labels: np.ndarray, sureness: float) -> np.ndarray:
    """(T, K, Z, Y, X) probabilities that put ``sureness`` on each voxel's label, the rest spread evenly."""
    probabilities = np.full(labels.shape[:1] + (4,) + labels.shape[1:], (1 - sureness) / 3, np.float32)
    np.put_along_axis(probabilities, labels[:, None].astype(np.int64), sureness, axis=1)
    return probabilities


def test_the_ef_range_widens_with_the_uncertain_voxels_and_holds_the_ef(small_phantom):
    labels, spacing = small_phantom.labels, small_phantom.image.spacing_xyz
    sure = clinical_indices(labels, spacing, probabilities=soft_probabilities(labels, 0.999))
    assert sure.lv_ef_range[0] == pytest.approx(sure.lv_ef, abs=0.1) == pytest.approx(sure.lv_ef_range[1], abs=0.1)
    blurred = soft_probabilities(labels, 0.999)
    for frame in range(labels.shape[0]):  # the cavity's border unsure: half of its neighbours possibly cavity
        from scipy import ndimage

        border = ndimage.binary_dilation(labels[frame] == LV) & (labels[frame] != LV)
        blurred[frame, LV][border] = 0.5
    unsure = clinical_indices(labels, spacing, probabilities=blurred)
    low, high = unsure.lv_ef_range
    assert low < unsure.lv_ef < high and high - low > 2.0
    assert sure.slice_limits["LV ED"]["first_confidence"] == pytest.approx(0.999, abs=1e-3)
    # a model never sure of a cavity (its probability there stops below 1 - EF_RANGE_PROBABILITY) bounds no EF
    never_sure = clinical_indices(labels, spacing, probabilities=soft_probabilities(labels, 0.9))
    assert never_sure.lv_ef_range is None and never_sure.lv_ef == pytest.approx(sure.lv_ef)
    plain = clinical_indices(labels, spacing)  # the CSV has the same columns with and without probabilities
    assert sure.summary_csv().splitlines()[0] == plain.summary_csv().splitlines()[0]
    assert "range" not in plain.summary_csv().splitlines()[0]


@pytest.mark.slow
def test_gmmseg_report_takes_the_readers_choices_and_refuses_bad_ones(tmp_path, small_phantom):
    import SimpleITK as sitk

    from GmmSegLib.io.images import to_sitk

    image, labels = small_phantom.image, small_phantom.labels
    cine = tmp_path / "case_seg.nii.gz"
    sitk.WriteImage(to_sitk(labels, image.geometry), str(cine))
    es = small_phantom.es_frame
    first, last = lv_extent(labels[es])

    def report(*options):
        return subprocess.run(
            [sys.executable, "-m", "GmmSegLib.cli", "report", str(cine), *options],
            capture_output=True,
            text=True,
            cwd=ROOT / "GmmSegModule",
            timeout=300,
        )

    done = report("--lv-es-slices", f"{first + 1}-{last}", "--exclude-slice", "ED:0")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["manual_choices"] == [f"LV ES slices {first + 1}-{last}", "ED slice 0 excluded"]
    record = json.loads((tmp_path / "case_indices.json").read_text())["indices"]
    assert record["reader_choices"]["limits"] == {"LV ES": [first + 1, last]}
    for options, message in (
        (["--lv-es-slices", "9-x"], "give the first and last slice"),
        (["--exclude-slice", "mid:3"], "give the phase and the slice"),
        (["--es-frame", "40"], "ES frame 40 does not exist"),
    ):
        refused = report(*options)
        assert refused.returncode != 0 and message in refused.stderr and "Traceback" not in refused.stderr
