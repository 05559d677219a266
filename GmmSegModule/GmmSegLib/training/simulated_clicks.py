"""A simulated clinician's next prompt: where the refiner is trained to be clicked, and how benchmarks click.

The clinician looks at the largest wrong region and clicks in its middle (the point deepest inside it): a
foreground click for the structure that should be there, or, where the labels claim a structure over background, a
background click for that structure. A scribble is a stroke of such clicks along the region's long axis. Where a
structure is mostly missed, the clinician first draws a box around where it should be. In training a generator picks
among the few largest regions and a point near the middle, since real clinicians are neither as tidy nor as
consistent.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..core.clicks import Box, Click
from ..core.labels import STRUCTURES
from ..evaluation.metrics import dice

_NAMES = {value: name for name, value in STRUCTURES.items()}
CANDIDATE_REGIONS = 3  # a training click goes to one of this many largest wrong regions
BOX_BELOW_DICE = 0.5  # a structure this far from right gets a box before any click
SCRIBBLE_STEP_PX = 3.0


def _wrong_region(
    current: np.ndarray, truth: np.ndarray, generator: torch.Generator | None
) -> tuple[np.ndarray, int, int] | None:
    """A wrong region (the largest, or with a generator one of the largest) and the point (y, x) to click in it."""
    errors = current != truth
    components, count = ndimage.label(errors)
    if count == 0:
        return None
    sizes = ndimage.sum(errors, components, index=np.arange(1, count + 1))
    order = np.argsort(-sizes)
    if generator is None:
        chosen = int(order[0])
    else:
        candidates = order[:CANDIDATE_REGIONS]
        chosen = int(candidates[int(torch.randint(len(candidates), (), generator=generator))])
    region = components == chosen + 1
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    if generator is None:
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    else:
        ys, xs = np.nonzero(depth >= depth.max() / 2)
        pick = int(torch.randint(len(ys), (), generator=generator))
        y, x = ys[pick], xs[pick]
    return region, int(y), int(x)


def _click_at(current: np.ndarray, truth: np.ndarray, y: float, x: float) -> Click:
    wanted, claimed = int(truth[int(y), int(x)]), int(current[int(y), int(x)])
    if wanted:
        return Click(float(x), float(y), _NAMES[wanted], True)
    return Click(float(x), float(y), _NAMES[claimed], False)


def simulated_click(current: np.ndarray, truth: np.ndarray, generator: torch.Generator | None = None) -> Click | None:
    """The next click (x, y in pixels of the maps) correcting labels ``current`` towards ``truth`` (Y, X); None when
    they agree. Without a generator: the deepest point of the largest wrong region; with one: a random one of the
    largest regions, at a random point among its deeper half."""
    found = _wrong_region(current, truth, generator)
    return None if found is None else _click_at(current, truth, found[1], found[2])


def simulated_scribble(current: np.ndarray, truth: np.ndarray, generator: torch.Generator | None = None) -> list[Click]:
    """A stroke through the click point of :func:`simulated_click` along the wrong region's long axis, as far as the
    region goes: clicks of that click's kind every ``SCRIBBLE_STEP_PX`` pixels (none when the labels are right)."""
    found = _wrong_region(current, truth, generator)
    if found is None:
        return []
    region, y, x = found
    ys, xs = np.nonzero(region)
    points = np.stack([xs, ys], axis=1).astype(float)
    _, _, axes = np.linalg.svd(points - points.mean(axis=0), full_matrices=False)
    first = _click_at(current, truth, y, x)
    stroke = []
    for t in np.arange(-60.0, 60.0 + SCRIBBLE_STEP_PX, SCRIBBLE_STEP_PX):
        px, py = x + t * axes[0, 0], y + t * axes[0, 1]
        inside = 0 <= round(py) < region.shape[0] and 0 <= round(px) < region.shape[1]
        if inside and region[round(py), round(px)]:
            stroke.append(Click(float(px), float(py), first.structure, first.foreground))
    return stroke or [first]


def simulated_box(current: np.ndarray, truth: np.ndarray, margin_px: float = 2.0) -> Box | None:
    """A box around the structure that the labels miss worst (Dice under ``BOX_BELOW_DICE``), else None."""
    worst = None
    for name, value in STRUCTURES.items():
        if (truth == value).any():
            score = dice(current == value, truth == value)
            if score < BOX_BELOW_DICE and (worst is None or score < worst[0]):
                worst = (score, name, value)
    if worst is None:
        return None
    ys, xs = np.nonzero(truth == worst[2])
    return Box(
        float(xs.min() - margin_px),
        float(ys.min() - margin_px),
        float(xs.max() + margin_px),
        float(ys.max() + margin_px),
        worst[1],
    )
