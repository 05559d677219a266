"""Class probabilities as a result keeps them: uint8 steps of 1/255.

The Slicer scene keeps a cine's probabilities in these steps (a quarter of float32's size: GmmSegLib.mrml.
result_record). Whatever is estimated from them (the review queue's estimated Dice, the stack's flag) is computed
from the probabilities as kept, by the command line as by the module, so that the JSON of ``gmmseg segment``, the
table shown when the results come back and the table of the saved scene opened again all say the same.
"""

from __future__ import annotations

import numpy as np

PROBABILITY_STEPS = 255


def stored_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Class probabilities as kept: uint8 steps of 1 / :data:`PROBABILITY_STEPS`."""
    return np.rint(np.clip(probabilities, 0.0, 1.0) * PROBABILITY_STEPS).astype(np.uint8)


def probabilities_as_read(stored: np.ndarray | None) -> np.ndarray | None:
    """Probabilities (float32) from what :func:`stored_probabilities` kept, or from an older scene's floats."""
    if stored is None or stored.dtype != np.uint8:
        return None if stored is None else stored.astype(np.float32, copy=False)
    return stored.astype(np.float32) / PROBABILITY_STEPS


def as_kept(probabilities: np.ndarray) -> np.ndarray:
    """``probabilities`` (float) rounded to the steps a result keeps them in."""
    return probabilities_as_read(stored_probabilities(probabilities))
