"""The trainer's optimisation stages, each described as data by a plain function.

A :class:`Stage` says what trains, with which loss, on which batches, for how many epochs at which learning rate,
and whether a net starts from fresh weights; :meth:`GmmSegLib.training.trainer.Trainer.optimise` runs any of them
in one loop. The two stages that train nothing are plain functions too: :func:`build_atlas_stage` here, and
:func:`GmmSegLib.training.calibration.calibrate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..core.labels import NUM_CLASSES, most_probable_class
from ..model.alignment import to_canonical
from ..model.atlas import PRIOR_STRENGTH, build_atlas, prior_at, warp_prior
from ..model.bundle import GmmSegModel
from ..model.canonical_crop import CANONICAL_SPACING_MM
from ..model.elbo import ElboWeights, negative_elbo, prior_weight
from .config import TrainConfig
from .data import TrainingData
from .losses import normalisation_parameters, registration_target, segmentation_loss, supervised_losses
from .sampling import Batch, Perturbation, Volume, draw_batch, localiser_crop, tight_fields_of_view

Loss = Callable[[GmmSegModel, Batch, int], dict[str, torch.Tensor]]


@dataclass
class Stage:
    """One optimisation stage: ``loss(model, batch, epoch)`` (with a ``total``) on ``batches(generator)``."""

    name: str
    trainable: list[nn.Module | nn.Parameter]
    loss: Loss
    batches: Callable[[torch.Generator], Batch]
    epochs: int
    learning_rate: float
    fresh: list[nn.Module] = field(default_factory=list)  # nets given new seeded weights when the stage begins

    def parameters(self) -> list[nn.Parameter]:
        return [p for item in self.trainable for p in (item.parameters() if isinstance(item, nn.Module) else [item])]


def perturbation_of(config: TrainConfig, **geometry: float) -> Perturbation:
    """How a stage's training crops stray from their canonical crops (``geometry``: Perturbation's shift,
    rotation, scale and neighbour fields) with the appearance augmentation the run is configured with."""
    return Perturbation(
        **geometry,
        site_chance=config.site_chance,
        low_contrast_chance=config.low_contrast_chance,
        texture_network_chance=config.texture_network_chance,
    )


def feature_batches(
    config: TrainConfig, model: GmmSegModel, volumes: list[Volume]
) -> Callable[[torch.Generator], Batch]:
    """Random training crops of ``volumes`` as the feature U-Net takes them (with the model's slice context and
    the configured neighbour jitter)."""
    perturbation = perturbation_of(config, neighbour_shift_mm=config.neighbour_jitter_mm)
    return lambda g: draw_batch(volumes, config.batch_size, perturbation, g, context=model.context_slices)


def localiser_stage(model: GmmSegModel, config: TrainConfig, data: TrainingData) -> Stage:
    """The localiser on whole slices at 4 mm, turned any way, with each stack also in tight fields of view; it
    learns from the labels alone and so starts from fresh weights."""
    labelled = data.labelled()
    cuts = torch.Generator().manual_seed(config.seed)  # the same fields of view on every rank and run
    volumes = labelled + [
        view for volume in labelled for view in tight_fields_of_view(volume, config.localiser_tight_views, cuts)
    ]
    perturbation = perturbation_of(config, shift_mm=30.0, rotation_deg=180.0, log_scale=math.log(1.25))

    def loss(model: GmmSegModel, batch: Batch, _epoch: int) -> dict[str, torch.Tensor]:
        return {"total": segmentation_loss(model.localiser(batch.images), batch.labels)}

    return Stage(
        "localiser",
        [model.localiser],
        loss,
        lambda g: draw_batch(volumes, config.batch_size, perturbation, g, localiser_crop),
        config.localiser_epochs,
        config.learning_rate,
        fresh=[model.localiser],
    )


def pretrain_stage(model: GmmSegModel, config: TrainConfig, data: TrainingData) -> Stage:
    """Feature U-Net, z_net and o_net, supervised on the labelled auxiliary set."""

    def loss(model: GmmSegModel, batch: Batch, epoch: int) -> dict[str, torch.Tensor]:
        weight = prior_weight(epoch, config.pretrain_epochs, config.l3_start, config.l3_end)
        return supervised_losses(model, batch, weight)

    heads = model.heads
    return Stage(
        "pretrain",
        [model.features, heads.z_net, heads.o_net],
        loss,
        feature_batches(config, model, data.labelled()),
        config.pretrain_epochs,
        config.learning_rate,
    )


def responsibilities_stage(model: GmmSegModel, config: TrainConfig, data: TrainingData) -> Stage:
    """z_net alone on the pretrained features, frozen: pi learns to be as sure as the features it reads.

    In pretraining z_net chases features that move under it and ends well short of them: with the site
    augmentation its pi in the right ventricle's core stayed a fixed mix (0.68 RV) where the features are sure
    (0.98), so the posterior and the uncertainty maps hedged over the whole RV (BENCHMARKS.md, accuracy section).
    Its last block coded the RV as "no channel fires", which caps pi at the softmax of the output bias; undoing
    that takes a higher rate than pretraining's. The registration net reads pi, so this stage comes before it.
    """

    def loss(model: GmmSegModel, batch: Batch, _epoch: int) -> dict[str, torch.Tensor]:
        features = model.features(batch.images)  # no parameter of it trains here, so no graph is kept
        return {"total": segmentation_loss(model.heads.responsibilities_logits(features), batch.labels)}

    return Stage(
        "responsibilities",
        [model.heads.z_net],
        loss,
        feature_batches(config, model, data.labelled()),
        config.responsibilities_epochs,
        config.responsibilities_learning_rate,
    )


def registration_stage(model: GmmSegModel, config: TrainConfig, data: TrainingData) -> Stage:
    """The registration net, on the pretrained responsibilities of crops moved by a random known phi."""

    def loss(model: GmmSegModel, batch: Batch, _epoch: int) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            features = model.features(batch.images)
            responsibilities = model.responsibilities(features)
            prior = prior_at(model.atlas, batch.positions)
            bounds = torch.tensor([0.3, 15.0, 15.0, 0.35], device=batch.images.device)
            applied = (torch.rand(batch.images.shape[0], 4, device=batch.images.device) * 2 - 1) * bounds
            moved = warp_prior(responsibilities, applied)
            target = registration_target(batch.labels.cpu(), prior.cpu(), applied.cpu(), CANONICAL_SPACING_MM).to(
                batch.images.device
            )
        predicted = model.registration(moved, prior)
        scale = torch.tensor([0.2, 10.0, 10.0, 0.2], device=predicted.device)
        return {"total": F.smooth_l1_loss(predicted / scale, target / scale)}

    return Stage(
        "registration",
        [model.registration],
        loss,
        feature_batches(config, model, data.labelled()),
        config.registration_epochs,
        config.learning_rate,
    )


def adapt_stage(
    model: GmmSegModel, config: TrainConfig, targets: list[Volume], labelled: list[Volume], teacher: GmmSegModel
) -> Stage:
    """Label-free ELBO adaptation, kept from drifting away from what the model already does well.

    The starting model is the teacher (frozen): the adapted posterior, on an appearance-augmented target crop, is
    anchored to the teacher's posterior on the same crop unaugmented, and, when ``labelled`` volumes are given
    (training from scratch, or ``--labelled-anchor``), to their labels too. In the feature U-Net only the
    normalisation layers' affine parameters move (as in test-time adaptation by normalisation statistics): enough
    to follow a new site's contrast, too little to forget the anatomy. x_net (the Gaussians) always adapts; z_net
    and o_net only with labels to hold them: without, they drift under the ELBO (BENCHMARKS.md, adaptation).
    """
    size = config.batch_size

    def loss(model: GmmSegModel, batch: Batch, epoch: int) -> dict[str, torch.Tensor]:
        target_batch = Batch(batch.images[:size], None, batch.positions[:size])
        prior = prior_at(model.atlas, target_batch.positions)
        prediction = model(target_batch.images, prior, per_volume_phi=False)
        means, log_variances = model.heads.gaussians(prediction.features)
        weights = ElboWeights(prior=prior_weight(epoch, config.adapt_epochs, config.l3_start, config.l3_end))
        # the Gaussians live in the space the heads see: the instance-normalised features
        losses = negative_elbo(
            model.heads.normalise(prediction.features),
            prediction.responsibilities,
            means,
            log_variances,
            prediction.concentrations,
            PRIOR_STRENGTH * prediction.registered_prior,
            weights,
        )
        with torch.no_grad():
            reference = teacher(batch.clean_images, prior, prediction.phi).posterior
        anchor = -(reference * torch.log(prediction.posterior.clamp_min(1e-8))).sum(1).mean()
        if labelled:
            labelled_batch = Batch(batch.images[size:], batch.labels, batch.positions[size:])
            anchor = anchor + supervised_losses(model, labelled_batch, weights.prior)["total"]
        losses["anchor"] = anchor
        losses["total"] = losses["total"] + config.anchor_weight * anchor
        return losses

    perturbation = perturbation_of(config, neighbour_shift_mm=config.neighbour_jitter_mm)

    def batches(generator: torch.Generator) -> Batch:
        context = model.context_slices
        unlabelled = draw_batch(targets, size, perturbation, generator, keep_clean=True, context=context)
        if not labelled:
            return unlabelled
        supervised = draw_batch(labelled, size // 2, perturbation, generator, context=context)
        return Batch(
            torch.cat([unlabelled.images, supervised.images]),
            supervised.labels,
            torch.cat([unlabelled.positions, supervised.positions]),
            unlabelled.clean_images,
        )

    heads = model.heads
    trainable = [*normalisation_parameters(model.features), heads.x_net]
    if labelled:
        trainable += [heads.z_net, heads.o_net]
    return Stage("adapt", trainable, loss, batches, config.adapt_epochs, config.adapt_learning_rate)


def handedness_stage(model: GmmSegModel, config: TrainConfig, data: TrainingData) -> Stage:
    """The handedness net (GmmSegLib.inference.handedness): half of every batch from stacks in the training
    handedness, half from mirrored ones, all located by the localiser as at inference; fresh weights."""
    kept, mirrored = data.handedness()
    kept_per_batch = config.batch_size // 2  # the first crops of a batch; the rest are mirrored

    def loss(model: GmmSegModel, batch: Batch, _epoch: int) -> dict[str, torch.Tensor]:
        targets = torch.zeros(batch.images.shape[0], device=batch.images.device)
        targets[kept_per_batch:] = 1.0
        return {"total": F.binary_cross_entropy_with_logits(model.handedness(batch.images), targets)}

    def batches(generator: torch.Generator) -> Batch:
        perturbation = perturbation_of(config)
        first = draw_batch(kept, kept_per_batch, perturbation, generator)
        second = draw_batch(mirrored, config.batch_size - kept_per_batch, perturbation, generator)
        return Batch(torch.cat([first.images, second.images]), None, torch.cat([first.positions, second.positions]))

    return Stage(
        "handedness",
        [model.handedness],
        loss,
        batches,
        config.handedness_epochs,
        config.learning_rate,
        fresh=[model.handedness],
    )


def build_atlas_stage(model: GmmSegModel, data: TrainingData) -> None:
    """The atlas stage: class-frequency maps of the labelled slices in the canonical crop (no training)."""
    labels, positions = [], []
    for volume in data.labelled():
        one_hot = F.one_hot(volume.labels, NUM_CLASSES).permute(0, 3, 1, 2).float()
        labels.append(most_probable_class(to_canonical(one_hot, volume.canonical_crop())))
        positions.append(torch.as_tensor(volume.location.positions))
    atlas = build_atlas(torch.cat(labels).numpy(), torch.cat(positions).numpy())
    model.atlas.copy_(atlas.to(model.atlas.device))
