"""An epoch's training batches, in step order, drawn in the training process or in worker processes.

Drawing a batch (cutting, turning and augmenting 16 crops: :func:`GmmSegLib.training.sampling.draw_batch`) takes
about 0.15 s of one CPU core. On the CPU that is a tenth of a training step; on a GPU it is most of it, the GPU
waiting for the next batch. Each step's batch comes from its own generator, seeded by the run's seed, the stage, the
epoch, the step and the rank (:func:`step_seed`), so a run draws the same batches whether they are drawn in the
training process or in ``--loader-workers N`` worker processes (torch's DataLoader, one thread each, batches handed
back in step order while the training process computes).

Workers are forked from the training process, which hands them the stage's sampler without pickling it; where a
process cannot fork (Windows) the trainer refuses workers (:func:`GmmSegLib.training.config.workers_possible`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch
from torch.utils.data import DataLoader, Dataset

BatchT = TypeVar("BatchT")


def step_seed(seed: int, stage_index: int, epoch: int, step: int, rank: int = 0) -> int:
    """The seed of one step's batch: different for every (run seed, stage, epoch, step, rank), fixed across runs."""
    return ((seed * 1_000_003 + stage_index * 10_007 + epoch * 101 + rank) * 100_003 + step) % (2**63)


class _EpochBatches(Dataset):
    """The epoch's batches as a dataset, the index being the step."""

    def __init__(self, draw: Callable[[torch.Generator], BatchT], seeds: Sequence[int]):
        self.draw, self.seeds = draw, list(seeds)

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, step: int) -> BatchT:
        return self.draw(torch.Generator().manual_seed(self.seeds[step]))


def epoch_batches(
    draw: Callable[[torch.Generator], BatchT], seeds: Sequence[int], workers: int = 0
) -> Iterator[BatchT]:
    """The batches ``draw`` makes from each seed, in order: drawn here one by one (``workers`` 0), or by that many
    forked worker processes ahead of the step that uses them (the same batches either way)."""
    batches = _EpochBatches(draw, seeds)
    if workers <= 0:
        return (batches[step] for step in range(len(batches)))
    loader = DataLoader(
        batches,
        batch_size=None,  # each item is already a batch
        num_workers=min(workers, len(batches)),
        multiprocessing_context="fork",
        prefetch_factor=2,
        # the workers' own base seed, which the batches do not use, from here rather than from torch's global
        # generator, which the losses draw from (the registration stage's random phi)
        generator=torch.Generator().manual_seed(0),
    )
    return iter(loader)
