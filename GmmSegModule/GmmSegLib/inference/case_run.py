"""One input from image to summary: the steps every road to a segmentation takes.

The command line (``gmmseg segment``, which the Slicer module's job runs), the module's logic in-process
(``GmmSegLogic.process``, behind ``batch_segment.py`` and the self-test) and the demo all segment through
:func:`segment_case`: the same input checks, the same memory estimate before the work starts, the same summary.
Their files are then named as :func:`~GmmSegLib.inference.case_files.write_case` names them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..clinical.case_summary import CaseSummary
from ..clinical.error_estimate import ReviewCalibration
from ..io.checks import check_short_axis
from ..io.images import CardiacImage
from ..model.bundle import GmmSegModel
from ..model.phi import Phi
from ..model.registry import ModelEntry
from .case_files import summarise_case
from .end_systole import lv_log_offset_of
from .localisation import HeartLocation
from .memory import check_fits
from .segmentation import SegmentationResult, segment


def segment_case(
    image: CardiacImage,
    model: GmmSegModel,
    entry: ModelEntry | None,
    device: torch.device | str,
    *,
    phi: Phi | Sequence[Phi] | None = None,
    location: HeartLocation | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    keep_probabilities: bool = False,
) -> tuple[SegmentationResult, CaseSummary]:
    """Check ``image`` (a short-axis stack, memory enough for it, with its class probabilities when they are to be
    kept: ``keep_probabilities``), segment it and summarise the result; ``phi``, ``location`` and ``on_frame`` as
    :func:`~GmmSegLib.inference.segmentation.segment` takes them."""
    check_short_axis(image)
    check_fits(image.frames.shape, image.source, keep_probabilities)
    record = None if entry is None else entry.record
    correction = lv_log_offset_of(record)  # the model's own, from its entry
    ReviewCalibration.of_model(record)  # a damaged description is refused before the work, not after it
    result = segment(
        image, model, device, phi=phi, location=location, on_frame=on_frame, end_systolic_lv_offset=correction
    )
    return result, summarise_case(result, image, entry)
