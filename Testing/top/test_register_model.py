"""scripted_training/register_model.py records the split a checkpoint was really trained on (from its training
configuration), the review constants of bench_review_queue.py's output and the end-systolic correction of
bench_end_systole.py's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the registry script loads the checkpoint (torch)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripted_training"))

from register_model import (  # noqa: E402
    EVERY_PATIENT,
    PROJECT_SPLIT,
    end_systolic_correction,
    review_calibration,
    speed,
    split_of,
)


def test_the_split_follows_the_training_configuration():
    assert split_of({"folds": 2, "held_out_fold": 1}) == PROJECT_SPLIT
    assert split_of({}) == PROJECT_SPLIT  # checkpoints from before cross-validation: the project's split
    assert split_of({"folds": 2, "held_out_fold": None}) == EVERY_PATIENT
    assert "outside fold 3 of 5" in split_of({"folds": 5, "held_out_fold": 3})


def test_the_review_constants_are_those_the_bench_applies_to_every_fold(tmp_path):
    bench = tmp_path / "review_queue.json"
    constants = {"temperature": 1.7, "basal_weight": 2.5, "review_dice": 0.85, "checked_dice_weights": [-1.0, 0.5, 1.5]}
    bench.write_text(json.dumps({"per_model_fold": {}, "with_shipped_constants": {"constants": constants}}))
    entry = {"review_calibration": review_calibration(bench, "both folds")}
    assert entry["review_calibration"] == {**constants, "fitted_on": "both folds"}
    # as the product reads it back
    from GmmSegLib.clinical.error_estimate import ReviewCalibration

    calibration = ReviewCalibration.of_model(entry)
    assert calibration.checked_dice_weights == (-1.0, 0.5, 1.5) and calibration.review_dice == 0.85


def test_the_speed_record_names_the_machine_and_the_commit_the_bench_measured(tmp_path):
    bench = tmp_path / "bench.json"
    measured = {
        "machine": {"cpu": "x86_64", "threads": 2, "torch": "2.13.0", "device": "cpu"},
        "volume_10_slices_end_to_end_s": 0.52,
        "cine_20_frames_end_to_end_s": 4.77,
    }
    bench.write_text(json.dumps(measured))
    assert speed(bench, "5f83435") == {
        "machine": "x86_64 cpu, torch 2.13.0, 2 threads",
        "volume_10_slices_s": 0.52,
        "cine_20_frames_s": 4.77,
        "git_commit": "5f83435",
    }


def test_the_end_systolic_correction_is_the_offset_chosen_on_every_patient_with_what_it_was_fitted_on(tmp_path):
    from GmmSegLib.inference.end_systole import lv_log_offset_of

    bench = tmp_path / "end_systole.json"
    fitted = {
        "predictions": ["runs/oof_clean"],
        "patients": 50,
        "rule": "the offset whose mean end-systolic LV volume error is closest to 0",
        "offset_per_cv_fold": [-1.0, -1.7, -1.4],
        "offset_on_all": -1.4,
    }
    bench.write_text(json.dumps(fitted))
    entry = {"end_systolic_correction": end_systolic_correction(bench)}
    assert lv_log_offset_of(entry) == -1.4
    assert "runs/oof_clean (50 patients)" in entry["end_systolic_correction"]["fitted_on"]
    assert "CV folds -1.7 to -1.0" in entry["end_systolic_correction"]["fitted_on"]
