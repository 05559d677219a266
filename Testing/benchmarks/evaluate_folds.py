"""A training recipe's whole out-of-fold evaluation from its two fold models, in one command.

    python Testing/benchmarks/evaluate_folds.py --fold-model 0=runs/x/heldout0.pt --fold-model 1=runs/x/heldout1.pt
                                      --out runs/x/eval [--dry-run]

Each fold model (``train.py --folds 2 --held-out-fold F``) is measured on the patients it never saw (fold 0 is the
auxiliary split, fold 1 the validation split), both folds side by side with one thread each (a fold takes about 20
minutes on a quiet 2-core machine):

1. ``bench_accuracy.py`` (clean, the synthetic new scanner, after ``gmmseg adapt``) into ``<out>/acc_foldF``;
2. ``bench_sites.py`` (the six simulated sites) into ``<out>/sites_foldF``;
3. ``oof_predictions.py``, as stored into ``<out>/oof_clean`` and through the new scanner into ``<out>/oof_fF_shifted``
   (what the clinical, end-systole and review-queue benchmarks read, and a model of the recipe refits its constants
   from);

then the folds are pooled volume by volume: ``oof_accuracy.py`` into ``<out>/accuracy_oof`` and ``oof_sites.py`` into
``<out>/sites_oof``. Every command is printed before it runs (for BENCHMARKS.md), each fold's log goes to
``<out>/foldF.log``; ``--dry-run`` prints the commands only. A fold whose step fails stops the pooling.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLIT_OF_FOLD = {0: "auxiliary", 1: "validation"}  # two folds: the patients each fold model never saw


def fold_commands(fold: int, model: str, out: Path) -> list[list[str]]:
    """The benchmarks of one fold model on the patients it never saw, in the order they run."""
    python, split = sys.executable, SPLIT_OF_FOLD[fold]
    common = ["--folds", "2", "--fold-model", f"{fold}={model}"]
    return [
        [python, str(HERE / "bench_accuracy.py"), "--model", model, "--held-out-fold", str(fold), "--out",
         str(out / f"acc_fold{fold}")],
        [python, str(HERE / "bench_sites.py"), "--model", model, "--split", split, "--out",
         str(out / f"sites_fold{fold}")],
        [python, str(HERE / "oof_predictions.py"), "--out", str(out / "oof_clean"), *common],
        [python, str(HERE / "oof_predictions.py"), "--out", str(out / f"oof_f{fold}_shifted"), *common, "--shifted"],
    ]  # fmt: skip


def pooling_commands(out: Path) -> list[list[str]]:
    """Both folds' results pooled volume by volume."""
    python = sys.executable
    return [
        [python, str(HERE / "oof_accuracy.py"), "--runs", str(out / "acc_fold0"), str(out / "acc_fold1"), "--out",
         str(out / "accuracy_oof")],
        [python, str(HERE / "oof_sites.py"), "--runs", str(out / "sites_fold0"), str(out / "sites_fold1"), "--out",
         str(out / "sites_oof")],
    ]  # fmt: skip


def fold_models(values: list[str]) -> dict[int, str]:
    """``F=PATH`` for fold 0 and fold 1, each once."""
    models: dict[int, str] = {}
    for value in values:
        fold, _, path = value.partition("=")
        if fold not in ("0", "1") or not path or int(fold) in models:
            raise SystemExit(f"--fold-model takes 0=PATH and 1=PATH, each once; got {value!r}")
        models[int(fold)] = str(Path(path).resolve())
    if set(models) != {0, 1}:
        raise SystemExit("--fold-model is needed for fold 0 and for fold 1")
    return models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold-model", action="append", required=True, help="F=PATH, for F = 0 and 1")
    parser.add_argument("--out", required=True)
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    arguments = parser.parse_args()
    models, out = fold_models(arguments.fold_model), Path(arguments.out).resolve()
    plans = {fold: fold_commands(fold, model, out) for fold, model in models.items()}
    for command in [*plans[0], *plans[1], *pooling_commands(out)]:
        print(shlex.join(command), flush=True)
    if arguments.dry_run:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}  # the two folds side by side, a core each
    folds = []
    for fold, commands in plans.items():
        script = "set -e\n" + "\n".join(shlex.join(command) for command in commands)
        with open(out / f"fold{fold}.log", "w") as log:
            folds.append(
                subprocess.Popen(["bash", "-c", script], stdout=log, stderr=subprocess.STDOUT, env=environment)
            )
    failed = [fold for fold, process in enumerate(folds) if process.wait() != 0]
    if failed:
        print(f"fold {failed} failed; see {out}/fold{failed[0]}.log", file=sys.stderr)
        return 1
    for command in pooling_commands(out):
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environment)
    print(f"pooled: {out / 'accuracy_oof'}, {out / 'sites_oof'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
