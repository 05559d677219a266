"""The case summary: one type whose JSON form is written and read in one place (clinical/case_summary.py)."""

from __future__ import annotations

import json

import pytest

from GmmSegLib.clinical.case_summary import CaseSummary, ModelUsed
from GmmSegLib.core.errors import InputError
from GmmSegLib.model.canonical_crop import CanonicalCrop
from GmmSegLib.model.phi import Phi


def _cine_summary() -> CaseSummary:
    return CaseSummary(
        "patient.nii.gz",
        2,
        (1.25, 1.25, 10.0),
        ModelUsed("gmmseg-acdc-v7", "ab" * 32, "model.pt", True),
        mirrored_storage=True,
        crop_recentrings=1,
        phi=[Phi.from_parameters(1.1, 2.0, -3.0, 4.0), Phi()],
        canonical_crop=CanonicalCrop(100.5, 90.25, 0.3, 1.25, 1.25, 224, 208, mirrored=True),
        slice_positions=[0.0, 0.5, 1.0],
        blank_slices=[2],
        slice_uncertainty=[[0.1, 0.2, 0.0], [0.3, 0.1, 0.0]],
        estimated_dice=[0.91, 0.88],
        unreliable_share={0: 0.02, 1: 0.05},
        unreliable_share_limit=0.1,
        end_systolic_lv_offset=-1.4,
        slice_disagreement={0: [3, 0, 0], 1: [5, 2, 0]},
        volumes_ml=[{"LV": 150.0, "MYO": 120.0, "RV": 160.0}, {"LV": 60.0, "MYO": 125.0, "RV": 80.0}],
        timings_s={"locate": 0.1},
        review_reasons=["slice 2 holds no image"],
        clinical_indices={"ed_frame": 0, "es_frame": 1},
    )


def test_a_summary_comes_back_from_its_json_whole():
    summary = _cine_summary()
    record = json.loads(json.dumps(summary.to_json()))
    assert CaseSummary.from_json(record) == summary
    assert record["canonical_frame"]["centre_x"] == 100.5 and record["unreliable_share"] == {"0": 0.02, "1": 0.05}
    assert record["slice_disagreement"] == {"0": [3, 0, 0], "1": [5, 2, 0]}
    assert record["review_advised"] is True and summary.frame_of_interest == 0
    assert record["phi"][0]["scale"] == pytest.approx(1.1) and record["model"]["verified"] is True


def test_the_json_keeps_the_keys_and_their_order_that_results_have_always_had():
    assert list(_cine_summary().to_json()) == [
        "input",
        "frames",
        "spacing_mm",
        "model",
        "mirrored_storage",
        "crop_recentrings",
        "phi",
        "canonical_frame",
        "slice_positions",
        "blank_slices",
        "slice_uncertainty",
        "estimated_dice",
        "implausible",
        "unreliable_share",
        "unreliable_share_limit",
        "slice_disagreement",
        "volumes_ml",
        "end_systolic_lv_offset",
        "volume_caveat",
        "timings_s",
        "review_reasons",
        "review_advised",
        "clinical_indices",
    ]
    volume = CaseSummary("a.nii.gz", 1, (1.0, 1.0, 8.0))
    assert "clinical_indices" not in volume.to_json() and "source" not in volume.to_json()


def test_a_summary_that_is_not_one_is_refused_naming_its_file(tmp_path):
    with pytest.raises(InputError, match="case.json: not the JSON summary of a gmmseg segmentation"):
        CaseSummary.from_json({"frames": 1}, "case.json")
    with pytest.raises(InputError, match="not the JSON summary"):
        CaseSummary.from_json({"input": "a", "frames": 1, "spacing_mm": [1, 1, 8], "phi": [{"scale": 2}]})
    path = tmp_path / "case.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="case.json: not the JSON summary"):
        CaseSummary.read(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="case.json: cannot be read as a case summary"):
        CaseSummary.read(path)
