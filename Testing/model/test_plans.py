"""A checkpoint carries the constants it was made with, and one made with other inference constants is refused."""

from __future__ import annotations

import pytest
import torch

from GmmSegLib.core.errors import ModelError
from GmmSegLib.model.bundle import GmmSegModel, atomic_torch_save, checkpoint_payload, load_model, save_model
from GmmSegLib.model.canonical_crop import CANONICAL_SIZE
from GmmSegLib.model.plans import current_plans, plan_differences
from GmmSegLib.model.registry import default_entry


def test_a_saved_model_carries_this_versions_plans_and_loads(tmp_path):
    path = tmp_path / "model.pt"
    save_model(GmmSegModel(), path)
    assert torch.load(path, weights_only=True)["plans"] == current_plans()
    load_model(path)


def test_a_model_made_with_another_crop_is_refused_naming_the_difference(tmp_path):
    payload = checkpoint_payload(GmmSegModel())
    payload["plans"]["inference"]["canonical_crop"]["size"] = 160
    path = tmp_path / "other_crop.pt"
    atomic_torch_save(payload, path)
    with pytest.raises(ModelError, match=rf"canonical_crop.size 160 \(this version: {CANONICAL_SIZE}\)"):
        load_model(path)


def test_constants_only_training_used_and_older_checkpoints_without_plans_are_read(tmp_path):
    payload = checkpoint_payload(GmmSegModel())
    payload["plans"]["training"]["prior_strength"] = 99.0  # how it learnt, not how it is read
    path = tmp_path / "other_training.pt"
    atomic_torch_save(payload, path)
    load_model(path)
    del payload["plans"]  # as gmmseg-acdc-v7 and older were saved
    atomic_torch_save(payload, tmp_path / "before_plans.pt")
    load_model(tmp_path / "before_plans.pt")
    shipped = default_entry()
    load_model(shipped.path, shipped.sha256)


def test_a_constant_one_side_lacks_is_a_difference():
    saved = current_plans()
    del saved["inference"]["heads"]["mean_bound"]
    saved["inference"]["atlas"]["new_constant"] = 3
    assert plan_differences(saved) == [
        "atlas.new_constant 3 (this version: absent)",
        "heads.mean_bound absent (this version: 5.0)",
    ]


def test_a_saved_model_is_an_ordinary_file_the_other_users_of_a_shared_folder_can_read(tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        path = tmp_path / "shared.pt"
        save_model(GmmSegModel(), path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert not list(tmp_path.glob(".*partial"))  # and no temporary file left beside it
