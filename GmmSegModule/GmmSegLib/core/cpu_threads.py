"""How many threads a segmentation gives torch on the CPU: the cores that other programs leave idle.

In Slicer the job shares the cores with the GUI, the renderer and whatever else runs. torch's OpenMP threads
wait for each other at every operation, so one thread on a core that another process keeps busy holds all of
them back: on two cores with one kept busy, two threads took 3.1 times the quiet time, one thread 1.8 times
(BENCHMARKS.md, "Speed and memory"). :class:`CoreShare` watches how busy other processes keep this process's
CPUs (Linux: ``/proc/stat`` less this process's own CPU time, over the interval since it last looked, so no
sampling pause is needed) and gives torch one thread per idle CPU, at least one; it is asked again before each
input and each frame of a cine, so the threads follow the load. Where the kernel does not say (macOS, Windows), or
the user fixed the number (``OMP_NUM_THREADS``), torch keeps it. Trainings keep torch's choice: a thread count that
changed between steps would change their sums' rounding, and a resumed run would no longer equal an unbroken one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# /proc/stat's columns after the cpu name: user nice system idle iowait irq softirq steal ...; idle and iowait idle
IDLE_COLUMNS = (3, 4)
# an interval shorter than this says too little about the load; the threads are left as they are
MIN_INTERVAL_S = 0.05


def usable_cpus() -> set[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def cpu_ticks(stat_text: str, cpus: set[int]) -> tuple[int, int]:
    """(busy, total) clock ticks summed over ``cpus`` from the text of ``/proc/stat``."""
    busy = total = 0
    for line in stat_text.splitlines():
        name, *columns = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(value) for value in columns[:8]]
        busy += sum(ticks) - sum(ticks[column] for column in IDLE_COLUMNS)
        total += sum(ticks)
    return busy, total


def threads_for(cpus: int, busy_elsewhere: float) -> int:
    """One thread per CPU that other processes leave idle (one more than half busy counts as busy), at least one."""
    return max(1, min(cpus, round(cpus - busy_elsewhere)))


def threads_chosen_by_user(environment: dict | None = None) -> bool:
    """Whether the user fixed the thread count (``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``): then it is left alone."""
    environment = os.environ if environment is None else environment
    return any(environment.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))


class CoreShare:
    """The CPUs other processes leave idle, measured over the interval between two looks."""

    def __init__(self, stat_path: Path = PROC_STAT):
        self._stat_path = stat_path
        self._cpus = usable_cpus()
        self._ticks_per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._look()

    def _look(self) -> tuple[int, int, float, float] | None:
        try:
            busy, total = cpu_ticks(self._stat_path.read_text(), self._cpus)
        except (OSError, ValueError):
            return None
        return busy, total, time.process_time(), time.perf_counter()

    def busy_elsewhere(self) -> float | None:
        """CPUs (0 .. their number) kept busy by other processes since the last look; None when not known."""
        now = self._look()
        if now is None or self._last is None or now[3] - self._last[3] < MIN_INTERVAL_S:
            self._last = self._last or now
            return None
        busy, total, own_s, _ = (a - b for a, b in zip(now, self._last, strict=True))
        self._last = now
        if total <= 0:
            return None
        others = max(0.0, busy / self._ticks_per_s - own_s)
        return min(float(len(self._cpus)), len(self._cpus) * others / (total / self._ticks_per_s))

    def give_torch_the_idle_cores(self) -> int | None:
        """Set torch's threads to :func:`threads_for` the load since the last look; the number, or None if unknown."""
        busy = self.busy_elsewhere()
        if busy is None:
            return None
        import torch

        threads = threads_for(len(self._cpus), busy)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads
