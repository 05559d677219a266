"""Readouts of the networks' prediction that the benchmarks and tests compare with the product's
(``GmmSegLib.inference.segmentation.GMMSEG_READOUT``); none of them ships.

- ``BASELINE``: the supervised feature U-Net alone (softmax of its features): the plain U-Net, no prior.
- ``RESPONSIBILITIES``: z_net's pi alone, before the update with the registered Dirichlet.
- ``CONCENTRATIONS``: the product's labels with the uncertainty maps from d_hat as predicted, not centred on the
  posterior.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "GmmSegModule"))

from GmmSegLib.inference.segmentation import GMMSEG_READOUT, Readout  # noqa: E402

BASELINE = Readout(
    lambda prediction: torch.softmax(prediction.features, dim=1), GMMSEG_READOUT.dirichlet, class_prior_correction=False
)
RESPONSIBILITIES = Readout(
    lambda prediction: prediction.responsibilities, GMMSEG_READOUT.dirichlet, class_prior_correction=False
)
CONCENTRATIONS = Readout(GMMSEG_READOUT.probabilities, lambda prediction: prediction.concentrations)
