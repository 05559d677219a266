"""A simulated clinician's next prompt: where the refiner is trained to be clicked, and how benchmarks click.

The clinician looks at the largest wrong region and clicks in its middle (the point deepest inside it): a
foreground click for the structure that should be there, or, where the labels claim a structure over background, a
background click for that structure. A scribble is a stroke of such clicks along the region's midline, from one end
to the other, as a clinician paints along a strip of missed myocardium, however it curves. Where a
structure is mostly missed, the clinician first draws a box around where it should be. In training a generator picks
among the few largest regions and a point near the middle, since real clinicians are neither as tidy nor as
consistent.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from ..core.clicks import Box, Click
from ..core.labels import STRUCTURES
from ..evaluation.metrics import dice

_NAMES = {value: name for name, value in STRUCTURES.items()}
CANDIDATE_REGIONS = 3  # a training click goes to one of this many largest wrong regions
BOX_BELOW_DICE = 0.5  # a structure this far from right gets a box before any click
SCRIBBLE_STEP = 3  # a scribble's clicks lie on every third pixel of its path (3 to 4.2 pixels apart)


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
    """A stroke along the midline of the wrong region that :func:`simulated_click` would click in, end to end: clicks
    of that click's kind every ``SCRIBBLE_STEP`` pixels of the path where the region asks for that kind (none when the
    labels are right)."""
    found = _wrong_region(current, truth, generator)
    if found is None:
        return []
    region, y, x = found
    first = _click_at(current, truth, y, x)
    stroke = []
    for py, px in _midline(region)[::SCRIBBLE_STEP]:
        click = replace(_click_at(current, truth, py, px), stroke=True)
        if (click.structure, click.foreground) == (first.structure, first.foreground):
            stroke.append(click)
    return stroke or [replace(first, stroke=True)]


def _midline(region: np.ndarray) -> np.ndarray:
    """The pixels (y, x) of a path through ``region`` (Y, X, one connected piece) between two of its farthest-apart
    pixels, keeping as deep inside it as it can (each step costs its length over the depth squared), in order."""
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    ys, xs = np.nonzero(region)
    node = np.full(region.shape, -1)
    node[ys, xs] = np.arange(len(ys))
    rows, columns, lengths, costs = [], [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ty, tx = ys + dy, xs + dx
        inside = (ty < region.shape[0]) & (tx >= 0) & (tx < region.shape[1])
        inside[inside] = region[ty[inside], tx[inside]]
        step = float(np.hypot(dy, dx))
        rows.append(node[ys[inside], xs[inside]])
        columns.append(node[ty[inside], tx[inside]])
        lengths.append(np.full(int(inside.sum()), step))
        costs.append(step / np.minimum(depth[ys[inside], xs[inside]], depth[ty[inside], tx[inside]]) ** 2)
    shape = (len(ys), len(ys))
    rows, columns = np.concatenate(rows), np.concatenate(columns)
    length = sparse.coo_matrix((np.concatenate(lengths), (rows, columns)), shape=shape).tocsr()
    deepest = int(np.argmax(depth[ys, xs]))
    start = int(np.argmax(csgraph.dijkstra(length, directed=False, indices=deepest)))
    end = int(np.argmax(csgraph.dijkstra(length, directed=False, indices=start)))
    cost = sparse.coo_matrix((np.concatenate(costs), (rows, columns)), shape=shape).tocsr()
    _, previous = csgraph.dijkstra(cost, directed=False, indices=end, return_predecessors=True)
    path = [start]
    while path[-1] != end:
        path.append(int(previous[path[-1]]))
    return np.stack([ys[path], xs[path]], axis=1)


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
