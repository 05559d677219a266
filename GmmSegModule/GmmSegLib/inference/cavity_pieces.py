"""Stray pieces of a cavity: the LV and the RV cavity are each one blood pool, so only the largest piece stays.

Pieces of a cavity label apart from its largest (a patch of atrium above the base, blood in the aorta, a bright
fold beside the heart) are the network's mistakes, not anatomy; small in volume, they cost little Dice and much of
the Hausdorff distance. In each frame the LV and the RV label keep their largest 3D piece (26-connected, so that
neighbouring slices join through any voxel they share in plane) and the other pieces become background. The
myocardium is left as drawn: its basal ring may be open, and a piece of it may be real. Chosen on the out-of-fold
predictions of the cross-validation (BENCHMARKS.md, "Stray cavity pieces").
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.labels import BACKGROUND, LV, RV

NEIGHBOURS_3D = np.ones((3, 3, 3), bool)


def without_stray_cavity_pieces(labels: np.ndarray) -> np.ndarray:
    """``labels`` (Z, Y, X) with every piece of the LV and of the RV but the largest set to background; changed in
    place and returned."""
    heart = np.nonzero(labels)
    if not heart[0].size:
        return labels
    box = labels[tuple(slice(int(axis.min()), int(axis.max()) + 1) for axis in heart)]  # a view: edits reach labels
    for value in (LV, RV):
        pieces, count = ndimage.label(box == value, NEIGHBOURS_3D)
        if count > 1:
            largest = 1 + int(np.argmax(np.bincount(pieces.ravel())[1:]))
            box[(pieces > 0) & (pieces != largest)] = BACKGROUND
    return labels
