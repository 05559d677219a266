"""A recipe's out-of-fold evaluation in one command (Testing/benchmarks/evaluate_folds.py): each fold model is
measured only on the patients it never saw, and the pooling reads what the folds wrote."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from evaluate_folds import fold_commands, fold_models, pooling_commands  # noqa: E402


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_each_fold_model_is_measured_on_the_split_it_never_saw_and_the_pooling_reads_both_folds(tmp_path):
    written = set()
    for fold, split in ((0, "auxiliary"), (1, "validation")):
        accuracy, sites, clean, shifted = fold_commands(fold, f"/m/heldout{fold}.pt", tmp_path)
        assert accuracy[1].endswith("bench_accuracy.py") and option(accuracy, "--held-out-fold") == str(fold)
        assert option(sites, "--split") == split and option(sites, "--model") == f"/m/heldout{fold}.pt"
        assert option(clean, "--fold-model") == option(shifted, "--fold-model") == f"{fold}=/m/heldout{fold}.pt"
        assert "--shifted" in shifted and "--shifted" not in clean
        written |= {option(command, "--out") for command in (accuracy, sites)}
    accuracy_pool, sites_pool = pooling_commands(tmp_path)
    read = set(accuracy_pool[accuracy_pool.index("--runs") + 1 : accuracy_pool.index("--out")])
    read |= set(sites_pool[sites_pool.index("--runs") + 1 : sites_pool.index("--out")])
    assert read == written


@pytest.mark.parametrize(
    "values", [["0=a.pt"], ["0=a.pt", "0=b.pt"], ["0=a.pt", "2=b.pt"], ["0=a.pt", "1="], ["a.pt", "1=b.pt"]]
)
def test_both_fold_models_are_needed_once_each(values):
    with pytest.raises(SystemExit, match="--fold-model"):
        fold_models(values)
    assert set(fold_models(["1=b.pt", "0=a.pt"])) == {0, 1}
