"""Cohort-scale segmentation: the inputs of one ``gmmseg segment`` call shared out among processes.

A registry study or a biobank has thousands of cines. They are segmented by several processes at once, each
taking every N-th input (:class:`Shard`): ranks started by ``torchrun`` (``RANK``, ``WORLD_SIZE``) or the tasks
of a scheduler's job array (Slurm's ``SLURM_ARRAY_TASK_ID``; any other with ``--shard I/N``). Each input
belongs to exactly one shard, so it is written once, and with ``--skip-done`` a re-run leaves alone the inputs
whose outputs are there already (a case's files are published together, its JSON last). Processes on one
machine each get a GPU of their own (``LOCAL_RANK``), or on the CPU a disjoint set of cores
(:func:`cores_of_local_rank`), so that they do not slow each other down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..core.errors import InputError

Item = TypeVar("Item")


@dataclass(frozen=True)
class Shard:
    """The ``index``-th of ``count`` shares of the inputs (0-based): inputs index, index + count, ..."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"shard {self.index}/{self.count}: the index must be 0 to count - 1 (e.g. 0/4 .. 3/4)")

    @classmethod
    def parse(cls, text: str, environment: Mapping[str, str] | None = None) -> Shard:
        """``I/N``, or ``auto``: the launcher's or scheduler's (:meth:`from_environment`), else all inputs."""
        if text == "auto":
            return cls.from_environment(os.environ if environment is None else environment)
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise InputError(f"--shard {text}: give it as INDEX/COUNT (e.g. 0/4) or auto") from None
        return cls(index, count)

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> Shard:
        """torchrun's rank, else a Slurm job array's task, else the whole list."""
        try:
            if "WORLD_SIZE" in environment and "RANK" in environment:
                return cls(int(environment["RANK"]), int(environment["WORLD_SIZE"]))
            if "SLURM_ARRAY_TASK_ID" in environment and "SLURM_ARRAY_TASK_COUNT" in environment:
                first = int(environment.get("SLURM_ARRAY_TASK_MIN", "0"))
                step = int(environment.get("SLURM_ARRAY_TASK_STEP", "1"))
                return cls(
                    (int(environment["SLURM_ARRAY_TASK_ID"]) - first) // step,
                    int(environment["SLURM_ARRAY_TASK_COUNT"]),
                )
        except ValueError:
            raise InputError("the launcher's RANK/WORLD_SIZE or SLURM_ARRAY_TASK_* are not whole numbers") from None
        return cls()

    def mine(self, items: Sequence[Item]) -> list[Item]:
        return list(items[self.index :: self.count])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def local_rank(environment: Mapping[str, str]) -> tuple[int, int]:
    """(this process's rank, processes) on this machine, as torchrun sets them; (0, 1) otherwise."""
    try:
        return int(environment.get("LOCAL_RANK", "0")), int(environment.get("LOCAL_WORLD_SIZE", "1"))
    except ValueError:
        raise InputError("the launcher's LOCAL_RANK/LOCAL_WORLD_SIZE are not whole numbers") from None


def device_of_local_rank(device: str, environment: Mapping[str, str], gpus: int) -> str:
    """``device`` with its own GPU for this rank when there are several GPUs and ranks on the machine
    (``cuda`` -> ``cuda:<LOCAL_RANK mod gpus>``); an explicit ``cuda:N`` or a CPU device is kept."""
    rank, ranks = local_rank(environment)
    if device in ("auto", "cuda") and gpus > 1 and ranks > 1:
        return f"cuda:{rank % gpus}"
    return device


def cores_of_local_rank(cpus: Sequence[int], environment: Mapping[str, str]) -> list[int]:
    """This rank's share of the machine's ``cpus``: a contiguous run, the runs of all ranks disjoint (a rank gets
    at least one core; with more ranks than cores they are shared round)."""
    rank, ranks = local_rank(environment)
    cpus = sorted(cpus)
    if ranks <= 1:
        return cpus
    if ranks >= len(cpus):
        return [cpus[rank % len(cpus)]]
    size, extra = divmod(len(cpus), ranks)
    start = rank * size + min(rank, extra)
    return cpus[start : start + size + (rank < extra)]
