"""Training batches drawn per step from their own seed, in the training process or in worker processes."""

from __future__ import annotations

import multiprocessing
import os
import re

import pytest
import torch

from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.training.batch_stream import epoch_batches, step_seed
from GmmSegLib.training.config import TrainConfig, check_config, workers_possible


def _draw(generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """A stand-in sampler: random numbers from the step's generator, and the process that drew them."""
    return torch.rand(5, generator=generator), os.getpid()


def test_every_step_of_every_stage_epoch_and_rank_has_its_own_seed():
    seeds = {
        step_seed(42, stage, epoch, step, rank)
        for stage in range(9)
        for epoch in range(120)
        for step in range(50)
        for rank in range(2)
    }
    assert len(seeds) == 9 * 120 * 50 * 2
    assert step_seed(42, 2, 7, 3) == step_seed(42, 2, 7, 3) != step_seed(43, 2, 7, 3)


@pytest.mark.skipif(not workers_possible(), reason="this system cannot fork worker processes")
def test_workers_draw_the_same_batches_in_the_same_order_as_the_training_process():
    seeds = [step_seed(42, 2, 0, step) for step in range(7)]
    here = list(epoch_batches(_draw, seeds))
    in_workers = list(epoch_batches(_draw, seeds, workers=2))
    assert len(in_workers) == 7
    for (numbers, _), (numbers_in_worker, _) in zip(here, in_workers, strict=True):
        assert torch.equal(numbers, numbers_in_worker)
    assert {pid for _, pid in here} == {os.getpid()}
    assert os.getpid() not in {pid for _, pid in in_workers}  # drawn elsewhere, handed back in step order
    assert not torch.equal(here[0][0], here[1][0])  # every step its own batch


def test_workers_are_refused_where_no_process_can_fork(tmp_path, monkeypatch):
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])  # as on Windows
    config = TrainConfig(out=str(tmp_path / "m.pt"), work=str(tmp_path / "w"), loader_workers=2)
    with pytest.raises(GmmSegError, match=re.escape("--loader-workers needs a system that forks processes")):
        check_config(config)
    check_config(TrainConfig(out=str(tmp_path / "m.pt"), work=str(tmp_path / "w"), loader_workers=0))


@pytest.mark.skipif(not workers_possible(), reason="this system cannot fork worker processes")
def test_drawing_in_workers_leaves_torchs_global_generator_as_it_was():
    """The losses draw from torch's global generator (the registration stage's random phi): starting the workers
    must not move it, or a run with workers would train otherwise than one without."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert len(list(epoch_batches(_draw, [1, 2, 3], workers=2))) == 3
    assert torch.equal(torch.rand(3), expected)
