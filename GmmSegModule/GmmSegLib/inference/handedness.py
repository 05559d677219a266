"""Recognising short-axis stacks stored mirrored with respect to the training images, and undoing it.

Canonical alignment puts the LV centre in the middle and the LV-to-RV direction to the left; a rotation
cannot undo a mirror, so a stack whose voxel grid has the other handedness than ACDC's (another
scanner's or converter's storage order, a flipped export) still reaches the networks mirrored: anterior
and posterior swapped, which a model without this net segments markedly worse (BENCHMARKS.md, "Stacks stored
in other in-plane orders"). ACDC's NIfTI headers carry no orientation (identity direction), so the
handedness cannot be read from the header and is recognised from the image instead: the
:class:`~GmmSegLib.model.networks.HandednessNet` scores the canonical slices of the first frame under both
hypotheses (:func:`locate_and_orient`), and the decision holds for the whole stack (and every frame of a
cine).

Training is self-supervised: canonical crops of the training stacks in storage orders that keep or
mirror their handedness (:func:`storage_orders`), each located by the localiser as at inference.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from ..core.errors import GmmSegError
from ..model.alignment import canonical_input
from ..model.bundle import GmmSegModel
from .localisation import HeartLocation, locate_heart
from .stage_clock import StageClock

# Below this probability that a stack's canonical crops are mirrored, the stack is taken as stored without
# locating the heart in its mirror image as well (a conventional 95 % confidence, not tuned)
CONFIDENT_AS_STORED = 0.05


def mirror_logit(
    model: GmmSegModel,
    slices: np.ndarray,
    location: HeartLocation,
    spacing_xy: tuple[float, float],
    device: torch.device | str = "cpu",
) -> float:
    """Mean over the canonical slices (as ``location`` crops them) of the logit that they are mirrored."""
    crop = location.canonical_crop(*spacing_xy, *slices.shape[-2:])
    canonical = canonical_input(torch.from_numpy(np.ascontiguousarray(slices)).to(device), crop)
    with torch.no_grad():
        return float(model.handedness(canonical).mean())


def unmirror(location: HeartLocation, columns: int) -> HeartLocation:
    """A location found on the column-reversed stack, expressed on the stack as stored (and mirrored).

    Reversing columns maps x to (columns - 1 - x); a direction at angle a to one at pi - a; and the
    canonical crop of the reversed stack is the mirrored canonical crop of the stored one.
    """

    def flip(xy: np.ndarray | None) -> np.ndarray | None:
        return None if xy is None else np.array([columns - 1 - xy[0], xy[1]], dtype=np.float64)

    return replace(
        location,
        lv_centre_xy=flip(location.lv_centre_xy),
        rv_centre_xy=flip(location.rv_centre_xy),
        angle=math.pi - location.angle,
        mirrored=not location.mirrored,
    )


@torch.no_grad()
def locate_and_orient(
    model: GmmSegModel,
    slices: np.ndarray,
    spacing: tuple[float, float, float],
    device: torch.device | str = "cpu",
    source: str = "input",
    clock: StageClock | None = None,
) -> HeartLocation:
    """Locate the heart in native slices (Z, Y, X) of the first frame, recognising a mirrored stack.

    Two hypotheses: the stack is stored like the training images, or mirrored. For each, the heart is
    located in the stack as that hypothesis would have it look (as stored, or with its columns reversed,
    since the localiser only knows the training handedness) and the handedness net scores the canonical
    crops; the hypothesis whose crops look less mirrored wins. Models without a handedness net take the
    stack as stored.

    The reversed stack is located only when the handedness net is not confident that the stored crops have the
    training handedness (probability of a mirror of :data:`CONFIDENT_AS_STORED` or more): most stacks are stored
    like the training images, and for them that second localisation (a third of a volume's time) would only
    confirm it. BENCHMARKS.md ("Speed and memory") has how many stacks skip it and what it changes. ``clock`` gets
    the seconds of the ``locate`` and ``orient`` stages.
    """
    clock = StageClock() if clock is None else clock
    with clock.stage("locate"):
        as_stored = locate_heart(model.localiser, slices, spacing, device, source)
    if model.handedness is None:
        return as_stored
    with clock.stage("orient"):
        return _oriented(model, slices, spacing, device, source, as_stored)


def _oriented(
    model: GmmSegModel,
    slices: np.ndarray,
    spacing: tuple[float, float, float],
    device: torch.device | str,
    source: str,
    as_stored: HeartLocation,
) -> HeartLocation:
    """:func:`locate_and_orient`'s choice between ``as_stored`` and the mirrored hypothesis."""
    spacing_xy = spacing[:2]
    stored_logit = mirror_logit(model, slices, as_stored, spacing_xy, device)
    if stored_logit < math.log(CONFIDENT_AS_STORED / (1.0 - CONFIDENT_AS_STORED)):
        return as_stored
    columns = slices.shape[-1]
    reversed_slices = np.ascontiguousarray(slices[..., ::-1])
    try:
        reversed_location = locate_heart(model.localiser, reversed_slices, spacing, device, source)
    except GmmSegError:  # no heart found that way: the stack is as stored
        return as_stored
    if mirror_logit(model, reversed_slices, reversed_location, spacing_xy, device) < stored_logit:
        return unmirror(reversed_location, columns)
    return as_stored


def storage_orders(
    slices: np.ndarray, spacing: tuple[float, float, float]
) -> list[tuple[np.ndarray, tuple[float, float, float], bool]]:
    """A stack (Z, Y, X) in the eight in-plane storage orders, with their spacing and whether each is mirrored.

    The four quarter turns keep the handedness; the same turns of the column-reversed stack (which
    include the transposed stack) mirror it. The handedness net learns from all eight, each located by
    the localiser, which is what it sees at inference.
    """
    sx, sy, sz = spacing
    orders = []
    for is_mirrored, stack in ((False, slices), (True, slices[..., ::-1])):
        for turns in range(4):
            turned = np.ascontiguousarray(np.rot90(stack, turns, axes=(-2, -1)))
            orders.append((turned, (sy, sx, sz) if turns % 2 else spacing, is_mirrored))
    return orders
