"""A cohort shared among processes: every input written once, a re-run skipping what is done."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from GmmSegLib.core.errors import InputError
from GmmSegLib.inference.shards import Shard, cores_of_local_rank, device_of_local_rank

ROOT = Path(__file__).resolve().parents[2]


def test_the_shards_of_a_list_are_disjoint_and_cover_it():
    inputs = [f"case{i}" for i in range(11)]
    shares = [Shard(index, 4).mine(inputs) for index in range(4)]
    assert sorted(sum(shares, [])) == sorted(inputs)
    assert shares[1] == ["case1", "case5", "case9"]


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({}, Shard(0, 1)),
        ({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}, Shard(3, 8)),  # torchrun
        ({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "4"}, Shard(3, 4)),
        (
            {
                "SLURM_ARRAY_TASK_ID": "6",
                "SLURM_ARRAY_TASK_COUNT": "3",
                "SLURM_ARRAY_TASK_MIN": "2",
                "SLURM_ARRAY_TASK_STEP": "2",
            },
            Shard(2, 3),
        ),  # --array=2-6:2
    ],
)
def test_auto_takes_the_launchers_or_the_schedulers_share(environment, expected):
    assert Shard.parse("auto", environment) == expected


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1", "a/b", "0/0"])
def test_a_shard_that_cannot_be_is_refused_in_words(text):
    with pytest.raises(InputError, match="shard"):
        Shard.parse(text, {})


def test_ranks_on_one_machine_get_their_own_gpu_or_their_own_cores():
    two_ranks = {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert device_of_local_rank("cuda", two_ranks, gpus=4) == "cuda:1"
    assert device_of_local_rank("cuda:0", two_ranks, gpus=4) == "cuda:0"  # the user's explicit choice
    assert device_of_local_rank("cuda", {}, gpus=4) == "cuda"
    assert device_of_local_rank("cpu", two_ranks, gpus=4) == "cpu"
    cpus = list(range(7))
    shares = [cores_of_local_rank(cpus, {"LOCAL_RANK": str(r), "LOCAL_WORLD_SIZE": "3"}) for r in range(3)]
    assert shares == [[0, 1, 2], [3, 4], [5, 6]]
    assert cores_of_local_rank([0, 1], {"LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "3"}) == [0]


@pytest.mark.slow
def test_two_torchrun_ranks_on_the_cpu_write_each_input_once_and_a_rerun_skips_them(tmp_path, phantom_files):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    inputs = []
    for index in range(3):
        inputs.append(tmp_path / f"cohort_{index}.nii.gz")
        shutil.copyfile(phantom_files["volume"], inputs[-1])
    listing = tmp_path / "inputs.txt"
    listing.write_text("".join(f"{path}\n" for path in inputs))
    out = tmp_path / "out"

    def cohort_run(*options: str) -> list[dict]:
        """The JSON lines both ranks printed (each rank's stdout in its own file: on one pipe they interleave)."""
        logs = Path(tempfile.mkdtemp(dir=tmp_path))
        done = subprocess.run(
            [
                torchrun,
                "--standalone",
                "--nproc-per-node",
                "2",
                "--log-dir",
                str(logs),
                "--redirects",
                "1",
                "-m",
                "GmmSegLib.cli",
                "segment",
                f"@{listing}",
                "--out",
                str(out),
                "--device",
                "cpu",
                *options,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT / "GmmSegModule",
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        rank_outputs = sorted(logs.rglob("stdout.log"))
        assert len(rank_outputs) == 2
        return [
            json.loads(line) for log in rank_outputs for line in log.read_text().splitlines() if line.startswith("{")
        ]

    records = cohort_run()
    shards = [r for r in records if "shard" in r]
    assert sorted((r["shard"], r["inputs"]) for r in shards) == [("0/2", 2), ("1/2", 1)]
    written = [Path(r["input"]).name for r in records if "input" in r]
    assert sorted(written) == sorted(path.name for path in inputs)  # each input segmented by exactly one rank
    assert sorted(p.name for p in out.glob("*.json")) == [f"cohort_{i}.json" for i in range(3)]
    assert not list(out.glob(".partial-*"))

    (out / "cohort_1.json").unlink()  # as if that case had been lost: only it is done again
    records = cohort_run("--skip-done")
    assert sorted(r["done_already"] for r in records if "shard" in r) == [0, 2]
    assert [Path(r["input"]).name for r in records if "input" in r] == ["cohort_1.nii.gz"]
