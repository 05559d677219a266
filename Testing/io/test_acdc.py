"""Checks on the real ACDC data (skipped with a reason when ../shared/data/acdc is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from GmmSegLib.core.errors import InputError
from GmmSegLib.evaluation.folders import evaluate_pair
from GmmSegLib.inference.localisation import locate_from_ground_truth
from GmmSegLib.inference.segmentation import segment
from GmmSegLib.io import acdc


def test_split_is_the_documented_one(acdc_dir):
    labelled, validation = acdc.split(acdc.list_cases(acdc_dir))
    assert len(labelled) == 50 and len(validation) == 50
    assert {c.patient for c in labelled}.isdisjoint({c.patient for c in validation})
    assert "patient001" in {c.patient for c in labelled} and "patient006" in {c.patient for c in validation}
    assert {c.group for c in validation} == {"DCM", "HCM", "MINF", "NOR", "ARV"}


@pytest.mark.parametrize("folds", [2, 5, 10])
def test_folds_cover_every_patient_once_with_every_pathology(acdc_dir, folds):
    cases = acdc.list_cases(acdc_dir)
    held_out = [acdc.split(cases, folds, fold)[1] for fold in range(folds)]
    assert sorted(c.case for part in held_out for c in part) == sorted(c.case for c in cases)
    for part in held_out:
        assert len({c.patient for c in part}) == 50 // folds
        assert {c.group for c in part} == {"DCM", "HCM", "MINF", "NOR", "ARV"}
        assert all(len({c.phase for c in part if c.patient == p}) == 2 for p in {c.patient for c in part})
    assert [c.case for c in acdc.split(cases, 2, 1)[1]] == [c.case for c in acdc.split(cases)[1]]


def test_no_fold_held_out_trains_on_every_patient(acdc_dir):
    cases = acdc.list_cases(acdc_dir)
    assert acdc.split(cases, 2, None) == (cases, [])


@pytest.mark.parametrize("folds, fold", [(1, 0), (11, 0), (5, 5), (5, -1)])
def test_a_fold_that_does_not_exist_is_refused(acdc_dir, folds, fold):
    with pytest.raises(InputError, match="fold"):
        acdc.split(acdc.list_cases(acdc_dir), folds, fold)


@pytest.mark.parametrize("case_name", ["patient006_frame01", "patient067_frame10"])
def test_shipped_model_on_validation_volumes(acdc_dir, shipped_model, case_name):
    model, _ = shipped_model
    case = next(c for c in acdc.list_cases(acdc_dir) if c.case == case_name)
    assert case in acdc.split(acdc.list_cases(acdc_dir))[1]
    image, labels = acdc.load_case(acdc_dir, case)
    result = segment(image, model, "cpu")
    metrics = evaluate_pair(result.labels[0], labels, image.spacing_xyz)
    assert metrics["LV_dice"] > 0.85 and metrics["MYO_dice"] > 0.7 and metrics["RV_dice"] > 0.7
    truth = locate_from_ground_truth(labels, image.spacing_xyz)
    error = np.hypot(*((result.location.lv_centre_xy - truth.lv_centre_xy) * np.array(image.spacing_xyz[:2])))
    assert error < 10.0
