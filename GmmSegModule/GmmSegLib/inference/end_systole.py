"""The end-systolic cavity correction: the LV cavity of a contracted heart drawn as large as the experts draw it.

Out of fold (the 50 labelled ACDC patients, each segmented by the cross-validation model that never saw it), v9's
recipe draws the end-systolic LV cavity 2.6 ml larger than the expert on average while its end-diastolic cavity is
1.4 ml smaller, so the LVEF reads 3.4 points low (v10's recipe: 2.6 points low); the error is proportional, the
small end-systolic cavities of the best-contracting hearts drawn too large, where the trabeculated wall around them
is thick. Reweighting the cavity's
posterior is the Bayes decision for another class prior (GmmSegLib.model.class_prior); here the weight follows how
far the heart has contracted: a frame of a cine gets the LV log-offset ``lv_log_offset x ejected``, where ``ejected``
is the part of the largest (end-diastolic) cavity the frame's cavity has lost, (EDV - V) / EDV: 0 at end-diastole,
the ejection fraction at end-systole, so that the frames of a cine change smoothly and the most contracted most. A
single stack (no cine) has no phase and is left as it is.

The offset belongs to the model that made the probabilities: its registry entry's ``end_systolic_correction``
(``lv_log_offset``), fitted so that the out-of-fold end-systolic cavity volume is unbiased
(``Testing/benchmarks/bench_end_systole.py``; BENCHMARKS.md, "Clinical indices"). A model without one is not
corrected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..core.errors import described_number
from ..core.labels import LV, NUM_CLASSES


def lv_log_offset_of(record: dict | None) -> float:
    """The end-systolic LV log-offset a model's registry entry or description gives (0 without one)."""
    correction = (record or {}).get("end_systolic_correction") or {}
    return described_number(correction.get("lv_log_offset", 0.0), "end_systolic_correction.lv_log_offset")


def ejected(lv_volumes_ml: Sequence[float]) -> np.ndarray:
    """Per frame, the part of the largest LV cavity (end-diastole) the frame's cavity has lost: (EDV - V) / EDV,
    0 at end-diastole and the ejection fraction at end-systole; all 0 without a cavity."""
    volumes = np.asarray(lv_volumes_ml, np.float64)
    if volumes.size == 0 or volumes.max() <= 0:
        return np.zeros_like(volumes)
    return (volumes.max() - volumes) / volumes.max()


def frame_corrections(lv_volumes_ml: Sequence[float], lv_log_offset: float) -> dict[int, torch.Tensor]:
    """The class log-offsets (K,) of every frame the correction changes, by frame index: none for a single frame, for
    end-diastole, or without an offset."""
    corrections = {}
    if lv_log_offset:
        for frame, part in enumerate(ejected(lv_volumes_ml)):
            if part > 0:
                offsets = torch.zeros(NUM_CLASSES)
                offsets[LV] = float(lv_log_offset) * float(part)
                corrections[frame] = offsets
    return corrections
