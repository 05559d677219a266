"""Clinical indices on the phantom, whose volumes and ejection fraction are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from GmmSegLib.clinical.case_summary import CaseSummary
from GmmSegLib.clinical.indices import clinical_indices
from GmmSegLib.core.errors import GmmSegError


def test_phantom_indices_are_exact(small_phantom):
    labels = small_phantom.labels
    spacing = small_phantom.image.spacing_xyz
    voxel_ml = np.prod(spacing) / 1000
    indices = clinical_indices(labels, spacing)
    lv = [(frame == 1).sum() * voxel_ml for frame in labels]
    assert indices.ed_frame == int(np.argmax(lv)) == 0
    assert indices.es_frame == int(np.argmin(lv)) == small_phantom.es_frame
    assert indices.lv_edv == pytest.approx(lv[0]) and indices.lv_esv == pytest.approx(lv[small_phantom.es_frame])
    assert indices.lv_ef == pytest.approx(100 * (lv[0] - lv[small_phantom.es_frame]) / lv[0])
    assert indices.lv_mass == pytest.approx((labels[0] == 2).sum() * voxel_ml * 1.05)
    assert 30 < indices.lv_ef < 80 and 0 < indices.rv_ef < 80
    assert len(indices.slice_areas_mm2["LV"]) == labels.shape[0]
    assert "lv_ef" in indices.summary_csv().splitlines()[0]


def test_given_frames_and_errors(small_phantom):
    spacing = small_phantom.image.spacing_xyz
    indices = clinical_indices(small_phantom.labels, spacing, ed_frame=1, es_frame=2)
    assert (indices.ed_frame, indices.es_frame) == (1, 2)
    with pytest.raises(GmmSegError, match="does not exist"):
        clinical_indices(small_phantom.labels, spacing, es_frame=9)
    with pytest.raises(GmmSegError, match="two frames"):
        clinical_indices(small_phantom.labels[:1], spacing)
    with pytest.raises(GmmSegError, match="no LV"):
        clinical_indices(np.zeros_like(small_phantom.labels), spacing)
    middle = small_phantom.labels.shape[1] // 2
    with pytest.raises(GmmSegError, match="LV is in 1 slice"):  # a single-slice cine: an area, not a volume
        clinical_indices(small_phantom.labels[:, middle : middle + 1], spacing)


def test_report_from_a_cine_and_from_two_phases(tmp_path, small_phantom):
    import json

    import SimpleITK as sitk

    from GmmSegLib.clinical.report import report_case
    from GmmSegLib.core.errors import InputError
    from GmmSegLib.io.images import to_sitk

    image = small_phantom.image
    cine = tmp_path / "case_seg.nii.gz"
    sitk.WriteImage(to_sitk(small_phantom.labels, image.geometry), str(cine))
    (tmp_path / "case.json").write_text(_summary_json([[0.1, 0.5, 0.0], [0.2, 0.0, 0.3]]))
    result = report_case(cine, None, None, None)
    assert result["indices"]["es_frame"] == small_phantom.es_frame
    summary = result["uncertainty"]  # from the case.json that gmmseg segment writes beside the labels
    assert summary["mean_slice_uncertainty"] == pytest.approx(0.275)  # over the slices with heart
    assert [(s["frame"], s["slice"]) for s in summary["most_uncertain"][:3]] == [(0, 1), (1, 2), (1, 0)]
    assert (tmp_path / "case_volumes.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "case_indices.json").read_text())["indices"]["lv_ef"] == result["indices"]["lv_ef"]
    volume = image.frame_volume(0)
    ed, es = tmp_path / "ed_seg.nii.gz", tmp_path / "es_seg.nii.gz"
    sitk.WriteImage(to_sitk(small_phantom.labels[0], volume.geometry), str(ed))
    sitk.WriteImage(to_sitk(small_phantom.labels[small_phantom.es_frame], volume.geometry), str(es))
    two = report_case(None, ed, es, tmp_path / "two")
    assert two["indices"]["lv_ef"] == pytest.approx(result["indices"]["lv_ef"])
    with pytest.raises(InputError, match="3D"):
        report_case(None, cine, es, None)
    with pytest.raises(InputError, match="4D cine"):
        report_case(ed, None, None, None)


def test_a_ventricle_missing_at_a_phase_has_no_ejection_fraction(tmp_path, small_phantom):
    import json

    import SimpleITK as sitk

    from conftest import gmmseg
    from GmmSegLib.clinical.report import report_case
    from GmmSegLib.core.labels import LV, RV
    from GmmSegLib.io.images import to_sitk

    labels = small_phantom.labels[[0, small_phantom.es_frame]].copy()
    labels[1][labels[1] == LV] = 0  # an LV erased at ES: not an EF of 100 %
    labels[labels == RV] = 0  # no RV at all: no RVEF rather than NaN
    indices = clinical_indices(labels, small_phantom.image.spacing_xyz, ed_frame=0, es_frame=1)
    assert indices.lv_ef is None and indices.rv_ef is None and indices.lv_esv == 0 and indices.lv_edv > 0
    assert indices.warnings == [
        "no LV cavity at ES (frame 1): LVEF not computed",
        "no RV cavity at ED (frame 0) and ES (frame 1): RVEF not computed",
    ]
    assert ",lv_ef," in indices.summary_csv().splitlines()[0] and ",," in indices.summary_csv().splitlines()[1]

    volume = small_phantom.image.frame_volume(0)
    ed, es = tmp_path / "ed_seg.nii.gz", tmp_path / "es_seg.nii.gz"
    for path, frame in ((ed, labels[0]), (es, labels[1])):
        sitk.WriteImage(to_sitk(frame, volume.geometry), str(path))
    report_case(None, ed, es, tmp_path / "report")

    def refuse(constant: str):
        raise AssertionError(f"{constant} written: not valid JSON")

    written = json.loads((tmp_path / "report" / "ed_indices.json").read_text(), parse_constant=refuse)
    assert written["indices"]["lv_ef"] is None and len(written["indices"]["warnings"]) == 2
    command = gmmseg("report", "--ed", ed, "--es", es, "--out", tmp_path / "cli")
    assert command.returncode == 0 and "gmmseg: warning: no LV cavity at ES" in command.stderr
    assert json.loads(command.stdout, parse_constant=refuse)["warnings"] == indices.warnings


def _phase_files(folder, small_phantom) -> tuple:
    import SimpleITK as sitk

    from GmmSegLib.io.images import to_sitk

    volume = small_phantom.image.frame_volume(0)
    ed, es = folder / "ed_seg.nii.gz", folder / "es_seg.nii.gz"
    sitk.WriteImage(to_sitk(small_phantom.labels[0], volume.geometry), str(ed))
    sitk.WriteImage(to_sitk(small_phantom.labels[small_phantom.es_frame], volume.geometry), str(es))
    return ed, es


def test_phases_given_the_wrong_way_round_are_taken_in_cardiac_order_with_a_warning(tmp_path, small_phantom):
    """--ed ES --es ED gave LVEF -15 %, a negative SV and the LV mass of ES, silently."""
    from conftest import gmmseg
    from GmmSegLib.clinical.report import report_case

    ed, es = _phase_files(tmp_path, small_phantom)
    truth = clinical_indices(small_phantom.labels, small_phantom.image.spacing_xyz)
    swapped = report_case(None, es, ed, tmp_path / "swapped")
    assert swapped["indices"]["lv_ef"] == pytest.approx(truth.lv_ef) and swapped["indices"]["lv_sv"] > 0
    assert swapped["indices"]["lv_mass"] == pytest.approx(truth.lv_mass)
    assert len(swapped["warnings"]) == 1 and "look swapped" in swapped["warnings"][0]
    command = gmmseg("report", "--ed", es, "--es", ed, "--out", tmp_path / "cli")
    warnings = [line for line in command.stderr.splitlines() if line.startswith("gmmseg: warning:")]
    assert command.returncode == 0 and len(warnings) == 1 and "ed_seg.nii.gz was taken as ED" in warnings[0]
    assert not report_case(None, ed, es, tmp_path / "right")["warnings"]


def test_two_phases_report_the_uncertainty_of_the_segment_jsons_beside_them(tmp_path, small_phantom):

    from GmmSegLib.clinical.report import report_case

    ed, es = _phase_files(tmp_path, small_phantom)
    (tmp_path / "ed.json").write_text(_summary_json([[0.1, 0.4, 0.0]]))
    assert report_case(None, ed, es, tmp_path / "one")["uncertainty"] is None  # ES's JSON is not there
    (tmp_path / "es.json").write_text(_summary_json([[0.2, 0.0, 0.3]]))
    summary = report_case(None, ed, es, tmp_path / "both")["uncertainty"]
    assert summary["mean_slice_uncertainty"] == pytest.approx(0.25)
    assert [(s["frame"], s["slice"]) for s in summary["most_uncertain"][:3]] == [(0, 1), (1, 2), (1, 0)]
    summary = report_case(None, es, ed, tmp_path / "swapped")["uncertainty"]  # frames follow the phases taken
    assert [(s["frame"], s["slice"]) for s in summary["most_uncertain"][:3]] == [(0, 1), (1, 2), (1, 0)]


def test_one_phase_gives_the_volumes_and_the_lv_mass_and_no_ejection_fraction():
    from GmmSegLib.clinical.indices import index_label, single_phase_indices

    labels = np.zeros((2, 10, 10), np.uint8)
    labels[:, 2:4, 2:4] = 1  # 8 voxels of LV
    labels[:, 5:8, 5:8] = 2  # 18 voxels of myocardium
    indices = single_phase_indices(labels, (2.0, 2.0, 10.0))  # 0.04 ml a voxel
    assert indices == pytest.approx({"lv_volume": 0.32, "myo_volume": 0.72, "rv_volume": 0.0, "lv_mass": 0.72 * 1.05})
    # the words a reader sees, for a volume and a cine alike
    assert [index_label(key) for key in indices] == [
        "LV volume (ml)",
        "MYO volume (ml)",
        "RV volume (ml)",
        "LV mass (g)",
    ]
    assert index_label("lv_edv") == "LV EDV (ml)" and index_label("lv_ef") == "LVEF (%)"


def _summary_json(slice_uncertainty: list[list[float]]) -> str:
    """The JSON summary gmmseg segment writes beside the labels, with this per-slice uncertainty."""
    import json

    summary = CaseSummary("case", len(slice_uncertainty), (1.5, 1.5, 8.0), slice_uncertainty=slice_uncertainty)
    return json.dumps(summary.to_json())
