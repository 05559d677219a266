"""The headless GmmSeg trainer: supervised pretraining, atlas, registration net, label-free ELBO adaptation.

Stages (described in :mod:`GmmSegLib.training.stages`), each resumable at epoch granularity:

1. ``localiser``: the coarse whole-slice segmenter that finds the heart without labels;
2. ``atlas``: class-frequency maps of the aligned labelled slices (no training);
3. ``pretrain``: feature U-Net, z_net and o_net, supervised on the labelled auxiliary set;
4. ``registration``: the registration net, on the pretrained responsibilities of randomly moved crops;
5. ``adapt``: the negative ELBO on unlabelled target images (x_net and the feature U-Net's normalisation
   parameters; z_net and o_net too when labels anchor them), anchored either by the labelled auxiliary set
   (full training) or by the starting model's own predictions (``gmmseg adapt`` on a user's images,
   where no labels exist);
6. ``handedness``: the net that recognises mirrored stacks, self-supervised on the labelled stacks;
7. ``calibration``: the class-prior correction of the label posterior, chosen on the labelled stacks
   (:mod:`GmmSegLib.training.calibration`; no training);
8. ``refiner``: the click refiner, on simulated clicks on the finished segmenter's errors
   (:mod:`GmmSegLib.training.refiner_stage`).

plus ``responsibilities``: z_net alone on the finished features. A run takes them in the order it is given
(:data:`GmmSegLib.training.config.RECIPE_STAGES` by default, the shipped recipe, where ``registration`` comes twice:
before ``adapt``, whose ELBO reads the registered prior, and after ``responsibilities``, on the adapted features).

Progress goes to stdout as JSON lines (:mod:`GmmSegLib.training.events`). The training state is saved atomically
after every epoch (:mod:`GmmSegLib.training.state`); a killed run resumes from it. SIGTERM stops at the next step
with the last saved state intact (exit code 143). Under ``torchrun --nproc_per_node N`` it trains data-parallel
with DistributedDataParallel (gloo on CPU, NCCL on GPUs); only rank 0 writes files and prints.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..core.device import resolve_device
from ..core.errors import GmmSegError, ModelError
from ..model.bundle import GmmSegModel, load_checkpoint, load_model, save_model
from ..model.networks import FEATURE_BASE
from .batch_stream import epoch_batches, step_seed
from .calibration import calibrate
from .config import STAGES, TrainConfig, check_config, parse_arguments, resume_conflicts
from .data import TrainingData
from .events import Progress
from .losses import LossModule
from .refiner_stage import refiner_stage
from .stages import (
    Stage,
    adapt_stage,
    build_atlas_stage,
    handedness_stage,
    localiser_stage,
    pretrain_stage,
    registration_stage,
    responsibilities_stage,
)
from .state import STATE_FILE, TEACHER_FILE, SavedState, load_state, save_state

STOPPED_EXIT_CODE = 143
OPTIMISED = {
    "localiser": localiser_stage,
    "pretrain": pretrain_stage,
    "responsibilities": responsibilities_stage,
    "registration": registration_stage,
    "handedness": handedness_stage,
    "refiner": refiner_stage,
}


def learning_rate_factor(epochs: int):
    """The learning rate's schedule over a stage: a cosine from 1 to 0.05 of the stage's rate (for LambdaLR)."""
    return lambda epoch: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1)))


class Trainer:
    """Runs the configured stages with resume, progress, SIGTERM handling and optional DDP."""

    def __init__(self, config: TrainConfig):
        check_config(config)
        self.config = config
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        self.device = resolve_device(config.device)
        if self.world > 1:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.work = Path(config.work)
        self.state_path = self.work / STATE_FILE
        self.stop_requested = False
        # the starting model's configuration (handedness net, slice context), read once
        self.init_config: dict = load_checkpoint(config.init_model)["config"] if config.init_model else {}
        torch.manual_seed(config.seed)  # identical initial weights on every rank and every run
        with_handedness = "handedness" in config.stages or bool(self.init_config.get("handedness", False))
        context = (
            config.context_slices
            if config.context_slices is not None
            else int(self.init_config.get("context_slices", 0))
        )
        base = config.feature_base if config.feature_base is not None else self.init_config.get("feature_base")
        with_refiner = "refiner" in config.stages or bool(self.init_config.get("refiner", False))
        # a model with an untrained handedness net would mirror stacks at random, so none is added otherwise
        self.model = GmmSegModel(
            feature_base=int(base or FEATURE_BASE),
            handedness=with_handedness,
            context_slices=context,
            refiner=with_refiner,
        ).to(self.device)
        self.data = TrainingData(config, self.model, self.device)
        self.saved = SavedState(asdict(config), [])

    def features_from_init(self) -> bool:
        """Whether the feature U-Net and heads start as ``--init-model``'s: not when the slice context or the U-Net's
        width changes, since such a U-Net is a new network, trained by this run's pretrain stage."""
        init_context = int(self.init_config.get("context_slices", 0))
        init_base = int(self.init_config.get("feature_base", FEATURE_BASE))
        same_network = (init_context, init_base) == (self.model.context_slices, self.model.config["feature_base"])
        return bool(self.config.init_model) and same_network

    # ---- lifecycle -------------------------------------------------------------------------
    def _request_stop(self, signum, _frame) -> None:
        self.stop_requested = True

    def run(self) -> int:
        created_work = self.rank == 0 and not self.work.exists()
        if self.rank == 0:
            self.work.mkdir(parents=True, exist_ok=True)
            for leftover in self.work.glob(".*.partial"):  # a save interrupted by a hard kill
                leftover.unlink(missing_ok=True)
        try:
            code = self._run_stages()
        except BaseException:
            self._forget_empty_work(created_work)
            raise
        if code == STOPPED_EXIT_CODE:
            self._forget_empty_work(created_work)
        return code

    def _forget_empty_work(self, created_work: bool) -> None:
        """A run that failed or was stopped before saving anything leaves no folder behind."""
        if created_work and self.work.is_dir() and not any(self.work.iterdir()):
            self.work.rmdir()

    def _run_stages(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        self._load_starting_point()
        self._read_labelled_pairs()
        self.events = Progress(self._total_steps(), self.rank == 0)
        self.events.emit(
            "start",
            config=asdict(self.config),
            world_size=self.world,
            device=str(self.device),
            resumed_stages=self.saved.completed,
            resume_epoch=self.saved.epoch,
        )
        for stage in self._remaining_stages():
            self.events.emit("stage", stage=stage)
            if not self._run_stage(stage):
                saved = self.state_path.is_file()
                self.events.emit(
                    "stopped",
                    stage=stage,
                    state=str(self.state_path) if saved else None,
                    message="run the same command again to resume"
                    if saved
                    else "stopped before anything was saved: the same command starts from the beginning",
                )
                return STOPPED_EXIT_CODE
            self.saved = SavedState(asdict(self.config), [*self.saved.completed, stage])
            self._save_state()
        if self.rank == 0:
            sha256 = save_model(
                self.model, self.config.out, {"config": asdict(self.config), "stages": self.saved.completed}
            )
            self.events.emit("done", model=str(self.config.out), sha256=sha256)
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()
        return 0

    def _read_labelled_pairs(self) -> None:
        """Read every labelled image with its labels before the first stage (the stages keep them), so that an
        unreadable file or a label map off its image's grid is refused before any training, not hours later."""
        remaining = self._remaining_stages()
        adapt_reads_them = not self.features_from_init() or self.config.labelled_anchor
        if any(stage != "adapt" for stage in remaining) or ("adapt" in remaining and adapt_reads_them):
            self.data.labelled()

    def _remaining_stages(self) -> list[str]:
        """The configured stages not finished yet: those after the finished ones (a resumed run's configuration is
        the saved one, so they are its first stages, and a stage listed twice is run twice)."""
        return self.config.stages[len(self.saved.completed) :]

    def _run_stage(self, stage: str) -> bool:
        """One stage; False when it was stopped."""
        if stage == "atlas":
            build_atlas_stage(self.model, self.data)
            return True
        if stage == "calibration":
            return calibrate(
                self.model, self.data, self.device, self.events, lambda: self.stop_requested, self.rank == 0
            )
        if stage == "adapt":
            c = self.config
            targets = self.data.unlabelled()
            labelled = self.data.labelled() if not self.features_from_init() or c.labelled_anchor else []
            return self.optimise(adapt_stage(self.model, c, targets, labelled, self._adaptation_teacher()))
        return self.optimise(OPTIMISED[stage](self.model, self.config, self.data))

    def _total_steps(self) -> int:
        c = self.config
        epochs = {
            "localiser": c.localiser_epochs,
            "pretrain": c.pretrain_epochs,
            "responsibilities": c.responsibilities_epochs,
            "registration": c.registration_epochs,
            "adapt": c.adapt_epochs,
            "handedness": c.handedness_epochs,
            "refiner": c.refiner_epochs,
        }
        remaining = [s for s in self._remaining_stages() if s in epochs]
        return sum(epochs[s] for s in remaining) * self._steps() - self.saved.epoch * self._steps()

    def _steps(self) -> int:
        return max(1, self.config.steps_per_epoch // self.world)

    # ---- the one optimisation loop ---------------------------------------------------------------
    def optimise(self, stage: Stage) -> bool:
        """Train ``stage`` from where the run stands (its saved epoch, optimiser and schedule); False if stopped."""
        resuming = self.saved.epoch > 0 or self.saved.optimizer is not None
        for net in stage.fresh if not resuming else []:
            _fresh_weights(net, self.config.seed)
        parameters = self._only_trainable(stage.parameters())
        module: nn.Module = LossModule(self.model, stage.loss)
        if self.world > 1:
            module = nn.parallel.DistributedDataParallel(module, find_unused_parameters=True)
        optimizer = torch.optim.Adam(parameters, lr=stage.learning_rate, weight_decay=1e-5)
        if self.saved.optimizer is not None:
            optimizer.load_state_dict(self.saved.optimizer)
        for group in optimizer.param_groups:  # what LambdaLR scales (a state saved before schedules has none)
            group.setdefault("initial_lr", stage.learning_rate)
        # the rate of the saved epoch (of the first, for a fresh stage), set as the schedule is made
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, learning_rate_factor(stage.epochs), last_epoch=self.saved.epoch - 1
        )
        if self.saved.scheduler is not None:
            schedule.load_state_dict(self.saved.scheduler)
        for epoch in range(self.saved.epoch, stage.epochs):
            torch.manual_seed(self.config.seed + epoch)
            if not self._epoch(stage, module, optimizer, parameters, epoch):
                return False
            schedule.step()
            self.saved = SavedState(
                asdict(self.config), self.saved.completed, epoch + 1, optimizer.state_dict(), schedule.state_dict()
            )
            self._save_state()
        return True

    def _epoch(
        self,
        stage: Stage,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        parameters: list[nn.Parameter],
        epoch: int,
    ) -> bool:
        stage_index = STAGES.index(stage.name)
        seeds = [step_seed(self.config.seed, stage_index, epoch, step, self.rank) for step in range(self._steps())]
        self.model.train()
        sums: dict[str, float] = {}
        for step, batch in enumerate(epoch_batches(stage.batches, seeds, self.config.loader_workers)):
            if self.stop_requested:
                return False
            losses = module(batch.to(self.device), epoch)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(parameters, 5.0)
            optimizer.step()
            values = {k: float(v.detach()) for k, v in losses.items()}
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            self.events.step(
                stage=stage.name,
                epoch=epoch + 1,
                epochs=stage.epochs,
                step=step + 1,
                steps=self._steps(),
                loss={k: round(v, 5) for k, v in values.items()},
            )
        self.events.emit(
            "epoch",
            stage=stage.name,
            epoch=epoch + 1,
            epochs=stage.epochs,
            mean_loss={k: round(v / self._steps(), 5) for k, v in sums.items()},
        )
        return True

    def _only_trainable(self, parameters: list[nn.Parameter]) -> list[nn.Parameter]:
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        for parameter in parameters:
            parameter.requires_grad_(True)
        return parameters

    # ---- the starting point, the teacher, the state ---------------------------------------------------
    def _load_starting_point(self) -> None:
        if self.config.init_model:
            self._load_init_model()
        if (
            "adapt" in self.config.stages
            and "pretrain" not in self.config.stages
            and not self.config.init_model
            and not self.state_path.exists()
        ):
            raise GmmSegError("adaptation without the pretrain stage starts from a trained model: give --init-model")
        if self.state_path.exists():
            weights, saved = load_state(self.state_path)
            conflicts = resume_conflicts(saved.config, self.config)
            if conflicts:
                raise GmmSegError(
                    f"{self.work} holds a run made with other options: {'; '.join(conflicts)}. "
                    "Repeat that run's command to resume it, or remove the folder (or give another "
                    "--work) to start afresh"
                )
            self.model.load_state_dict(weights)
            self.saved = saved

    def _load_init_model(self) -> None:
        model, _ = load_model(self.config.init_model)
        # a model from before the handedness net or the click refiner
        state, optional = model.state_dict(), ("handedness.", "refiner.")
        if not self.features_from_init():
            if "pretrain" not in self.config.stages:
                raise GmmSegError(
                    "another --context-slices or --feature-base than the --init-model's makes a new feature U-Net: "
                    "the run needs the pretrain stage"
                )
            fresh = ("features.", "heads.")
            state, optional = {k: v for k, v in state.items() if not k.startswith(fresh)}, optional + fresh
        try:
            self.model.load_weights(state, optional_prefixes=optional)
        except ModelError as error:
            raise ModelError(f"{self.config.init_model}: {error}") from None

    def _adaptation_teacher(self) -> GmmSegModel:
        """The frozen model adaptation starts from: ``--init-model``, else the model as the stage begins.

        The latter is saved beside the training state so that a resumed run is anchored to the same one.
        """
        if self.features_from_init():
            teacher, _ = load_model(self.config.init_model)
        else:
            snapshot = self.work / TEACHER_FILE
            if self.rank == 0 and not snapshot.exists():
                save_model(self.model, snapshot, {"role": "adaptation teacher"})
            if self.world > 1:
                dist.barrier()
            teacher, _ = load_model(snapshot)
        teacher = teacher.to(self.device).eval()
        for parameter in teacher.parameters():
            parameter.requires_grad_(False)
        return teacher

    def _save_state(self) -> None:
        if self.rank != 0:
            return
        save_state(self.state_path, self.model, self.saved)
        self.events.emit("saved", state=str(self.state_path), stage_epoch=self.saved.epoch)


def _fresh_weights(net: nn.Module, seed: int) -> None:
    """New seeded initial weights for ``net`` as its stage begins: the localiser and the handedness net learn their
    task from the labels alone, so what a run produces depends on its data and settings, not on which
    ``--init-model`` happened to hold an older net."""
    torch.manual_seed(seed)
    for layer in net.modules():
        if layer is not net and hasattr(layer, "reset_parameters"):
            layer.reset_parameters()


def train(config: TrainConfig) -> int:
    """Run a configured training; returns the process exit code."""
    return Trainer(config).run()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train, and return an exit code; a user error becomes a JSON ``error`` event, one
    ``gmmseg: error:`` line on stderr (as every ``gmmseg`` command prints it) and exit code 2."""
    config = parse_arguments(argv)
    try:
        return train(config)
    except GmmSegError as error:
        print(json.dumps({"event": "error", "message": str(error)}), flush=True)
        print(f"gmmseg: error: {error}", file=sys.stderr)
        return 2
