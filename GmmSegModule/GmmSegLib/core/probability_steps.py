"""Class probabilities as a result keeps them: uint16 steps of 1/65535.

The Slicer scene keeps a cine's probabilities in these steps (half of float32's size: GmmSegLib.mrml.result_record).
Whatever is estimated from them (the review queue's estimated Dice, the stack's flag) is computed from the
probabilities as kept, by the command line as by the module, so that the JSON of ``gmmseg segment``, the table shown
when the results come back and the table of the saved scene opened again all say the same. The steps are fine enough
for the estimate, which softens the probabilities and so makes their smallest values count: in steps of 1/255
(uint8, as scenes of the previous release keep them) the stack flag found 5 of the 12 failed stacks of the
out-of-fold predictions where it finds 9 from the full probabilities (BENCHMARKS.md, "Review queue").
"""

from __future__ import annotations

import numpy as np

PROBABILITY_STEPS = 65535
OLDER_STEPS = 255  # uint8, as scenes saved by the previous release keep them


def stored_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Class probabilities as kept: uint16 steps of 1 / :data:`PROBABILITY_STEPS`."""
    steps = np.clip(np.asarray(probabilities, np.float32), 0.0, 1.0) * PROBABILITY_STEPS  # float16 would overflow
    return np.rint(steps).astype(np.uint16)


def probabilities_as_read(stored: np.ndarray | None) -> np.ndarray | None:
    """Probabilities (float32) from what :func:`stored_probabilities` kept, or from an older scene's uint8 steps or
    floats."""
    if stored is None:
        return None
    if stored.dtype == np.uint16:
        return stored.astype(np.float32) / PROBABILITY_STEPS
    if stored.dtype == np.uint8:
        return stored.astype(np.float32) / OLDER_STEPS
    return stored.astype(np.float32, copy=False)


def as_kept(probabilities: np.ndarray) -> np.ndarray:
    """``probabilities`` (float) rounded to the steps a result keeps them in."""
    return probabilities_as_read(stored_probabilities(probabilities))
