"""The headless trainer on phantoms in the ACDC layout: all stages, JSON progress, resume, SIGTERM, DDP."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from GmmSegLib.model.bundle import load_checkpoint, load_model
from GmmSegLib.model.class_prior import OFFSET_GRID, left_ventricle_offsets
from GmmSegLib.training.config import RECIPE_STAGES

TRAINER = ROOT / "scripted_training" / "train.py"
TINY = [
    "--localiser-epochs",
    "1",
    "--pretrain-epochs",
    "1",
    "--responsibilities-epochs",
    "1",
    "--registration-epochs",
    "1",
    "--adapt-epochs",
    "1",
    "--handedness-epochs",
    "1",
    "--refiner-epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--batch-size",
    "2",
    "--device",
    "cpu",
]


def run_trainer(*arguments, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TRAINER), *map(str, arguments)], capture_output=True, text=True, timeout=900, **kwargs
    )


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_tiny_training_runs_every_stage(tmp_path, phantom_acdc_dir):
    out = tmp_path / "model.pt"
    stages = [*RECIPE_STAGES, "refiner"]  # the shipped recipe, and a click refiner on its segmenter's errors
    result = run_trainer("--out", out, "--data", phantom_acdc_dir, *TINY, "--stages", *stages)
    assert result.returncode == 0, result.stderr
    lines = events(result.stdout)
    assert [e["stage"] for e in lines if e["event"] == "stage"] == stages
    # the shipped recipe: z_net and the registration net trained on the features as adaptation left them
    last_registration = len(stages) - 1 - stages[::-1].index("registration")
    assert stages.index("adapt") < stages.index("responsibilities") < last_registration < stages.index("calibration")
    registration_epochs = [e for e in lines if e["event"] == "epoch" and e["stage"] == "registration"]
    assert len(registration_epochs) == 2  # a stage listed twice runs twice
    calibration = next(e for e in lines if e["event"] == "calibration")
    assert calibration["delta"] in OFFSET_GRID and list(calibration["mean_dice"]) == [str(d) for d in OFFSET_GRID]
    progress = [e for e in lines if e["event"] == "progress"]
    assert progress and {"epoch", "step", "loss", "eta_s"} <= set(progress[0])
    assert lines[-1]["event"] == "done"
    model, metadata = load_model(out, lines[-1]["sha256"])
    assert metadata["stages"] == stages and model.handedness is not None and model.refiner is not None
    assert torch.equal(model.class_log_offsets, left_ventricle_offsets(calibration["delta"]))
    # the atlas was built from the phantom labels: the LV is likely in the middle of the crop
    assert float(model.atlas[2, 1, 64, 64]) > 0.5
    # the same seed gives the same weights, also with the batches drawn by two worker processes
    again = run_trainer(
        "--out", tmp_path / "again.pt", "--data", phantom_acdc_dir, *TINY, "--stages", *stages, "--loader-workers", "2"
    )
    assert again.returncode == 0, again.stderr
    other, _ = load_model(tmp_path / "again.pt")
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, other.state_dict()[name], msg=name)


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_run_resumes(tmp_path, phantom_acdc_dir):
    out = tmp_path / "model.pt"
    arguments = [
        sys.executable,
        str(TRAINER),
        "--out",
        str(out),
        "--data",
        str(phantom_acdc_dir),
        "--stages",
        "localiser",
        "atlas",
        "pretrain",
        "--localiser-epochs",
        "2",
        "--pretrain-epochs",
        "50",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--loader-workers",
        "2",  # the workers end with the run
    ]
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stdout:
        seen.append(json.loads(line))
        if (
            seen[-1]["event"] == "saved"
            and seen[-1]["stage_epoch"] >= 1
            and any(e.get("stage") == "pretrain" for e in seen if e["event"] == "stage")
        ):
            process.send_signal(signal.SIGTERM)
            break
    remaining, _ = process.communicate(timeout=300)
    seen += events(remaining)
    assert process.returncode == 143
    assert seen[-1]["event"] == "stopped"
    assert not out.exists()
    state = load_checkpoint(tmp_path / "model.work" / "state.pt")
    assert state["metadata"]["completed"] == ["localiser", "atlas"] and state["metadata"]["epoch"] >= 1
    assert not list((tmp_path / "model.work").glob(".*partial"))

    arguments[arguments.index("--loader-workers") + 1] = "0"  # the same batches: a run may resume with another number
    resumed = subprocess.run(arguments, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    start = events(resumed.stdout)[0]
    assert start["resumed_stages"] == ["localiser", "atlas"] and start["resume_epoch"] >= 1
    assert [e["stage"] for e in events(resumed.stdout) if e["event"] == "stage"] == ["pretrain"]
    assert out.is_file()


@pytest.mark.slow
def test_a_run_with_a_stage_listed_twice_resumes_in_its_second_run_of_it(tmp_path, phantom_acdc_dir):
    out = tmp_path / "model.pt"
    arguments = [sys.executable, str(TRAINER), "--out", str(out), "--data", str(phantom_acdc_dir), "--stages"]
    arguments += ["localiser", "atlas", "localiser", "--localiser-epochs", "3", "--steps-per-epoch", "2"]
    arguments += ["--batch-size", "2", "--device", "cpu"]
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stdout:
        seen.append(json.loads(line))
        second_run = sum(e["event"] == "stage" and e["stage"] == "localiser" for e in seen) == 2
        if second_run and seen[-1]["event"] == "saved" and seen[-1]["stage_epoch"] >= 1:
            process.send_signal(signal.SIGTERM)
            break
    process.communicate(timeout=300)
    assert process.returncode == 143
    resumed = subprocess.run(arguments, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    lines = events(resumed.stdout)
    assert lines[0]["resumed_stages"] == ["localiser", "atlas"] and lines[0]["resume_epoch"] >= 1
    assert [e["stage"] for e in lines if e["event"] == "stage"] == ["localiser"]  # the second one, not the first
    assert lines[-1]["event"] == "done" and out.is_file()


@pytest.mark.slow
def test_sigterm_before_anything_was_saved_names_no_state_and_leaves_no_folder(tmp_path, phantom_acdc_dir):
    out = tmp_path / "model.pt"
    arguments = [
        sys.executable,
        str(TRAINER),
        "--out",
        str(out),
        "--data",
        str(phantom_acdc_dir),
        "--stages",
        "localiser",
        "--localiser-epochs",
        "5",
        "--steps-per-epoch",
        "500",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--loader-workers",
        "2",  # the workers end with the run
    ]
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "progress":  # training, first epoch, nothing saved yet
            process.send_signal(signal.SIGTERM)
            break
    remaining, _ = process.communicate(timeout=300)
    seen += events(remaining)
    assert process.returncode == 143 and not any(e["event"] == "saved" for e in seen)
    stopped = seen[-1]
    assert stopped["event"] == "stopped" and stopped["state"] is None and "from the beginning" in stopped["message"]
    assert not (tmp_path / "model.work").exists() and not out.exists()


@pytest.mark.slow
def test_the_trainers_help_gives_every_options_meaning_and_default():
    shown = subprocess.run([sys.executable, str(TRAINER), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "--max-cases MAX_CASES use only the first N labelled volumes" in text and "(default: 0)" in text
    assert "--pretrain-epochs PRETRAIN_EPOCHS epochs of supervised pretraining" in text and "(default: 120)" in text


@pytest.mark.slow
def test_a_state_from_another_run_is_refused(tmp_path, phantom_acdc_dir):
    work = tmp_path / "model.work"
    first = run_trainer(
        "--out",
        tmp_path / "model.pt",
        "--data",
        phantom_acdc_dir,
        "--stages",
        "localiser",
        "--localiser-epochs",
        "1",
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "2",
    )
    assert first.returncode == 0, first.stderr
    kept = (work / "state.pt").read_bytes()
    second = run_trainer("--out", tmp_path / "model.pt", "--data", phantom_acdc_dir, "--stages", "atlas")
    assert second.returncode == 2 and "--stages ['localiser'] (now ['atlas'])" in second.stderr
    third = run_trainer(
        "--out",
        tmp_path / "model.pt",
        "--data",
        phantom_acdc_dir,
        "--stages",
        "localiser",
        "--localiser-epochs",
        "2",
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "2",
    )
    assert third.returncode == 2 and "--localiser-epochs 1 (now 2)" in third.stderr
    assert "Traceback" not in second.stderr + third.stderr
    assert (work / "state.pt").read_bytes() == kept  # the refused runs left the state as it was


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--batch-size", "0"], "--batch-size must be 1 or more"),
        (["--neighbour-jitter-mm", "-3"], "--neighbour-jitter-mm must be a number of 0 or more"),
        (["--neighbour-jitter-mm", "nan"], "--neighbour-jitter-mm must be a number of 0 or more"),
        (["--learning-rate", "0"], "--learning-rate must be a number above 0"),
        (["--responsibilities-learning-rate", "inf"], "--responsibilities-learning-rate must be a number above 0"),
        (["--responsibilities-epochs", "-2"], "--responsibilities-epochs must be 0 or more"),
        (["--site-chance", "1.5"], "--site-chance must be a number from 0 to 1"),
        (["--low-contrast-chance", "-0.1"], "--low-contrast-chance must be a number from 0 to 1"),
        (["--texture-network-chance", "nan"], "--texture-network-chance must be a number from 0 to 1"),
        (["--feature-base", "0"], "--feature-base must be 1 or more"),
        (["--folds", "1"], "--folds must be from 2 to 10"),
        (["--loader-workers", "-1"], "--loader-workers must be 0 or more"),
        (["--folds", "5", "--held-out-fold", "5"], "--held-out-fold must be from 0 to 4"),
        (
            ["--pretrain-epochs", "-1", "--context-slices", "-1"],
            "--context-slices must be 0 or more; --pretrain-epochs",
        ),
    ],
)
def test_settings_no_training_can_run_with_are_refused(tmp_path, arguments, message):
    from GmmSegLib.core.errors import GmmSegError
    from GmmSegLib.training.config import check_config, parse_arguments

    with pytest.raises(GmmSegError, match=re.escape(message)):
        check_config(parse_arguments(["--out", str(tmp_path / "m.pt"), *arguments]))


@pytest.mark.parametrize(
    "held_out_fold, trained_on", [("0", {"patient002"}), ("1", {"patient001"}), ("none", {"patient001", "patient002"})]
)
def test_a_cross_validation_fold_trains_on_the_other_patients_only(
    tmp_path, phantom_acdc_dir, held_out_fold, trained_on
):
    from GmmSegLib.training.config import parse_arguments
    from GmmSegLib.training.data import TrainingData

    config = parse_arguments(
        [
            "--out",
            str(tmp_path / "m.pt"),
            "--data",
            str(phantom_acdc_dir),
            "--folds",
            "10",
            "--held-out-fold",
            held_out_fold,
        ]
    )
    _, cases = TrainingData(config, model=None, device=torch.device("cpu")).labelled_split()
    assert {case.patient for case in cases} == trained_on and {case.phase for case in cases} == {"ED", "ES"}


@pytest.mark.slow
def test_user_errors_exit_2_with_a_json_line(tmp_path):
    result = run_trainer("--out", tmp_path / "m.pt", "--data", tmp_path / "nowhere")
    assert result.returncode == 2
    assert events(result.stdout)[-1]["event"] == "error" and "manifest" in events(result.stdout)[-1]["message"]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.work").exists() and not (tmp_path / "m.pt").exists()  # nothing left behind


@pytest.mark.parametrize("fault", ["cropped", "moved"])
@pytest.mark.slow
def test_a_label_map_off_its_images_grid_is_refused_before_any_training(tmp_path, phantom_acdc_dir, fault):
    """It trained every stage on misplaced labels and died in calibration with a numpy traceback."""
    import SimpleITK as sitk

    data = tmp_path / "data"
    shutil.copytree(phantom_acdc_dir, data)
    label_file = data / "labels" / "patient002_frame01_gt.nii.gz"
    labels = sitk.ReadImage(str(label_file))
    x, y, z = labels.GetSize()
    message = f"shape {(z, y, x - 8)} against {(z, y, x)}" if fault == "cropped" else "field of view 20.0 mm away"
    if fault == "cropped":
        labels = labels[:-8, :, :]
    else:
        labels.SetOrigin([value + shift for value, shift in zip(labels.GetOrigin(), (0.0, 20.0, 0.0), strict=True)])
    sitk.WriteImage(labels, str(label_file))
    result = run_trainer("--out", tmp_path / "m.pt", "--data", data, *TINY)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        f"gmmseg: error: {label_file}: not on the grid of its image {data / 'images' / 'patient002_frame01.nii.gz'} "
        f"({message}); the labels must lie on the image's voxels"
    ]
    assert not [e for e in events(result.stdout) if e["event"] in ("stage", "progress")]
    assert not (tmp_path / "m.work").exists() and not (tmp_path / "m.pt").exists()


def free_port() -> int:
    """A port nothing listens on now (the OS picks it), so that runs sharing a machine do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("torchrun"), reason="torchrun not on PATH")
def test_data_parallel_training_with_two_processes(tmp_path, phantom_acdc_dir):
    out = tmp_path / "ddp.pt"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            "torchrun",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(free_port()),
            str(TRAINER),
            "--out",
            str(out),
            "--data",
            str(phantom_acdc_dir),
            "--stages",
            "localiser",
            "atlas",
            "pretrain",
            "--localiser-epochs",
            "1",
            "--pretrain-epochs",
            "1",
            "--steps-per-epoch",
            "4",
            "--batch-size",
            "2",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    # both ends of the output on failure: where the ranks were (stdout's events) and how one of them died
    assert result.returncode == 0, result.stdout[-1500:] + "\n" + result.stderr[-2500:]
    lines = events(result.stdout)
    assert lines[0]["world_size"] == 2
    progress = [e for e in lines if e["event"] == "progress"]
    assert {e["steps"] for e in progress} == {2}  # the 4 steps of an epoch are shared by the 2 processes
    assert len([e for e in lines if e["event"] == "done"]) == 1  # only rank 0 writes and reports
    load_model(out)


@pytest.mark.slow
def test_adapting_an_init_model_can_stay_anchored_to_the_labelled_split(tmp_path, phantom_acdc_dir):
    """With --labelled-anchor the first step's anchor adds the supervised loss on the same target batch."""
    from GmmSegLib.model.registry import default_entry

    shipped = default_entry().path
    common = [
        "--data",
        phantom_acdc_dir,
        "--init-model",
        shipped,
        "--stages",
        "adapt",
        "--adapt-epochs",
        "1",
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--max-cases",
        "2",
    ]
    anchors = {}
    for name, extra in (("teacher only", []), ("with labels", ["--labelled-anchor"])):
        result = run_trainer("--out", tmp_path / f"{len(extra)}.pt", *common, *extra)
        assert result.returncode == 0, result.stderr
        first = next(e for e in events(result.stdout) if e["event"] == "progress")
        anchors[name] = first["loss"]["anchor"]
    # the same seed draws the same target batch, before any update: only the supervised term differs
    assert anchors["with labels"] > anchors["teacher only"] + 0.1


def test_localiser_and_handedness_stages_start_from_fresh_weights(tmp_path):
    """A run that trains the localiser or the handedness net does so from scratch, whatever --init-model held,
    and a resumed stage keeps the weights it had reached."""
    from GmmSegLib.model.registry import default_entry
    from GmmSegLib.training.config import TrainConfig
    from GmmSegLib.training.stages import Stage
    from GmmSegLib.training.trainer import Trainer

    shipped, _ = load_model(default_entry().path)

    def trainer(init_model: str) -> Trainer:
        run = Trainer(
            TrainConfig(
                out=str(tmp_path / "m.pt"),
                work=str(tmp_path / "w"),
                init_model=init_model,
                stages=["localiser", "handedness"],
                device="cpu",
            )
        )
        run._load_starting_point()
        return run

    from_shipped, from_nothing = trainer(str(default_entry().path)), trainer("")
    for name in ("localiser", "handedness"):
        started = getattr(from_shipped.model, name)
        torch.testing.assert_close(started.state_dict(), getattr(shipped, name).state_dict())
        for run in (from_shipped, from_nothing):  # a stage of no epochs: only its fresh start happens
            net = getattr(run.model, name)
            run.optimise(Stage(name, [net], lambda *_: {}, lambda _: None, 0, 1e-3, fresh=[net]))
        torch.testing.assert_close(started.state_dict(), getattr(from_nothing.model, name).state_dict())
        first = next(iter(started.state_dict().values()))
        assert not torch.equal(first, next(iter(getattr(shipped, name).state_dict().values())))

    localiser = from_shipped.model.localiser
    from_shipped.saved.epoch = 3  # resuming the stage at its fourth epoch: the weights reached are kept
    before = {k: v.clone() for k, v in localiser.state_dict().items()}
    from_shipped.optimise(Stage("localiser", [localiser], lambda *_: {}, lambda _: None, 3, 1e-3, fresh=[localiser]))
    torch.testing.assert_close(localiser.state_dict(), before)


def test_the_responsibilities_stage_trains_z_net_alone_towards_the_labels(tmp_path, phantom_acdc_dir):
    """On the shipped model's frozen features only z_net moves, and pi comes closer to the labels it trained on."""
    from GmmSegLib.model.registry import default_entry
    from GmmSegLib.training.config import TrainConfig
    from GmmSegLib.training.losses import segmentation_loss
    from GmmSegLib.training.stages import responsibilities_stage
    from GmmSegLib.training.trainer import Trainer

    config = TrainConfig(
        out=str(tmp_path / "m.pt"),
        work=str(tmp_path / "w"),
        data=str(phantom_acdc_dir),
        init_model=str(default_entry().path),
        stages=["responsibilities"],
        responsibilities_epochs=1,
        responsibilities_learning_rate=1e-3,  # the default 1e-2 first shakes pi up for some tens of steps
        steps_per_epoch=4,
        batch_size=4,
        max_cases=2,
        device="cpu",
    )
    run = Trainer(config)
    run._load_starting_point()
    run.events = _Silent()
    stage = responsibilities_stage(run.model, config, run.data)
    batch = stage.batches(torch.Generator().manual_seed(0))

    def pi_loss() -> float:
        with torch.no_grad():
            logits = run.model.heads.responsibilities_logits(run.model.features(batch.images))
            return float(segmentation_loss(logits, batch.labels))

    before, loss_before = {k: v.clone() for k, v in run.model.state_dict().items()}, pi_loss()
    assert run.optimise(stage)
    changed = {k for k, v in run.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("heads.z_net.") for k in changed)
    assert pi_loss() < loss_before


class _Silent:
    """Progress that records nothing (the trainer's events, for a stage run in-process)."""

    def step(self, **_fields) -> None:
        pass

    def emit(self, *_args, **_fields) -> None:
        pass


@pytest.mark.slow
def test_a_new_slice_context_trains_a_new_feature_unet_on_the_init_models_other_networks(tmp_path, phantom_acdc_dir):
    """--context-slices other than the --init-model's: the feature U-Net (three input channels) and heads start
    fresh, the localiser, handedness and registration nets come from the init model; without the pretrain stage
    such a run is refused."""
    from GmmSegLib.model.registry import default_entry

    shipped_path = default_entry().path
    shipped, _ = load_model(shipped_path)
    assert shipped.context_slices == 0  # a checkpoint from before the option loads as one slice at a time
    common = [
        "--data",
        phantom_acdc_dir,
        "--init-model",
        shipped_path,
        "--context-slices",
        "1",
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--max-cases",
        "2",
    ]
    result = run_trainer(
        "--out", tmp_path / "context.pt", *common, "--stages", "atlas", "pretrain", "--pretrain-epochs", "1"
    )
    assert result.returncode == 0, result.stderr
    model, _ = load_model(tmp_path / "context.pt")
    assert model.context_slices == 1 and model.features.down[0][0].in_channels == 3
    for name in ("localiser", "handedness", "registration"):
        torch.testing.assert_close(getattr(model, name).state_dict(), getattr(shipped, name).state_dict())

    refused = run_trainer("--out", tmp_path / "adapted.pt", *common, "--stages", "adapt")
    assert refused.returncode == 2 and "pretrain stage" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "adapted.pt").exists() and not (tmp_path / "adapted.work").exists()


@pytest.mark.slow
def test_a_narrower_feature_unet_is_trained_anew_and_loads_with_its_width(tmp_path, phantom_acdc_dir):
    """--feature-base at half the shipped model's width: the feature U-Net is built that wide at full resolution and
    trained from scratch with fresh heads, the other networks come from the init model, and the checkpoint records
    the width, so that it loads (and segments) as the narrower network it is."""
    from GmmSegLib.model.registry import default_entry
    from GmmSegLib.training.config import parse_arguments
    from GmmSegLib.training.trainer import Trainer

    shipped_path = default_entry().path
    shipped, _ = load_model(shipped_path)
    width = shipped.config["feature_base"] // 2
    out = tmp_path / "narrow.pt"
    config = parse_arguments(
        ["--out", str(out), "--data", str(phantom_acdc_dir), "--init-model", str(shipped_path)]
        + ["--feature-base", str(width)]
        + ["--stages", "atlas", "pretrain", "--pretrain-epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2"]
        + ["--device", "cpu", "--max-cases", "2"]
    )
    trainer = Trainer(config)
    assert not trainer.features_from_init()
    assert trainer.run() == 0

    model, _ = load_model(out)
    assert model.config["feature_base"] == width
    assert [block[0].out_channels for block in model.features.down] == [width * 2**level for level in range(5)]
    for name in ("localiser", "handedness", "registration"):
        torch.testing.assert_close(getattr(model, name).state_dict(), getattr(shipped, name).state_dict())
    with torch.inference_mode():
        features = model.features(torch.zeros(1, 1, 32, 32))
    assert features.shape == (1, 4, 32, 32)
