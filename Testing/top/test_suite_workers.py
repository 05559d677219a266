"""The suite's own set-up for pytest-xdist workers (Testing/conftest.py): each worker's torch gets its share of the
CPUs, and what the user fixed stays."""

from __future__ import annotations

import pytest

import conftest


def test_each_worker_gets_its_share_of_the_cpus(monkeypatch):
    monkeypatch.setattr(conftest, "_usable_cpus", lambda: 8)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    conftest._share_the_cpus_among_workers()
    assert conftest.os.environ["OMP_NUM_THREADS"] == "2"
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(conftest, "_usable_cpus", lambda: 2)
    conftest._share_the_cpus_among_workers()
    assert conftest.os.environ["OMP_NUM_THREADS"] == "1"  # more workers than CPUs: one thread each, never none


@pytest.mark.parametrize("fixed", [("OMP_NUM_THREADS", "3"), ("MKL_NUM_THREADS", "5")])
def test_a_thread_count_the_user_fixed_is_kept(monkeypatch, fixed):
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(*fixed)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    conftest._share_the_cpus_among_workers()
    assert conftest.os.environ.get("OMP_NUM_THREADS") == (fixed[1] if fixed[0] == "OMP_NUM_THREADS" else None)


def test_one_process_is_left_alone_and_auto_starts_at_most_four_workers(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    conftest._share_the_cpus_among_workers()
    assert "OMP_NUM_THREADS" not in conftest.os.environ
    monkeypatch.setattr(conftest, "_usable_cpus", lambda: 64)
    assert conftest.pytest_xdist_auto_num_workers(None) == conftest.MOST_WORKERS == 4
    monkeypatch.setattr(conftest, "_usable_cpus", lambda: 2)
    assert conftest.pytest_xdist_auto_num_workers(None) == 2
