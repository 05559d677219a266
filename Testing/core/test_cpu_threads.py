"""Threads for the CPU: one per core other programs leave idle (GmmSegLib.core.cpu_threads)."""

from __future__ import annotations

import time

import pytest

from GmmSegLib.core import cpu_threads
from GmmSegLib.core.cpu_threads import CoreShare, cpu_ticks, threads_chosen_by_user, threads_for

STAT = """cpu  {all} 0 0 0 0 0 0 0 0
cpu0 {busy0} 0 0 {idle0} 0 0 0 0 0 0
cpu1 {busy1} 0 0 {idle1} 0 0 0 0 0 0
cpu2 500 0 0 500 0 0 0 0 0 0
intr 12345 0 0
ctxt 999
"""


def stat_text(busy0: int, idle0: int, busy1: int, idle1: int) -> str:
    return STAT.format(all=busy0 + busy1, busy0=busy0, idle0=idle0, busy1=busy1, idle1=idle1)


def test_ticks_are_summed_over_the_processs_cpus_only():
    busy, total = cpu_ticks(stat_text(30, 70, 10, 90), {0, 1})
    assert (busy, total) == (40, 200)  # cpu2 (not ours) and the all-CPU line are left out


@pytest.mark.parametrize(
    "cpus, busy, expected", [(2, 0.0, 2), (2, 0.4, 2), (2, 0.7, 1), (2, 2.0, 1), (8, 3.2, 5), (1, 0.9, 1)]
)
def test_one_thread_per_idle_cpu_and_never_none(cpus, busy, expected):
    assert threads_for(cpus, busy) == expected


def test_a_cpu_kept_busy_by_another_process_takes_a_thread_away_and_gives_it_back(tmp_path, monkeypatch):
    """Two CPUs; between two looks one is busy all the time (not with this process's work): torch gets one thread,
    then two again when the load has gone."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(cpu_threads, "usable_cpus", lambda: {0, 1})
    stat = tmp_path / "stat"
    stat.write_text(stat_text(0, 0, 0, 0))
    share = CoreShare(stat)
    ticks_per_s = share._ticks_per_s
    previous = torch.get_num_threads()
    try:
        time.sleep(0.06)
        second = ticks_per_s  # one second of ticks on each CPU: cpu0 all busy, cpu1 all idle
        stat.write_text(stat_text(second, 0, 0, second))
        assert share.busy_elsewhere() == pytest.approx(1.0, abs=0.1)
        time.sleep(0.06)
        stat.write_text(stat_text(2 * second, 0, 0, 2 * second))
        assert share.give_torch_the_idle_cores() == 1 and torch.get_num_threads() == 1
        time.sleep(0.06)
        stat.write_text(stat_text(2 * second, second, 0, 3 * second))
        assert share.give_torch_the_idle_cores() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_without_a_readable_proc_stat_the_threads_are_left_alone(tmp_path):
    share = CoreShare(tmp_path / "no-such-file")
    time.sleep(0.06)
    assert share.busy_elsewhere() is None and share.give_torch_the_idle_cores() is None


def test_looks_closer_together_than_the_minimum_interval_decide_nothing(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(stat_text(0, 0, 0, 0))
    share = CoreShare(stat)
    assert share.busy_elsewhere() is None


def test_a_thread_count_the_user_fixed_is_theirs():
    assert threads_chosen_by_user({"OMP_NUM_THREADS": "1"}) and threads_chosen_by_user({"MKL_NUM_THREADS": "4"})
    assert not threads_chosen_by_user({}) and not threads_chosen_by_user({"OMP_NUM_THREADS": ""})
