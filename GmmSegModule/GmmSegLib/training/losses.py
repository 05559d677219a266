"""The losses of the trainer's stages, and what they train: plain functions of the model and a batch."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..core.labels import NUM_CLASSES
from ..model.atlas import PRIOR_STRENGTH, prior_at
from ..model.bundle import GmmSegModel
from ..model.elbo import assignment_term, prior_term
from .sampling import Batch


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
    losses = {
        "features": segmentation_loss(features, batch.labels),
        "pi": segmentation_loss(pi_logits, batch.labels),
        "d_hat": assignment_term(one_hot, concentrations),
        "prior_kl": prior_term(concentrations, PRIOR_STRENGTH * prior),
    }
    losses["total"] = losses["features"] + losses["pi"] + losses["d_hat"] + prior_weight_value * losses["prior_kl"]
    return losses


def registration_target(
    labels: torch.Tensor, prior: torch.Tensor, phi_applied: torch.Tensor, spacing_mm: float
) -> torch.Tensor:
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
