"""Does an adapted model read a site's images better than the model it started from? Decided without labels.

Label-free adaptation can make a model worse on the very site it adapts to (BENCHMARKS.md, "Simulated sites"),
so ``gmmseg adapt`` hands over the adapted model only when this check prefers it. The measure is *view
agreement* on images of the site that the adaptation did not train on: each image is segmented in its own crop and
again in views a model should not care about (the crop moved by 3 mm and turned by 10 degrees either way, the
intensities through a gamma of 0.8 and of 1.25), and the labels of each view are compared with the first ones
(Dice averaged over LV, MYO and RV). A model that has really learned to read the site's images gives the same
answer however they are framed or windowed; one that has drifted does not. Both models see the same crops (the
starting model's localisation), so the comparison is about the networks alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..evaluation.metrics import mean_structure_dice
from ..inference.localisation import HeartLocation
from ..inference.segmentation import segment
from ..io.images import CardiacImage
from ..model.bundle import GmmSegModel

# the adapted model must agree with itself by this much more (Dice points / 100) to replace the starting model:
# below it the two are within the measure's noise, and the starting model is the one whose accuracy is known
AGREEMENT_MARGIN = 0.002
CROP_MOVES = ((3.0, 0.0, 10.0), (0.0, -3.0, -10.0))  # (x mm, y mm, degrees)
GAMMAS = (0.8, 1.25)


@dataclass
class SiteCheck:
    """The view agreement of the starting and the adapted model on the held-out images of a site."""

    starting: float
    adapted: float
    images: int

    @property
    def adapted_is_better(self) -> bool:
        return self.adapted > self.starting + AGREEMENT_MARGIN

    def record(self) -> dict:
        return {
            "measure": "view agreement (Dice) on held-out images",
            "starting_model": round(self.starting, 5),
            "adapted_model": round(self.adapted, 5),
            "margin": AGREEMENT_MARGIN,
            "images": self.images,
        }


def held_out(paths: list[str]) -> tuple[list[str], list[str]]:
    """(images to adapt on, images to check on): every third image is kept for the check when there are three or
    more; with fewer, the check has to use the images adapted on (and is then less telling)."""
    if len(paths) < 3:
        return list(paths), list(paths)
    check = paths[2::3]
    return [p for p in paths if p not in check], check


def _moved(location: HeartLocation, spacing_xy: tuple[float, float], move: tuple[float, float, float]) -> HeartLocation:
    shift_px = np.array([move[0] / spacing_xy[0], move[1] / spacing_xy[1]])
    return replace(
        location, lv_centre_xy=location.lv_centre_xy + shift_px, angle=location.angle + math.radians(move[2])
    )


def _windowed(image: CardiacImage, value: float) -> CardiacImage:
    frames = image.frames - image.frames.min()
    top = float(frames.max()) or 1.0
    return replace(image, frames=np.ascontiguousarray((frames / top) ** value * top, dtype=np.float32))


def view_agreement(
    model: GmmSegModel, image: CardiacImage, location: HeartLocation, device: torch.device | str = "cpu"
) -> float:
    """Mean Dice between the labels of ``image`` (first frame) in ``location``'s crop and those of each view."""
    volume = image.frame_volume(0)
    reference = segment(volume, model, device, location=location).labels
    views = [
        segment(volume, model, device, location=_moved(location, volume.spacing_xyz[:2], move)).labels
        for move in CROP_MOVES
    ]
    views += [segment(_windowed(volume, value), model, device, location=location).labels for value in GAMMAS]
    return float(np.mean([mean_structure_dice(reference, view) for view in views]))


def check_adaptation(
    starting: GmmSegModel, adapted: GmmSegModel, images: list[CardiacImage], device: torch.device | str = "cpu"
) -> SiteCheck:
    """Both models' mean view agreement over ``images`` (each located once, by the starting model)."""
    ours, theirs = [], []
    for image in images:
        location = segment(image.frame_volume(0), starting, device).location
        ours.append(view_agreement(starting, image, location, device))
        theirs.append(view_agreement(adapted, image, location, device))
    return SiteCheck(float(np.mean(ours)), float(np.mean(theirs)), len(images))
