"""Training crops: canonical slices drawn at random with geometric and appearance augmentation.

Every sample is resampled once from the native slice through a randomly perturbed canonical crop
(shift, rotation, scale of the heart), so augmentation never pads or crops twice. Labels are resampled
as one-hot maps (bilinear) and re-binarised by argmax.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..core.labels import NUM_CLASSES, most_probable_class
from ..inference.localisation import HeartLocation, localiser_grid
from ..io.images import CardiacImage
from ..model.alignment import CanonicalCrop, context_indices, to_canonical, zscore_slices
from .augment import random_appearance
from .scanner_effects import low_contrast, random_site, random_texture_network


@dataclass
class Volume:
    """One 3D training volume: native slices, optional labels, spacing and where its heart is."""

    slices: torch.Tensor  # (Z, Y, X) float32
    labels: torch.Tensor | None  # (Z, Y, X) long, product convention
    spacing: tuple[float, float, float]
    location: HeartLocation
    name: str

    @classmethod
    def from_image(
        cls, image: CardiacImage, location: HeartLocation, labels: np.ndarray | None = None, frame: int = 0
    ) -> Volume:
        return cls(
            torch.from_numpy(np.ascontiguousarray(image.frames[frame])),
            None if labels is None else torch.from_numpy(labels.astype(np.int64)),
            image.spacing_xyz,
            location,
            image.source,
        )

    def canonical_crop(self) -> CanonicalCrop:
        sx, sy, _ = self.spacing
        rows, columns = self.slices.shape[-2:]
        return self.location.canonical_crop(sx, sy, rows, columns)


@dataclass
class Perturbation:
    """How far a training crop may stray from the volume's canonical crop."""

    shift_mm: float = 8.0
    rotation_deg: float = 20.0
    log_scale: float = math.log(1.2)
    appearance: bool = True
    # the chance that a crop's appearance is a random other scanner and site (scanner_effects.random_site) rather
    # than the gamma, bias, resolution and noise of augment.random_appearance
    site_chance: float = 0.5
    # the chance that a crop, after that, is also darkened and made noisy (scanner_effects.low_contrast)
    low_contrast_chance: float = 0.0
    # the chance that a crop first goes through a shallow network of random weights
    # (scanner_effects.random_texture_network), before the other appearance changes
    texture_network_chance: float = 0.0
    # each neighbouring slice of a crop with slice context is cut up to this far (mm) from the crop's own
    # place: the slices of a cine stack come from separate breath-holds and do not line up exactly
    neighbour_shift_mm: float = 0.0


@dataclass
class Batch:
    images: torch.Tensor  # (B, 1 + 2 context, N, N): each crop, then its neighbouring slices
    labels: torch.Tensor | None  # (B, N, N)
    positions: torch.Tensor  # (B,)
    # the first crops again without appearance augmentation (A <= B, 1 + 2 context, N, N): the adaptation
    # teacher's view
    clean_images: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        labels = None if self.labels is None else self.labels.to(device)
        clean = None if self.clean_images is None else self.clean_images.to(device)
        return Batch(self.images.to(device), labels, self.positions.to(device), clean)


def perturbed_crop(crop: CanonicalCrop, perturbation: Perturbation, generator: torch.Generator) -> CanonicalCrop:
    """The canonical crop moved by a random shift (mm), rotation and zoom."""
    r = torch.rand(4, generator=generator) * 2 - 1
    shift_x_mm, shift_y_mm = float(r[0]) * perturbation.shift_mm, float(r[1]) * perturbation.shift_mm
    return replace(
        crop,
        centre_x=crop.centre_x + shift_x_mm / crop.spacing_x,
        centre_y=crop.centre_y + shift_y_mm / crop.spacing_y,
        angle=crop.angle + math.radians(float(r[2]) * perturbation.rotation_deg),
        spacing=crop.spacing * math.exp(float(r[3]) * perturbation.log_scale),
    )


def cut_sample(
    volume: Volume,
    slice_index: int,
    crop: CanonicalCrop,
    context: int = 0,
    neighbour_crops: list[CanonicalCrop] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One canonical slice with its ``context`` neighbours on each side (1 + 2 context, N, N), as
    GmmSegLib.model.alignment.canonical_input orders them, and the slice's labels (N, N) or None.

    The neighbours are cut through ``crop`` too, or each through its own of ``neighbour_crops`` (2 context).
    """
    neighbours = context_indices(volume.slices.shape[0], context, volume.location.base_first)[slice_index]
    if neighbour_crops is None:
        image = to_canonical(volume.slices[neighbours], crop)
    else:
        image = torch.cat(
            [
                to_canonical(volume.slices[int(i) : int(i) + 1], f)
                for i, f in zip(neighbours, [crop, *neighbour_crops], strict=True)
            ]
        )
    if volume.labels is None:
        return image, None
    one_hot = F.one_hot(volume.labels[slice_index], NUM_CLASSES).permute(2, 0, 1)[None].float()
    return image, most_probable_class(to_canonical(one_hot, crop)[0], 0)


def tight_fields_of_view(
    volume: Volume, count: int, generator: torch.Generator, side_range: tuple[float, float] = (0.55, 0.8)
) -> list[Volume]:
    """``count`` copies of ``volume`` cut to a random square field of view around its heart.

    The side is a random fraction (``side_range``) of the shorter image side and the square's centre is
    the LV centre moved by up to 15 % of the side, kept inside the image. Scanners and sites frame the
    chest differently; a localiser that has only seen ACDC's wide fields of view takes its bearings from
    the body outline, which a tight one cuts away. Slices, labels and location are cut alike.
    """
    rows, columns = volume.slices.shape[-2:]
    views = []
    for _ in range(count):
        r = torch.rand(3, generator=generator)
        side = max(2, int((side_range[0] + float(r[0]) * (side_range[1] - side_range[0])) * min(rows, columns)))
        centre_x, centre_y = volume.location.lv_centre_xy + (r[1:].numpy() * 2 - 1) * 0.15 * side
        x0 = int(np.clip(round(centre_x - side / 2), 0, columns - side))
        y0 = int(np.clip(round(centre_y - side / 2), 0, rows - side))
        cut = (slice(None), slice(y0, y0 + side), slice(x0, x0 + side))
        offset = np.array([x0, y0], dtype=float)
        location = replace(
            volume.location,
            lv_centre_xy=volume.location.lv_centre_xy - offset,
            rv_centre_xy=None if volume.location.rv_centre_xy is None else volume.location.rv_centre_xy - offset,
        )
        views.append(
            Volume(
                volume.slices[cut].contiguous(),
                None if volume.labels is None else volume.labels[cut].contiguous(),
                volume.spacing,
                location,
                f"{volume.name} (field of view {side} px)",
            )
        )
    return views


def localiser_crop(volume: Volume) -> CanonicalCrop:
    """The localiser's unrotated whole-slice view (96 x 96 pixels of 4 mm around the image centre)."""
    sx, sy, _ = volume.spacing
    return localiser_grid(*volume.slices.shape[-2:], sx, sy)


def _optional_chance(chance: float, generator: torch.Generator) -> bool:
    """Whether an optional appearance change happens, with ``chance``; at 0 no random number is drawn, so that the
    crops of recipes trained before the option existed stay as they were."""
    return bool(chance) and bool(torch.rand((), generator=generator) < chance)


def draw_batch(
    volumes: list[Volume],
    size: int,
    perturbation: Perturbation,
    generator: torch.Generator,
    crop_of: Callable[[Volume], CanonicalCrop] = Volume.canonical_crop,
    keep_clean: bool = False,
    context: int = 0,
) -> Batch:
    """``size`` random (volume, slice) crops through ``crop_of`` perturbed and augmented, each z-scored.

    Each crop comes with its ``context`` neighbouring slices on either side, cut through the same crop
    (each moved by up to ``perturbation.neighbour_shift_mm``) and augmented alike (one scanner).
    ``keep_clean`` also returns every crop before the appearance augmentation (a teacher's view of it).
    """
    images, labels, positions, clean = [], [], [], []
    for _ in range(size):
        volume = volumes[int(torch.randint(len(volumes), (1,), generator=generator))]
        slice_index = int(torch.randint(volume.slices.shape[0], (1,), generator=generator))
        crop = perturbed_crop(crop_of(volume), perturbation, generator)
        neighbour_crops = None
        if context and perturbation.neighbour_shift_mm > 0:
            jitter = Perturbation(shift_mm=perturbation.neighbour_shift_mm, rotation_deg=0.0, log_scale=0.0)
            neighbour_crops = [perturbed_crop(crop, jitter, generator) for _ in range(2 * context)]
        image, label = cut_sample(volume, slice_index, crop, context, neighbour_crops)
        if keep_clean:
            clean.append(zscore_slices(image))
        if perturbation.appearance:
            if _optional_chance(perturbation.texture_network_chance, generator):
                image = random_texture_network(image, generator)
            other_site = bool(torch.rand((), generator=generator) < perturbation.site_chance)
            image = (random_site if other_site else random_appearance)(image, generator)
            if _optional_chance(perturbation.low_contrast_chance, generator):
                image = low_contrast(image, generator)
        images.append(zscore_slices(image))
        labels.append(label)
        positions.append(float(volume.location.positions[slice_index]))
    has_labels = all(label is not None for label in labels)
    return Batch(
        torch.stack(images),
        torch.stack(labels) if has_labels else None,
        torch.tensor(positions),
        torch.stack(clean) if keep_clean else None,
    )
