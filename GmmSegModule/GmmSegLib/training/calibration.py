"""The trainer's calibration stage: choosing the class-prior correction by the Dice of the labelled stacks.

No training: every candidate correction of :data:`~GmmSegLib.model.class_prior.OFFSET_GRID` is applied to the
labelled stacks' class probabilities exactly as inference applies it (:mod:`GmmSegLib.model.class_prior`), and
the one with the best mean Dice is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from ..core.errors import InputError
from ..evaluation.metrics import mean_structure_dice
from ..inference.cavity_pieces import without_stray_cavity_pieces
from ..inference.segmentation import segment
from ..io import acdc
from ..model.bundle import GmmSegModel
from ..model.class_prior import OFFSET_GRID, left_ventricle_offsets, offset_labels
from .augment import SELECTION_SHIFT_SEED, shifted_stack
from .data import TrainingData
from .events import Progress


def offset_scores(probabilities: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean structure Dice of one volume (K, Z, Y, X) against ``truth`` at every delta of the grid, scored on the
    labels inference would decide: each cavity kept to its largest piece."""
    return np.array(
        [
            mean_structure_dice(without_stray_cavity_pieces(offset_labels(probabilities, delta)), truth)
            for delta in OFFSET_GRID
        ]
    )


def choose_delta(scores: np.ndarray) -> float:
    """The delta whose mean score over volumes (V, len(OFFSET_GRID)) is highest; on a tie the smallest
    correction, and none without volumes."""
    if len(scores) == 0:
        return 0.0
    means = np.asarray(scores).mean(axis=0).round(6)
    return OFFSET_GRID[int(np.argmax(means))]


def calibrate(
    model: GmmSegModel,
    data: TrainingData,
    device: torch.device,
    events: Progress,
    stop_requested: Callable[[], bool],
    show_steps: bool = True,
) -> bool:
    """The calibration stage: set the model's class-prior correction to the delta of :data:`OFFSET_GRID` with the
    best mean Dice of the labelled stacks, segmented as stored and through the synthetic new scanner.

    Each stack is segmented once without a correction and every candidate is applied to its native-grid
    probabilities, as inference applies the chosen one. Returns False when stopped on the way.
    """
    model.class_log_offsets.zero_()
    model.eval()
    root, cases = data.labelled_split()
    scores, steps = [], 2 * len(cases)
    progress = Progress(steps, show_steps)  # one step per stack; the stage has no epochs
    for index, case in enumerate(cases):
        image, truth = acdc.load_case(root, case)
        for view, frames in enumerate(
            (image.frames, shifted_stack(image.frames[0], SELECTION_SHIFT_SEED + index)[None])
        ):
            if stop_requested():
                return False
            try:
                result = segment(replace(image, frames=frames), model, device)
            except InputError:  # the localiser misses this heart: it says nothing about the decision
                pass
            else:
                scores.append(offset_scores(result.probabilities[0], truth))
            progress.step(stage="calibration", epoch=1, epochs=1, step=2 * index + view + 1, steps=steps)
    delta = choose_delta(np.array(scores))
    model.class_log_offsets.copy_(left_ventricle_offsets(delta))
    means = np.array(scores).mean(axis=0) if scores else np.full(len(OFFSET_GRID), np.nan)
    events.emit(
        "calibration",
        volumes=len(scores),
        delta=delta,
        mean_dice={str(d): round(float(m), 5) for d, m in zip(OFFSET_GRID, means, strict=True)},
    )
    return True
