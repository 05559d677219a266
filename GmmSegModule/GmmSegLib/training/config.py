"""A training run's settings: what determines it, what may change when it resumes, and its command line."""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import GmmSegError
from ..core.paths import ACDC_ENV
from ..io import acdc

# every stage (a stage's random stream follows its place here); in a run the calibration comes after the networks
# it judges and the refiner after the segmenter whose errors it learns
STAGES = (
    "localiser",
    "atlas",
    "pretrain",
    "responsibilities",
    "registration",
    "adapt",
    "handedness",
    "calibration",
    "refiner",
)

# what a run does when --stages is not given: the shipped model's recipe (v8's stages, then z_net, the registration
# net and the calibration again on the features as adaptation left them, as v9 was made; with 120 epochs of
# pretraining, the recipe adopted since). No click refiner: it needs more clicks than the geodesic path for the LV
# (BENCHMARKS.md, "A learned click refiner"); ``--stages ... refiner`` adds one.
# A stage may come twice, and a resumed run skips the stages it finished by their place in this list
RECIPE_STAGES = (
    "localiser",
    "atlas",
    "pretrain",
    "registration",
    "adapt",
    "handedness",
    "responsibilities",
    "registration",
    "calibration",
)


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
    # the feature U-Net's channels at full resolution (doubling at each level up to 128): its share of a volume's time
    # (BENCHMARKS.md, "Speed and memory"); None: the --init-model's, or the 16 of every model up to v10
    feature_base: int | None = None
    neighbour_jitter_mm: float = 0.0  # with slice context: how far each neighbour of a training crop may be moved
    stages: list[str] = field(default_factory=lambda: list(RECIPE_STAGES))
    localiser_epochs: int = 40
    localiser_tight_views: int = 2  # extra copies of each labelled stack in a random tight field of view
    pretrain_epochs: int = 120  # 40 made v9, 120 v10: 0.5 points more out of fold (BENCHMARKS.md, trial "pretrain 120")
    responsibilities_epochs: int = 10
    registration_epochs: int = 10
    adapt_epochs: int = 10
    handedness_epochs: int = 40
    refiner_epochs: int = 30
    steps_per_epoch: int = 50
    batch_size: int = 16
    learning_rate: float = 1e-3
    adapt_learning_rate: float = 2e-4
    # z_net's rate on the frozen features: Adam moves a weight by about its rate a step, and the bias of a class the
    # pretrained z_net codes as "no channel fires" must move by several units (BENCHMARKS.md, accuracy section)
    responsibilities_learning_rate: float = 1e-2
    l3_start: float = 1.0
    l3_end: float = 0.01
    anchor_weight: float = 1.0
    # the chance that a training crop looks like another scanner and site (training.scanner_effects) rather than
    # getting the older gamma/bias/resolution/noise augmentation; 0 is the recipe models up to v7 were trained with
    site_chance: float = 0.5
    # the chance that a crop is also darkened and made noisy after that (scanner_effects.low_contrast); 0 is the recipe
    # models up to v10 were trained with (0.5 cost the clean images 0.7 points out of fold: BENCHMARKS.md)
    low_contrast_chance: float = 0.0
    # the chance that a crop first goes through a shallow network of random weights
    # (scanner_effects.random_texture_network); 0 is the recipe models up to v10 were trained with
    texture_network_chance: float = 0.0
    seed: int = 42
    device: str = "auto"
    # processes that draw the training batches while the training process computes (training.batch_stream); 0: the
    # training process draws them. The same batches either way, so a run may resume with another number
    loader_workers: int = 0
    max_cases: int = 0  # 0: all; a small number makes a tiny run for tests
    # cross-validation: the labelled patients are cut into `folds` (io.acdc.fold_of) and `held_out_fold` is never
    # trained on; 2 and 1 are the project's split (the development-validation patients held out); None trains on
    # every labelled patient (the model to ship, whose accuracy figures are the folds' out-of-fold ones)
    folds: int = acdc.FOLDS
    held_out_fold: int | None = acdc.HELD_OUT_FOLD


# what `gmmseg adapt` runs unless told otherwise: 90 steps of 16 crops, so that 12 volumes are adapted and checked
# within 5 minutes on two cores (BENCHMARKS.md, "Simulated sites"); longer adaptation moved nothing more (3 epochs
# and 10 gave the same Dice: BENCHMARKS.md, accuracy section)
ADAPT_EPOCHS, ADAPT_STEPS_PER_EPOCH = 3, 30

# options that may change between a run and its resumption: where the model goes and where it computes
RESUMABLE_WITH_OTHER = ("out", "work", "device", "loader_workers")


def workers_possible() -> bool:
    """Whether training batches can be drawn in forked workers here (training.batch_stream): not on Windows, which
    cannot fork a process."""
    return "fork" in multiprocessing.get_all_start_methods()


def check_config(config: TrainConfig) -> None:
    """Refuse settings no training can run with, before anything is read or written."""
    counts = {
        "context_slices": config.context_slices or 0,
        "localiser_tight_views": config.localiser_tight_views,
        "max_cases": config.max_cases,
        "seed": config.seed,
        "loader_workers": config.loader_workers,
        **{  # every stage that trains for epochs
            f"{stage}_epochs": getattr(config, f"{stage}_epochs")
            for stage in STAGES
            if hasattr(config, f"{stage}_epochs")
        },
    }
    rates = {
        "learning_rate": config.learning_rate,
        "adapt_learning_rate": config.adapt_learning_rate,
        "responsibilities_learning_rate": config.responsibilities_learning_rate,
    }
    weights = {
        "l3_start": config.l3_start,
        "l3_end": config.l3_end,
        "anchor_weight": config.anchor_weight,
        "neighbour_jitter_mm": config.neighbour_jitter_mm,
    }
    problems = [f"{option(name)} must be 0 or more" for name, value in counts.items() if value < 0]
    at_least_one = {
        "steps_per_epoch": config.steps_per_epoch,
        "batch_size": config.batch_size,
        "feature_base": 1 if config.feature_base is None else config.feature_base,
    }
    problems += [f"{option(name)} must be 1 or more" for name, value in at_least_one.items() if value < 1]
    problems += [
        f"{option(name)} must be a number above 0"
        for name, value in rates.items()
        if not (math.isfinite(value) and value > 0)
    ]
    problems += [
        f"{option(name)} must be a number of 0 or more"
        for name, value in weights.items()
        if not (math.isfinite(value) and value >= 0)
    ]
    for name in ("site_chance", "low_contrast_chance", "texture_network_chance"):
        if not (math.isfinite(getattr(config, name)) and 0 <= getattr(config, name) <= 1):
            problems.append(f"{option(name)} must be a number from 0 to 1")
    if config.loader_workers > 0 and not workers_possible():
        problems.append(
            f"{option('loader_workers')} needs a system that forks processes (not Windows): give 0, the training "
            "process then draws the batches"
        )
    if not 2 <= config.folds <= acdc.GROUP_SIZE:
        problems.append(f"{option('folds')} must be from 2 to {acdc.GROUP_SIZE}")
    elif config.held_out_fold is not None and not 0 <= config.held_out_fold < config.folds:
        problems.append(f"{option('held_out_fold')} must be from 0 to {config.folds - 1}")
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
    return [
        f"{option(name)} {saved[name]!r} (now {current[name]!r})"
        for name in current
        if name in saved and name not in RESUMABLE_WITH_OTHER and saved[name] != current[name]
    ]


def fold_or_none(text: str) -> int | None:
    """``--held-out-fold``: a fold's number, or ``none`` for no fold held out."""
    return None if text.strip().lower() == "none" else int(text)


OPTION_HELP = (  # (TrainConfig field, type, help) of the numeric options
    ("localiser_epochs", int, "epochs of the localiser stage"),
    ("localiser_tight_views", int, "extra copies of each labelled stack in a random tight field of view"),
    ("pretrain_epochs", int, "epochs of supervised pretraining of the feature U-Net and heads"),
    ("responsibilities_epochs", int, "epochs of z_net alone on the pretrained features (pi as sure as they are)"),
    ("registration_epochs", int, "epochs of the prior registration net"),
    ("adapt_epochs", int, "epochs of label-free adaptation (the negative ELBO)"),
    ("handedness_epochs", int, "epochs of the net that recognises stacks stored mirrored"),
    ("refiner_epochs", int, "epochs of the click refiner, on simulated clicks on the segmenter's errors"),
    ("steps_per_epoch", int, "optimisation steps per epoch"),
    ("batch_size", int, "slices per step"),
    ("seed", int, "random seed (a resumed run continues the same sequence)"),
    (
        "loader_workers",
        int,
        "processes that draw the training batches while the training process computes (0: it draws them itself); "
        "the same batches either way. On a GPU, one per free CPU core keeps it busy",
    ),
    ("max_cases", int, "use only the first N labelled volumes, 0 for all: a short run to try the trainer"),
    ("folds", int, "cross-validation: cut the labelled ACDC patients into this many folds (every pathology in each)"),
    (
        "held_out_fold",
        fold_or_none,
        "the fold never trained on (with 2 folds, 1 is the development-validation patients); none: train on every "
        "labelled patient (the model to ship)",
    ),
    ("learning_rate", float, "learning rate of the supervised stages"),
    ("adapt_learning_rate", float, "learning rate of the adaptation"),
    ("responsibilities_learning_rate", float, "learning rate of the responsibilities stage"),
    ("l3_start", float, "weight of the KL term against the prior at the first adaptation epoch"),
    ("l3_end", float, "its weight at the last epoch (cosine decay between)"),
    ("anchor_weight", float, "weight keeping the adaptation near the starting model's predictions"),
    ("neighbour_jitter_mm", float, "with --context-slices: how far each neighbouring slice of a crop may move"),
    (
        "site_chance",
        float,
        "chance that a training crop is made to look like another scanner and site (0: the "
        "augmentation of models up to v7)",
    ),
    (
        "low_contrast_chance",
        float,
        "chance that a training crop is also darkened and made noisy, its myocardium near the noise (0: the "
        "augmentation of models up to v10)",
    ),
    (
        "texture_network_chance",
        float,
        "chance that a training crop's grey values and texture are first remapped by a shallow network of random "
        "weights (0: the augmentation of models up to v10)",
    ),
)


def parse_arguments(argv: list[str] | None = None) -> TrainConfig:
    """Command-line arguments of ``scripted_training/train.py`` and ``gmmseg train``."""
    import argparse

    defaults = TrainConfig(out="", work="")
    parser = argparse.ArgumentParser(
        prog="train.py", description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--out", required=True, help="final model checkpoint (.pt)")
    parser.add_argument("--work", default="", help="folder for the resumable training state ('': <out>.work)")
    parser.add_argument("--data", default="", help=f"ACDC folder ('': ${ACDC_ENV}, else ../shared/data/acdc)")
    parser.add_argument("--adapt-images", nargs="*", default=[], help="unlabelled images to adapt to")
    parser.add_argument("--init-model", default="", help="start from this checkpoint (adaptation)")
    parser.add_argument(
        "--labelled-anchor",
        action="store_true",
        help="with --init-model: keep the adaptation anchored to the labelled ACDC split too",
    )
    parser.add_argument(
        "--stages",
        nargs="+",
        default=list(RECIPE_STAGES),
        choices=STAGES,
        help="the stages to run, in this order; one may come twice (README: The trainer)",
    )
    parser.add_argument(
        "--context-slices",
        type=int,
        default=None,
        help="neighbouring slices on each side the feature U-Net sees (None: the --init-model's, "
        "or 0); another value than the --init-model's trains a new feature U-Net and heads",
    )
    parser.add_argument(
        "--feature-base",
        type=int,
        default=None,
        help="the feature U-Net's channels at full resolution, doubling at each level up to 128 (None: the "
        "--init-model's, or 16); another value than the --init-model's trains a new feature U-Net and heads",
    )
    for name, kind, text in OPTION_HELP:
        parser.add_argument(option(name), type=kind, default=getattr(defaults, name), help=text)
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or mps")
    arguments = parser.parse_args(argv)
    values = vars(arguments)
    values["work"] = values["work"] or str(Path(values["out"]).with_suffix(".work"))
    return TrainConfig(**values)
