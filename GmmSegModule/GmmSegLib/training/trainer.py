"""The headless GmmSeg trainer: supervised pretraining, atlas, registration net, label-free ELBO adaptation.

Stages (DESIGN section 3.6), each resumable at epoch granularity:

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
   (GmmSegLib.model.class_prior; no training).

Progress goes to stdout as JSON lines (``event``: progress / stage / saved / done / stopped / error) for the
Slicer module and the CLI. The training state is saved atomically after every epoch; a killed run resumes
from it. SIGTERM stops at the next step with the last saved state intact (exit code 143). Under
``torchrun --nproc_per_node N`` it trains data-parallel with DistributedDataParallel (gloo on CPU, NCCL on
GPUs); only rank 0 writes files and prints.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..core.device import resolve_device
from ..core.errors import GmmSegError, InputError, ModelError
from ..core.labels import NUM_CLASSES, most_probable_class
from ..inference.handedness import storage_orders
from ..inference.localisation import locate_from_ground_truth, locate_heart
from ..inference.segmentation import forward_canonical, locate_and_centre, segment
from ..io import acdc
from ..io.checks import check_short_axis
from ..io.images import read_cardiac_image
from ..model.alignment import to_canonical
from ..model.atlas import PRIOR_STRENGTH, build_atlas, prior_at, warp_prior
from ..model.bundle import GmmSegModel, atomic_torch_save, load_checkpoint, load_model, save_model
from ..model.canonical_frame import CANONICAL_SPACING_MM
from ..model.class_prior import OFFSET_GRID, left_ventricle_offsets
from ..model.elbo import ElboWeights, assignment_term, negative_elbo, prior_term, prior_weight
from .augment import SELECTION_SHIFT_SEED, shifted_stack
from .calibration import choose_delta, offset_scores
from .sampling import Batch, Perturbation, Volume, draw_batch, localiser_frame, tight_fields_of_view

# the order of a full run; "handedness" and "calibration" come last so that the other stages keep their random
# streams, and the calibration judges the finished networks
STAGES = ("localiser", "atlas", "pretrain", "registration", "adapt", "handedness", "calibration")
STOPPED_EXIT_CODE = 143
STATE_FILE = "state.pt"  # in the work folder: the resumable training state
TEACHER_FILE = "adapt_teacher.pt"  # in the work folder: the frozen model an adaptation is anchored to


@dataclass
class TrainConfig:
    """Everything that determines a training run (stored in the state file and the model metadata)."""

    out: str
    work: str
    data: str = ""
    adapt_images: list[str] = field(default_factory=list)
    init_model: str = ""
    labelled_anchor: bool = False  # adapting an --init-model: also anchor it to the labelled split
    context_slices: int | None = None  # neighbours per side the feature U-Net sees; None: the --init-model's, or 0
    neighbour_jitter_mm: float = 0.0  # with slice context: how far each neighbour of a training crop may be moved
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    localiser_epochs: int = 40
    localiser_tight_views: int = 2  # extra copies of each labelled stack in a random tight field of view
    pretrain_epochs: int = 40
    registration_epochs: int = 10
    adapt_epochs: int = 10
    handedness_epochs: int = 40
    steps_per_epoch: int = 50
    batch_size: int = 16
    learning_rate: float = 1e-3
    adapt_learning_rate: float = 2e-4
    l3_start: float = 1.0
    l3_end: float = 0.01
    anchor_weight: float = 1.0
    seed: int = 42
    device: str = "auto"
    max_cases: int = 0  # 0: all; a small number makes a tiny run for tests


# options that may change between a run and its resumption: where the model goes and where it computes
RESUMABLE_WITH_OTHER = ("out", "work", "device")


def check_config(config: TrainConfig) -> None:
    """Refuse settings no training can run with, before anything is read or written."""
    counts = {"context_slices": config.context_slices or 0, "localiser_tight_views": config.localiser_tight_views,
              "max_cases": config.max_cases, "seed": config.seed,
              **{f"{stage}_epochs": getattr(config, f"{stage}_epochs")
                 for stage in ("localiser", "pretrain", "registration", "adapt", "handedness")}}
    rates = {"learning_rate": config.learning_rate, "adapt_learning_rate": config.adapt_learning_rate}
    weights = {"l3_start": config.l3_start, "l3_end": config.l3_end, "anchor_weight": config.anchor_weight,
               "neighbour_jitter_mm": config.neighbour_jitter_mm}
    problems = [f"{option(name)} must be 0 or more" for name, value in counts.items() if value < 0]
    problems += [f"{option(name)} must be 1 or more" for name in ("steps_per_epoch", "batch_size")
                 if getattr(config, name) < 1]
    problems += [f"{option(name)} must be a number above 0" for name, value in rates.items()
                 if not (math.isfinite(value) and value > 0)]
    problems += [f"{option(name)} must be a number of 0 or more" for name, value in weights.items()
                 if not (math.isfinite(value) and value >= 0)]
    if problems:
        raise GmmSegError("; ".join(problems))


def option(name: str) -> str:
    """The command-line spelling of a TrainConfig field."""
    return "--" + name.replace("_", "-")


def resume_conflicts(saved: dict, config: TrainConfig) -> list[str]:
    """The options of ``config`` that differ from those a saved training state was made with.

    A state resumed under other settings would give a model that neither command describes (or, for another
    slice context, no model at all), so any difference beyond :data:`RESUMABLE_WITH_OTHER` refuses to resume.
    Fields the saved state does not know (it predates them) are not compared.
    """
    current = asdict(config)
    return [f"{option(name)} {saved[name]!r} (now {current[name]!r})" for name in current
            if name in saved and name not in RESUMABLE_WITH_OTHER and saved[name] != current[name]]


class Progress:
    """JSON-lines progress on stdout (rank 0 only), with an ETA over all remaining steps."""

    def __init__(self, total_steps: int, enabled: bool):
        self.total_steps, self.enabled = max(total_steps, 1), enabled
        self.done_steps, self.start = 0, time.perf_counter()

    def emit(self, event: str, **fields) -> None:
        if self.enabled:
            print(json.dumps({"event": event, **fields}), flush=True)

    def step(self, **fields) -> None:
        self.done_steps += 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done_steps * (self.total_steps - self.done_steps)
        self.emit("progress", **fields, eta_s=round(eta, 1), elapsed_s=round(elapsed, 1))


def normalisation_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The affine scale and shift of every normalisation layer in ``module``."""
    norms = (nn.InstanceNorm2d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)
    return [p for layer in module.modules() if isinstance(layer, norms) for p in layer.parameters(recurse=False)]


class LossModule(nn.Module):
    """Holds the model so that DistributedDataParallel can wrap one forward that returns the losses."""

    def __init__(self, model: GmmSegModel, loss: Callable[[GmmSegModel, Batch, int], dict[str, torch.Tensor]]):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch: Batch, epoch: int) -> dict[str, torch.Tensor]:
        return self.loss(self.model, batch, epoch)


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus soft Dice over the three structures."""
    probabilities = torch.softmax(logits, dim=1)
    one_hot = F.one_hot(labels, NUM_CLASSES).permute(0, 3, 1, 2).float()
    intersection = (probabilities * one_hot).sum(dim=(0, 2, 3))
    denominator = probabilities.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    dice = (2 * intersection + 1) / (denominator + 1)
    return F.cross_entropy(logits, labels) + (1 - dice[1:]).mean()


def supervised_losses(model: GmmSegModel, batch: Batch, prior_weight_value: float) -> dict[str, torch.Tensor]:
    """Pretraining: the features as a segmenter (the baseline), pi, and d_hat by the ELBO with known labels."""
    features = model.features(batch.images)
    pi_logits = model.heads.responsibilities_logits(features)
    prior = prior_at(model.atlas, batch.positions)
    concentrations = model.heads.concentrations(features, prior)
    one_hot = F.one_hot(batch.labels, NUM_CLASSES).permute(0, 3, 1, 2).float()
    losses = {"features": segmentation_loss(features, batch.labels),
              "pi": segmentation_loss(pi_logits, batch.labels),
              "d_hat": assignment_term(one_hot, concentrations),
              "prior_kl": prior_term(concentrations, PRIOR_STRENGTH * prior)}
    losses["total"] = losses["features"] + losses["pi"] + losses["d_hat"] + prior_weight_value * losses["prior_kl"]
    return losses


def registration_target(labels: torch.Tensor, prior: torch.Tensor, phi_applied: torch.Tensor,
                        spacing_mm: float) -> torch.Tensor:
    """phi that maps the prior onto labels moved by ``phi_applied``: moment fit of prior->labels, then composed.

    The fit A_y (scale from heart areas, shift from heart centroids, no rotation since the canonical
    alignment already orients LV->RV) is composed with the applied transform A: A o A_y.
    """
    size = labels.shape[-1]
    coordinates = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * spacing_mm
    y_mm, x_mm = torch.meshgrid(coordinates, coordinates, indexing="ij")

    def moments(mass: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = mass.sum(dim=(-2, -1)).clamp_min(1e-6)
        centre = torch.stack([(mass * x_mm).sum(dim=(-2, -1)), (mass * y_mm).sum(dim=(-2, -1))], -1) / total[:, None]
        return total, centre

    label_area, label_centre = moments((labels > 0).float())
    prior_area, prior_centre = moments((prior[:, 0] < 0.5).float())
    log_scale_fit = 0.5 * torch.log(label_area.clamp_min(1.0) / prior_area)
    shift_fit = label_centre - torch.exp(log_scale_fit)[:, None] * prior_centre
    shift_fit = torch.where((labels > 0).flatten(1).any(1)[:, None], shift_fit, torch.zeros_like(shift_fit))
    log_scale_fit = torch.where((labels > 0).flatten(1).any(1), log_scale_fit, torch.zeros_like(log_scale_fit))
    log_s, tx, ty, rotation = phi_applied.unbind(-1)
    cos, sin, scale = torch.cos(rotation), torch.sin(rotation), torch.exp(log_s)
    shifted_x = scale * (cos * shift_fit[:, 0] - sin * shift_fit[:, 1]) + tx
    shifted_y = scale * (sin * shift_fit[:, 0] + cos * shift_fit[:, 1]) + ty
    return torch.stack([log_s + log_scale_fit, shifted_x, shifted_y, rotation], -1)


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
        self.model = GmmSegModel(handedness=self._with_handedness(),
                                 context_slices=self._context_slices()).to(self.device)
        self.completed: list[str] = []
        self.resume_epoch = 0
        self.labelled: list[Volume] = []
        self.unlabelled: list[Volume] = []
        self.teacher: GmmSegModel | None = None
        self.optimizer_state: dict | None = None

    def _with_handedness(self) -> bool:
        """Whether the model gets a handedness net: when this run trains one or its starting model has one.

        A model with an untrained handedness net would mirror stacks at random, so none is added otherwise.
        """
        return "handedness" in self.config.stages or bool(self.init_config.get("handedness", False))

    def _context_slices(self) -> int:
        """The feature U-Net's slice context: as configured, else as the starting model's, else none."""
        if self.config.context_slices is not None:
            return self.config.context_slices
        return int(self.init_config.get("context_slices", 0))

    def _feature_networks_from_init(self) -> bool:
        """Whether the feature U-Net and heads start as ``--init-model``'s: not when the slice context changes,
        since a U-Net that sees other input channels is a new network, trained by this run's pretrain stage."""
        init_context = int(self.init_config.get("context_slices", 0))
        return bool(self.config.init_model) and init_context == self.model.context_slices

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
        self.progress = Progress(self._total_steps(), self.rank == 0)
        self.progress.emit("start", config=asdict(self.config), world_size=self.world, device=str(self.device),
                           resumed_stages=self.completed, resume_epoch=self.resume_epoch)
        for stage in self.config.stages:
            if stage in self.completed:
                continue
            self.progress.emit("stage", stage=stage)
            if not getattr(self, f"_stage_{stage}")():
                saved = self.state_path.is_file()
                self.progress.emit("stopped", stage=stage, state=str(self.state_path) if saved else None,
                                   message="run the same command again to resume" if saved else
                                   "stopped before anything was saved: the same command starts from the beginning")
                return STOPPED_EXIT_CODE
            self.completed.append(stage)
            self.resume_epoch, self.optimizer_state = 0, None
            self._save_state(stage_done=True)
        if self.rank == 0:
            sha256 = save_model(self.model, self.config.out, {"config": asdict(self.config), "stages": self.completed})
            self.progress.emit("done", model=str(self.config.out), sha256=sha256)
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()
        return 0

    def _total_steps(self) -> int:
        c = self.config
        epochs = {"localiser": c.localiser_epochs, "pretrain": c.pretrain_epochs,
                  "registration": c.registration_epochs, "adapt": c.adapt_epochs,
                  "handedness": c.handedness_epochs}
        remaining = [s for s in c.stages if s not in self.completed and s in epochs]
        return sum(epochs[s] for s in remaining) * self._steps() - self.resume_epoch * self._steps()

    def _steps(self) -> int:
        return max(1, self.config.steps_per_epoch // self.world)

    def _load_starting_point(self) -> None:
        if self.config.init_model:
            model, _ = load_model(self.config.init_model)
            state, optional = model.state_dict(), ("handedness.",)  # a model from before the handedness net
            if not self._feature_networks_from_init():
                if "pretrain" not in self.config.stages:
                    raise GmmSegError("another --context-slices than the --init-model's makes a new feature U-Net: "
                                      "the run needs the pretrain stage")
                fresh = ("features.", "heads.")
                state, optional = {k: v for k, v in state.items() if not k.startswith(fresh)}, optional + fresh
            try:
                self.model.load_weights(state, optional_prefixes=optional)
            except ModelError as error:
                raise ModelError(f"{self.config.init_model}: {error}") from None
        if ("adapt" in self.config.stages and "pretrain" not in self.config.stages and not self.config.init_model
                and not self.state_path.exists()):
            raise GmmSegError("adaptation without the pretrain stage starts from a trained model: give --init-model")
        if self.state_path.exists():
            state = load_checkpoint(self.state_path)
            conflicts = resume_conflicts(state["metadata"].get("config", {}), self.config)
            if conflicts:
                raise GmmSegError(f"{self.work} holds a run made with other options: {'; '.join(conflicts)}. "
                                  "Repeat that run's command to resume it, or remove the folder (or give another "
                                  "--work) to start afresh")
            self.model.load_state_dict(state["state"])
            self.completed = list(state["metadata"]["completed"])
            self.resume_epoch = int(state["metadata"]["epoch"])
            self.optimizer_state = state["metadata"].get("optimizer")

    def _adaptation_teacher(self) -> GmmSegModel:
        """The frozen model adaptation starts from: ``--init-model``, else the model as the stage begins.

        The latter is saved beside the training state so that a resumed run is anchored to the same one.
        """
        if self._feature_networks_from_init():
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

    def _save_state(self, epoch: int = 0, optimizer: torch.optim.Optimizer | None = None,
                    stage_done: bool = False) -> None:
        if self.rank != 0:
            return
        metadata = {"config": asdict(self.config), "completed": self.completed, "epoch": 0 if stage_done else epoch,
                    "optimizer": None if (stage_done or optimizer is None) else optimizer.state_dict()}
        state = {name: t.detach().cpu() for name, t in self.model.state_dict().items()}
        atomic_torch_save({"format": "gmmseg-checkpoint-1", "config": self.model.config, "state": state,
                           "metadata": metadata}, self.state_path)
        self.progress.emit("saved", state=str(self.state_path), stage_epoch=metadata["epoch"])

    # ---- data --------------------------------------------------------------------------------
    def _labelled_split(self) -> tuple[Path, list[acdc.AcdcCase]]:
        """The ACDC folder and its labelled auxiliary cases (the first ``max_cases`` when given)."""
        root = Path(self.config.data) if self.config.data else acdc.default_acdc_dir()
        labelled, _ = acdc.split(acdc.list_cases(root))
        return root, labelled[: self.config.max_cases] if self.config.max_cases else labelled

    def _labelled_volumes(self) -> list[Volume]:
        if not self.labelled:
            root, labelled = self._labelled_split()
            for case in labelled:
                image, labels = acdc.load_case(root, case)
                location = locate_from_ground_truth(labels, image.spacing_xyz)
                if location is not None:
                    self.labelled.append(Volume.from_image(image, location, labels))
        return self.labelled

    def _unlabelled_volumes(self) -> list[Volume]:
        """Target images for adaptation, located by the trained localiser (labels are never read).

        As at inference, a cine is located (and its handedness decided) once, on its first frame, and every
        frame is cropped there.
        """
        if not self.unlabelled:
            paths = [Path(p) for p in self.config.adapt_images]
            if not paths:
                root = Path(self.config.data) if self.config.data else acdc.default_acdc_dir()
                cases = acdc.list_cases(root)
                if self.config.max_cases:
                    cases = cases[: self.config.max_cases]
                paths = [acdc.image_path(root, case) for case in cases]
            self.model.eval()
            for path in paths:
                image = read_cardiac_image(path)
                image = image.kept_slices(~check_short_axis(image))  # without blank slices, as segment() sees it
                location = locate_and_centre(self.model, image.frames[0], image.spacing_xyz, self.device, str(path))[0]
                self.unlabelled.extend(Volume.from_image(image, location, frame=frame)
                                       for frame in range(image.num_frames))
        return self.unlabelled

    def _generator(self, stage: str, epoch: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed * 1_000_003 + STAGES.index(stage) * 10_007
                                             + epoch * 101 + self.rank)

    # ---- the generic epoch loop -------------------------------------------------------------------
    def _train(self, stage: str, trainable: list[nn.Module] | list[nn.Parameter], loss: Callable, epochs: int,
               learning_rate: float, batches: Callable[[torch.Generator], Batch]) -> bool:
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        parameters = [p for item in trainable
                      for p in (item.parameters() if isinstance(item, nn.Module) else [item])]
        for parameter in parameters:
            parameter.requires_grad_(True)
        module: nn.Module = LossModule(self.model, loss)
        if self.world > 1:
            module = nn.parallel.DistributedDataParallel(module, find_unused_parameters=True)
        optimizer = torch.optim.Adam(parameters, lr=learning_rate, weight_decay=1e-5)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        for epoch in range(self.resume_epoch, epochs):
            torch.manual_seed(self.config.seed + epoch)
            lr = learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1))))
            for group in optimizer.param_groups:
                group["lr"] = lr
            generator = self._generator(stage, epoch)
            self.model.train()
            sums: dict[str, float] = {}
            for step in range(self._steps()):
                if self.stop_requested:
                    return False
                batch = batches(generator)
                batch = batch.to(self.device)
                losses = module(batch, epoch)
                optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(parameters, 5.0)
                optimizer.step()
                values = {k: float(v.detach()) for k, v in losses.items()}
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                self.progress.step(stage=stage, epoch=epoch + 1, epochs=epochs, step=step + 1, steps=self._steps(),
                                   loss={k: round(v, 5) for k, v in values.items()})
            self.progress.emit("epoch", stage=stage, epoch=epoch + 1, epochs=epochs,
                               mean_loss={k: round(v / self._steps(), 5) for k, v in sums.items()})
            self._save_state(epoch + 1, optimizer)
        return True

    # ---- stages ------------------------------------------------------------------------------------
    def _feature_batches(self, volumes: list[Volume]) -> Callable[[torch.Generator], Batch]:
        """Random training crops of ``volumes`` as the feature U-Net takes them (with the model's slice context)."""
        return lambda g: draw_batch(volumes, self.config.batch_size, self._perturbation(), g,
                                    context=self.model.context_slices)

    def _perturbation(self) -> Perturbation:
        """How training crops for the feature U-Net are perturbed (with the configured neighbour jitter)."""
        return Perturbation(neighbour_shift_mm=self.config.neighbour_jitter_mm)

    def _start_fresh(self, net: nn.Module) -> None:
        """Give ``net`` new seeded initial weights when its stage begins (not when it resumes).

        The localiser and the handedness net learn their task from the labels alone, so a run that trains
        them does so from scratch: what it produces depends on its data and settings, not on which
        ``--init-model`` happened to hold an older net.
        """
        if self.resume_epoch or self.optimizer_state is not None:
            return
        torch.manual_seed(self.config.seed)
        for layer in net.modules():
            if layer is not net and hasattr(layer, "reset_parameters"):
                layer.reset_parameters()

    def _stage_localiser(self) -> bool:
        """The localiser on whole slices at 4 mm, turned any way, with each stack also in tight fields of view."""
        self._start_fresh(self.model.localiser)
        labelled = self._labelled_volumes()
        cuts = torch.Generator().manual_seed(self.config.seed)  # the same fields of view on every rank and run
        volumes = labelled + [view for volume in labelled
                              for view in tight_fields_of_view(volume, self.config.localiser_tight_views, cuts)]
        perturbation = Perturbation(shift_mm=30.0, rotation_deg=180.0, log_scale=math.log(1.25))

        def loss(model: GmmSegModel, batch: Batch, _epoch: int) -> dict[str, torch.Tensor]:
            total = segmentation_loss(model.localiser(batch.images), batch.labels)
            return {"total": total}

        return self._train("localiser", [self.model.localiser], loss, self.config.localiser_epochs,
                           self.config.learning_rate,
                           lambda g: draw_batch(volumes, self.config.batch_size, perturbation, g, localiser_frame))

    def _stage_atlas(self) -> bool:
        labels, positions = [], []
        for volume in self._labelled_volumes():
            one_hot = F.one_hot(volume.labels, NUM_CLASSES).permute(0, 3, 1, 2).float()
            labels.append(most_probable_class(to_canonical(one_hot, volume.frame())))
            positions.append(torch.as_tensor(volume.location.positions))
        atlas = build_atlas(torch.cat(labels).numpy(), torch.cat(positions).numpy())
        self.model.atlas.copy_(atlas.to(self.device))
        return True

    def _stage_pretrain(self) -> bool:
        volumes = self._labelled_volumes()
        c = self.config

        def loss(model: GmmSegModel, batch: Batch, epoch: int) -> dict[str, torch.Tensor]:
            return supervised_losses(model, batch, prior_weight(epoch, c.pretrain_epochs, c.l3_start, c.l3_end))

        heads = self.model.heads
        return self._train("pretrain", [self.model.features, heads.z_net, heads.o_net], loss, c.pretrain_epochs,
                           c.learning_rate, self._feature_batches(volumes))

    def _stage_registration(self) -> bool:
        volumes = self._labelled_volumes()
        c = self.config

        def loss(model: GmmSegModel, batch: Batch, _epoch: int) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                features = model.features(batch.images)
                responsibilities = torch.softmax(model.heads.responsibilities_logits(features), 1)
                prior = prior_at(model.atlas, batch.positions)
                bounds = torch.tensor([0.3, 15.0, 15.0, 0.35], device=batch.images.device)
                applied = (torch.rand(batch.images.shape[0], 4, device=batch.images.device) * 2 - 1) * bounds
                moved = warp_prior(responsibilities, applied)
                target = registration_target(batch.labels.cpu(), prior.cpu(), applied.cpu(),
                                             CANONICAL_SPACING_MM).to(batch.images.device)
            predicted = model.registration(moved, prior)
            scale = torch.tensor([0.2, 10.0, 10.0, 0.2], device=predicted.device)
            total = F.smooth_l1_loss(predicted / scale, target / scale)
            return {"total": total}

        return self._train("registration", [self.model.registration], loss, c.registration_epochs,
                           c.learning_rate, self._feature_batches(volumes))

    def _stage_adapt(self) -> bool:
        """Label-free ELBO adaptation, kept from drifting away from what the model already does well.

        The starting model is the teacher (frozen): the adapted posterior, on an appearance-augmented
        target crop, is anchored to the teacher's posterior on the same crop unaugmented, and, when
        labelled data is at hand (training from scratch, or ``--labelled-anchor`` with an
        ``--init-model``), to the labels too. In the feature U-Net only the normalisation layers' affine
        parameters move (as in test-time adaptation by normalisation statistics): enough to follow a new
        site's contrast, too little to forget the anatomy. x_net (the Gaussians) always adapts; z_net and
        o_net only with labels to hold them: without, they drift under the ELBO (on the selection split,
        three epochs took the GmmSeg head from 0.862 to 0.853 mean Dice; with them frozen it kept 0.861).
        """
        c = self.config
        targets = self._unlabelled_volumes()
        labelled = self._labelled_volumes() if not self._feature_networks_from_init() or c.labelled_anchor else []
        self.teacher = self._adaptation_teacher()

        def loss(model: GmmSegModel, batch: Batch, epoch: int) -> dict[str, torch.Tensor]:
            size = c.batch_size
            target_batch = Batch(batch.images[:size], None, batch.positions[:size])
            prior = prior_at(model.atlas, target_batch.positions)
            outputs = forward_canonical(model, target_batch.images, prior, per_volume_phi=False)
            means, log_variances = model.heads.gaussians(outputs.features)
            weights = ElboWeights(prior=prior_weight(epoch, c.adapt_epochs, c.l3_start, c.l3_end))
            # the Gaussians live in the space the heads see: the instance-normalised features
            losses = negative_elbo(model.heads.normalise(outputs.features), outputs.responsibilities, means,
                                   log_variances, outputs.concentrations,
                                   PRIOR_STRENGTH * outputs.registered_prior, weights)
            with torch.no_grad():
                reference = forward_canonical(self.teacher, batch.clean_images, prior, outputs.phi).posterior
            anchor = -(reference * torch.log(outputs.posterior.clamp_min(1e-8))).sum(1).mean()
            if labelled:
                labelled_batch = Batch(batch.images[size:], batch.labels, batch.positions[size:])
                anchor = anchor + supervised_losses(model, labelled_batch, weights.prior)["total"]
            losses["anchor"] = anchor
            losses["total"] = losses["total"] + c.anchor_weight * anchor
            return losses

        def batches(generator: torch.Generator) -> Batch:
            context = self.model.context_slices
            unlabelled = draw_batch(targets, c.batch_size, self._perturbation(), generator, keep_clean=True,
                                    context=context)
            if not labelled:
                return unlabelled
            supervised = draw_batch(labelled, c.batch_size // 2, self._perturbation(), generator, context=context)
            return Batch(torch.cat([unlabelled.images, supervised.images]), supervised.labels,
                         torch.cat([unlabelled.positions, supervised.positions]), unlabelled.clean_images)

        heads = self.model.heads
        trainable = [*normalisation_parameters(self.model.features), heads.x_net]
        if labelled:
            trainable += [heads.z_net, heads.o_net]
        return self._train("adapt", trainable, loss, c.adapt_epochs, c.adapt_learning_rate, batches)

    def _stage_handedness(self) -> bool:
        """The handedness net (GmmSegLib.inference.handedness): half of every batch from stacks in the training
        handedness, half from mirrored ones, all located by the localiser as at inference."""
        self._start_fresh(self.model.handedness)
        kept, mirrored = self._handedness_volumes()
        c = self.config
        kept_per_batch = c.batch_size // 2  # the first crops of a batch; the rest are mirrored

        def loss(model: GmmSegModel, batch: Batch, _epoch: int) -> dict[str, torch.Tensor]:
            targets = torch.zeros(batch.images.shape[0], device=batch.images.device)
            targets[kept_per_batch:] = 1.0
            return {"total": F.binary_cross_entropy_with_logits(model.handedness(batch.images), targets)}

        def batches(generator: torch.Generator) -> Batch:
            first = draw_batch(kept, kept_per_batch, Perturbation(), generator)
            second = draw_batch(mirrored, c.batch_size - kept_per_batch, Perturbation(), generator)
            return Batch(torch.cat([first.images, second.images]), None,
                         torch.cat([first.positions, second.positions]))

        return self._train("handedness", [self.model.handedness], loss, c.handedness_epochs, c.learning_rate,
                           batches)

    def _stage_calibration(self) -> bool:
        """The class-prior correction of the label posterior (GmmSegLib.model.class_prior), chosen by the mean Dice
        of the labelled stacks segmented as stored and through the synthetic new scanner.

        Each stack is segmented once without a correction and every candidate is applied to its native-grid
        probabilities, as inference applies the chosen one.
        """
        self.model.class_log_offsets.zero_()
        self.model.eval()
        root, cases = self._labelled_split()
        scores, steps = [], 2 * len(cases)
        progress = Progress(steps, self.rank == 0)  # one step per stack; the stage has no epochs
        for index, case in enumerate(cases):
            image, truth = acdc.load_case(root, case)
            for view, frames in enumerate((image.frames,
                                           shifted_stack(image.frames[0], SELECTION_SHIFT_SEED + index)[None])):
                if self.stop_requested:
                    return False
                try:
                    result = segment(replace(image, frames=frames), self.model, self.device)
                except InputError:  # the localiser misses this heart: it says nothing about the decision
                    pass
                else:
                    scores.append(offset_scores(result.probabilities[0], truth))
                progress.step(stage="calibration", epoch=1, epochs=1, step=2 * index + view + 1, steps=steps)
        delta = choose_delta(np.array(scores))
        self.model.class_log_offsets.copy_(left_ventricle_offsets(delta))
        means = np.array(scores).mean(axis=0) if scores else np.full(len(OFFSET_GRID), np.nan)
        self.progress.emit("calibration", volumes=len(scores), delta=delta,
                           mean_dice={str(d): round(float(m), 5) for d, m in zip(OFFSET_GRID, means, strict=True)})
        return True

    def _handedness_volumes(self) -> tuple[list[Volume], list[Volume]]:
        """The labelled stacks in every storage order, located by the trained localiser: (kept, mirrored)."""
        kept: list[Volume] = []
        mirrored: list[Volume] = []
        self.model.eval()
        for volume in self._labelled_volumes():
            for slices, spacing, is_mirrored in storage_orders(volume.slices.numpy(), volume.spacing):
                try:
                    location = locate_heart(self.model.localiser, slices, spacing, self.device, volume.name)
                except InputError:  # the localiser misses this view of the heart: nothing to learn from it
                    continue
                (mirrored if is_mirrored else kept).append(
                    Volume(torch.from_numpy(slices), None, spacing, location, volume.name))
        return kept, mirrored


def discard_training_state(work: str | Path) -> None:
    """Remove a finished run's resumable state (what the trainer wrote in ``work``, and the folder if that
    leaves it empty), for callers whose product is the model alone (``gmmseg adapt``)."""
    work = Path(work)
    for name in (STATE_FILE, TEACHER_FILE):
        (work / name).unlink(missing_ok=True)
    if work.is_dir() and not any(work.iterdir()):
        work.rmdir()


def train(config: TrainConfig) -> int:
    """Run a configured training; returns the process exit code."""
    return Trainer(config).run()


OPTION_HELP = (  # (TrainConfig field, type, help) of the numeric options
    ("localiser_epochs", int, "epochs of the localiser stage"),
    ("localiser_tight_views", int, "extra copies of each labelled stack in a random tight field of view"),
    ("pretrain_epochs", int, "epochs of supervised pretraining of the feature U-Net and heads"),
    ("registration_epochs", int, "epochs of the prior registration net"),
    ("adapt_epochs", int, "epochs of label-free adaptation (the negative ELBO)"),
    ("handedness_epochs", int, "epochs of the net that recognises stacks stored mirrored"),
    ("steps_per_epoch", int, "optimisation steps per epoch"),
    ("batch_size", int, "slices per step"),
    ("seed", int, "random seed (a resumed run continues the same sequence)"),
    ("max_cases", int, "use only the first N labelled volumes, 0 for all: a short run to try the trainer"),
    ("learning_rate", float, "learning rate of the supervised stages"),
    ("adapt_learning_rate", float, "learning rate of the adaptation"),
    ("l3_start", float, "weight of the KL term against the prior at the first adaptation epoch"),
    ("l3_end", float, "its weight at the last epoch (cosine decay between)"),
    ("anchor_weight", float, "weight keeping the adaptation near the starting model's predictions"),
    ("neighbour_jitter_mm", float, "with --context-slices: how far each neighbouring slice of a crop may move"),
)


def parse_arguments(argv: list[str] | None = None) -> TrainConfig:
    """Command-line arguments of ``scripted_training/train.py`` and ``gmmseg train``."""
    import argparse

    defaults = TrainConfig(out="", work="")
    parser = argparse.ArgumentParser(prog="train.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True, help="final model checkpoint (.pt)")
    parser.add_argument("--work", default="", help="folder for the resumable training state ('': <out>.work)")
    parser.add_argument("--data", default="", help=f"ACDC folder ('': ${acdc.DATA_ENV}, else ../shared/data/acdc)")
    parser.add_argument("--adapt-images", nargs="*", default=[], help="unlabelled images to adapt to")
    parser.add_argument("--init-model", default="", help="start from this checkpoint (adaptation)")
    parser.add_argument("--labelled-anchor", action="store_true",
                        help="with --init-model: keep the adaptation anchored to the labelled ACDC split too")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES,
                        help="the stages to run, in this order (README: The trainer)")
    parser.add_argument("--context-slices", type=int, default=None,
                        help="neighbouring slices on each side the feature U-Net sees (None: the --init-model's, "
                             "or 0); another value than the --init-model's trains a new feature U-Net and heads")
    for name, kind, text in OPTION_HELP:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(defaults, name), help=text)
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or mps")
    arguments = parser.parse_args(argv)
    values = vars(arguments)
    values["work"] = values["work"] or str(Path(values["out"]).with_suffix(".work"))
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train, and return an exit code; user errors become one JSON line and exit code 2."""
    config = parse_arguments(argv)
    try:
        return train(config)
    except GmmSegError as error:
        print(json.dumps({"event": "error", "message": str(error)}), flush=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
