"""scripted_training/register_model.py records the split a checkpoint was really trained on (from its training
configuration) and the review constants of bench_review_queue.py's output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the registry script loads the checkpoint (torch)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripted_training"))

from register_model import EVERY_PATIENT, PROJECT_SPLIT, review_calibration, split_of  # noqa: E402


def test_the_split_follows_the_training_configuration():
    assert split_of({"folds": 2, "held_out_fold": 1}) == PROJECT_SPLIT
    assert split_of({}) == PROJECT_SPLIT  # checkpoints from before cross-validation: the project's split
    assert split_of({"folds": 2, "held_out_fold": None}) == EVERY_PATIENT
    assert "outside fold 3 of 5" in split_of({"folds": 5, "held_out_fold": 3})


def test_the_review_constants_are_those_the_bench_applies_to_every_fold(tmp_path):
    bench = tmp_path / "review_queue.json"
    constants = {"temperature": 1.7, "basal_weight": 2.5, "review_dice": 0.85}
    bench.write_text(json.dumps({"per_model_fold": {}, "with_shipped_constants": {"constants": constants}}))
    assert review_calibration(bench, "both folds") == {**constants, "fitted_on": "both folds"}
