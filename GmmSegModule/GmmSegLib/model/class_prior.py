"""Class-prior correction of the label posterior: q_k exp(b_k) / sum_j q_j exp(b_j), b chosen on labelled images.

The networks draw the left ventricle's outer contour outside the experts' (trained on ACDC, the model still
draws ~10 ml of myocardium too much on the very patients it was trained on, which is an LV mass ~10 g too
high). Reweighting the posterior of a class by a constant is the Bayes decision for a changed class prior;
lowering the LV cavity and the myocardium together against background and RV moves the epicardial contour
inwards while leaving the endocardial one, and with it the ejection fraction, where it was.

The correction acts where the labels are decided: on the class probabilities mapped back to the native grid
(:func:`GmmSegLib.inference.segmentation.segment`). Most canonical pixels are confident, so on the native grid it mostly
moves the contour between them, by a fraction of a pixel; the canonical posterior itself (crop centring,
uncertainty maps, adaptation) is the model's own. The trainer's ``calibration`` stage picks ``delta`` from
:data:`OFFSET_GRID` by the mean Dice on the labelled split, seen as stored and through the synthetic new
scanner, applying each candidate exactly as inference does; the chosen offsets are a buffer of the model
(``GmmSegModel.class_log_offsets``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.labels import LV, MYO, NUM_CLASSES, most_probable_class

OFFSET_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def left_ventricle_offsets(delta: float) -> torch.Tensor:
    """The log-posterior offsets (K,) that lower the LV cavity and the myocardium by ``delta`` against the rest."""
    offsets = torch.zeros(NUM_CLASSES)
    offsets[[LV, MYO]] = -float(delta)
    return offsets


def corrected_probabilities(probabilities: torch.Tensor, offsets: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Class probabilities (classes along ``dim``) reweighted by exp(offsets) and normalised again."""
    shape = [1] * probabilities.dim()
    shape[dim] = -1
    weighted = probabilities * torch.exp(offsets.to(probabilities.dtype)).reshape(shape)
    return weighted / weighted.sum(dim=dim, keepdim=True).clamp_min(1e-12)


def offset_labels(probabilities: np.ndarray, delta: float) -> np.ndarray:
    """Labels (Z, Y, X) of class probabilities (K, Z, Y, X) after the correction of ``delta``."""
    corrected = corrected_probabilities(torch.from_numpy(probabilities), left_ventricle_offsets(delta), dim=0)
    return most_probable_class(corrected, 0).numpy().astype(np.uint8)
