"""A simulated clinician's next click: where the refiner is trained to be clicked, and how benchmarks click.

The clinician looks at the largest wrong region and clicks in its middle (the point deepest inside it): a
foreground click for the structure that should be there, or, where the labels claim a structure over background, a
background click for that structure. In training a generator picks among the few largest regions and a point near
the middle, since real clinicians are neither as tidy nor as consistent.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..core.clicks import Click
from ..core.labels import STRUCTURES

_NAMES = {value: name for name, value in STRUCTURES.items()}
CANDIDATE_REGIONS = 3  # a training click goes to one of this many largest wrong regions


def simulated_click(current: np.ndarray, truth: np.ndarray, generator: torch.Generator | None = None
                    ) -> Click | None:
    """The next click (x, y in pixels of the maps) correcting labels ``current`` towards ``truth`` (Y, X); None when
    they agree. Without a generator: the deepest point of the largest wrong region; with one: a random one of the
    largest regions, at a random point among its deeper half."""
    errors = current != truth
    components, count = ndimage.label(errors)
    if count == 0:
        return None
    sizes = ndimage.sum(errors, components, index=np.arange(1, count + 1))
    order = np.argsort(-sizes)
    if generator is None:
        chosen = int(order[0])
    else:
        candidates = order[: CANDIDATE_REGIONS]
        chosen = int(candidates[int(torch.randint(len(candidates), (), generator=generator))])
    region = components == chosen + 1
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    if generator is None:
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    else:
        ys, xs = np.nonzero(depth >= depth.max() / 2)
        pick = int(torch.randint(len(ys), (), generator=generator))
        y, x = ys[pick], xs[pick]
    wanted, claimed = int(truth[y, x]), int(current[y, x])
    if wanted:
        return Click(float(x), float(y), _NAMES[wanted], True)
    return Click(float(x), float(y), _NAMES[claimed], False)
