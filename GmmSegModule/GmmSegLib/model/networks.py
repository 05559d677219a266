"""The GmmSeg networks: feature U-Net with x/z/o heads, the heart localiser and the prior registration net.

Sizes are chosen for a 2-core CPU (about a million parameters in all); every module is device-agnostic.

- ``FeatureUNet``: image -> C = 4 feature channels. Trained supervised first, its output read as class
  logits is the plain baseline segmenter.
- ``GmmHeads``: on the instance-normalised features, x_net predicts per-pixel Gaussian means and
  log-variances per class (pooled image-globally with the responsibilities), z_net the responsibilities
  pi (softmax over K = 4), o_net the Dirichlet concentrations d_hat (softplus + floor) from the features
  and the registered prior, which is how the anatomical prior acts at inference.
- ``RegistrationNet``: [responsibilities, prior] -> phi (as numbers, :meth:`GmmSegLib.model.phi.Phi.array`'s
  layout) that moves the prior onto the current image.
- ``HandednessNet``: a canonical slice -> the logit that it is mirrored with respect to the training
  images (a stack stored with the other handedness), so that inference can mirror it back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.labels import NUM_CLASSES

FEATURE_CHANNELS = 4
# the feature U-Net's channels at full resolution in every model up to v10; a checkpoint records its own (bundle config)
FEATURE_BASE = 16
CONCENTRATION_FLOOR = 0.05
MEAN_BOUND = 5.0
LOG_VARIANCE_RANGE = (-4.0, 1.0)


class InstanceNorm(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (no running statistics) computed as a group norm with one channel per group.

    The two are the same normalisation (to float rounding, ~1e-6) with the same parameters and state-dict
    keys, but on CPU torch's instance norm goes through batch norm on a reshaped tensor and takes about five
    times as long as its group norm; it was a fifth of the inference time.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by instance norm and leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            InstanceNorm(out_channels, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            InstanceNorm(out_channels, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )


class UNet(nn.Module):
    """A plain 2D U-Net: ``depth`` poolings, channels doubling from ``base`` up to ``max_channels``."""

    def __init__(self, in_channels: int, out_channels: int, base: int = 16, depth: int = 4, max_channels: int = 128):
        super().__init__()
        widths = [min(base * 2**level, max_channels) for level in range(depth + 1)]
        self.down = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.down.append(ConvBlock(previous, width))
            previous = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(previous, width, 2, stride=2))
            self.merge.append(ConvBlock(2 * width, width))
            previous = width
        self.out = nn.Conv2d(previous, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.out(x)


class FeatureUNet(UNet):
    """Image (B, 1 + 2 context, H, W) -> features (B, C, H, W); H and W must be multiples of 16.

    ``context`` neighbouring slices on each side come in as further channels (GmmSegLib.model.alignment.
    context_indices); with none, the network sees one slice at a time.
    """

    def __init__(self, base: int = FEATURE_BASE, context: int = 0):
        super().__init__(1 + 2 * context, FEATURE_CHANNELS, base=base, depth=4)


class GmmHeads(nn.Module):
    """x_net, z_net and o_net on instance-normalised features."""

    def __init__(self, channels: int = FEATURE_CHANNELS, classes: int = NUM_CLASSES, base: int = 8):
        super().__init__()
        self.channels, self.classes = channels, classes
        self.normalise = InstanceNorm(channels, affine=False)
        self.x_net = UNet(channels, 2 * classes * channels, base=base, depth=2, max_channels=32)
        self.z_net = UNet(channels, classes, base=base, depth=2, max_channels=32)
        self.o_net = UNet(channels + classes, classes, base=base, depth=3, max_channels=64)

    def responsibilities_logits(self, features: torch.Tensor) -> torch.Tensor:
        """z_net: logits of pi (B, K, H, W)."""
        return self.z_net(self.normalise(features))

    def gaussians(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_net: per-pixel class means and log-variances (B, K, C, H, W), squashed and clamped."""
        out = self.x_net(self.normalise(features))
        b, _, h, w = out.shape
        out = out.view(b, 2, self.classes, self.channels, h, w)
        means = MEAN_BOUND * torch.tanh(out[:, 0] / MEAN_BOUND)
        log_variances = out[:, 1].clamp(*LOG_VARIANCE_RANGE)
        return means, log_variances

    def concentrations(self, features: torch.Tensor, prior_probabilities: torch.Tensor) -> torch.Tensor:
        """o_net: Dirichlet concentrations d_hat (B, K, H, W) >= the floor, given the registered prior."""
        raw = self.o_net(torch.cat([self.normalise(features), prior_probabilities], dim=1))
        return F.softplus(raw) + CONCENTRATION_FLOOR


class Localiser(UNet):
    """Coarse whole-slice segmenter (96 x 96 pixels of 4 mm) used to find the LV and RV without labels."""

    SIZE = 96
    SPACING_MM = 4.0

    def __init__(self, base: int = 8):
        super().__init__(1, NUM_CLASSES, base=base, depth=4, max_channels=64)


def strided_encoder(in_channels: int, base: int) -> nn.Sequential:
    """Five stride-2 3x3 convolutions (base, 2 base, 4 base, 4 base, 4 base channels), each normalised."""
    layers: list[nn.Module] = []
    previous = in_channels
    for width in (base, 2 * base, 4 * base, 4 * base, 4 * base):
        layers += [
            nn.Conv2d(previous, width, 3, stride=2, padding=1),
            InstanceNorm(width, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        ]
        previous = width
    return nn.Sequential(*layers)


class RegistrationNet(nn.Module):
    """[responsibilities, prior] at 64 x 64 -> phi (B, 4) in :meth:`GmmSegLib.model.phi.Phi.array`'s layout, bounded.

    Translations are in mm of the canonical crop, rotation in radians. The bounds (scale 0.6..1.6,
    +-30 mm, +-30 degrees) cover the residual misalignment left by the automatic canonical alignment.
    """

    MAX_LOG_SCALE = math.log(1.6)
    MAX_SHIFT_MM = 30.0
    MAX_ROTATION = math.radians(30.0)

    def __init__(self, classes: int = NUM_CLASSES, base: int = 16):
        super().__init__()
        self.encoder = strided_encoder(2 * classes, base)
        self.head = nn.Linear(4 * base * 4, 4)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, responsibilities: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        x = torch.cat([responsibilities, prior], dim=1)
        x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        x = F.adaptive_avg_pool2d(self.encoder(x), 2).flatten(1)
        raw = torch.tanh(self.head(x))
        bounds = torch.tensor(
            [self.MAX_LOG_SCALE, self.MAX_SHIFT_MM, self.MAX_SHIFT_MM, self.MAX_ROTATION],
            device=raw.device,
            dtype=raw.dtype,
        )
        return raw * bounds


class HandednessNet(nn.Module):
    """A canonical slice (B, 1, 128, 128) -> the logit that it is mirrored (B,).

    In the canonical crop the LV-to-RV direction is fixed, so a mirrored stack differs from the training
    images by which side is anterior (chest wall, RV outflow) and which posterior (spine, descending aorta,
    liver). The encoder keeps a 2 x 2 layout before the linear read-out, so that up and down stay apart.
    """

    def __init__(self, base: int = 8):
        super().__init__()
        self.encoder = strided_encoder(1, base)
        self.head = nn.Linear(4 * base * 4, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(F.adaptive_avg_pool2d(self.encoder(images), 2).flatten(1))[:, 0]
