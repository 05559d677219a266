"""Writing a segmentation result for one input: images on the input's grid plus its summary.

For input ``<stem>`` (names from GmmSegLib.core.file_names): the labels (0 bg, 1 LV, 2 MYO, 3 RV), the uncertainty
maps (total, aleatoric, epistemic, 0..1), the registered prior (one vector component per class), optionally the
class probabilities, and the summary (GmmSegLib.clinical.case_summary). They are published together or not at all
(:class:`~GmmSegLib.io.images.AtomicOutputs`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..clinical.case_summary import CaseSummary, ModelUsed
from ..clinical.error_estimate import ReviewCalibration
from ..clinical.indices import clinical_indices, volume_caveat
from ..clinical.plausibility import implausible_findings
from ..clinical.quality import (
    blank_slices_inside_heart,
    blood_myocardium_cnr,
    gap_warning,
    low_contrast_warning,
    pass_agreement,
    slice_disagreement,
    unreliable_share,
    unreliable_warning,
)
from ..clinical.review import stack_estimated_dice, whole_stack_warning
from ..core.errors import GmmSegError
from ..core.file_names import PRIOR, PROBABILITIES, SEGMENTATION, UNCERTAINTY_FILES, case_file, summary_file
from ..core.probability_steps import as_kept
from ..io.images import AtomicOutputs, CardiacImage, Geometry, to_sitk
from ..model.registry import ModelEntry
from .segmentation import SegmentationResult


def _vector_image(probabilities: np.ndarray, geometry: Geometry) -> sitk.Image:
    """(T, K, Z, Y, X) class probabilities -> an image with K components per voxel on ``geometry``."""
    # one contiguous copy with the classes last (astype of the moved view would make a second one: 1.3 GB for
    # a 30-frame 512 x 512 x 10 cine)
    return to_sitk(np.ascontiguousarray(np.moveaxis(probabilities, 1, -1), dtype=np.float32), geometry, components=True)


def summarise_case(result: SegmentationResult, image: CardiacImage, entry: ModelEntry | None) -> CaseSummary:
    """The summary of one segmented input (with clinical indices for a cine)."""
    calibration = ReviewCalibration.of_model(None if entry is None else entry.record)  # the model's own
    stack = stack_estimated_dice(map(as_kept, result.probabilities), result.labels, calibration)  # as kept
    for t, second in result.second_pass_labels.items():  # a frame segmented twice: how well the passes agree too
        stack[t] = calibration.checked_dice(stack[t], pass_agreement(result.labels[t], second))
    implausible = implausible_findings(result.labels, image.spacing_xyz)
    shares = {
        t: unreliable_share(result.labels[t], second, result.probabilities[t], calibration.temperature)
        for t, second in result.second_pass_labels.items()
    }
    # the flag's cut was fitted on frames segmented twice (ED and ES, or a stack's one frame); another frame's estimate
    # from the probabilities alone runs lower than theirs and would be judged by the wrong cut
    flagged = [stack[t] for t in result.second_pass_labels] or stack
    reasons = [
        whole_stack_warning(flagged, calibration.review_dice),
        unreliable_warning(shares, calibration.unreliable_share_limit),
    ]
    if any(reasons):  # a poor result: say so when the image is to blame
        checked = result.second_pass_labels or dict(enumerate(result.labels))
        ratios = {t: blood_myocardium_cnr(image.frames[t], result.labels[t]) for t in checked}
        reasons.append(low_contrast_warning(ratios))
    reasons.append(gap_warning(blank_slices_inside_heart(result.blank_slices, result.labels)))
    summary = CaseSummary(
        input=image.source,
        frames=image.num_frames,
        spacing_mm=tuple(image.spacing_xyz),
        model=None if entry is None else ModelUsed(entry.id, entry.sha256, entry.path.name, entry.verified),
        mirrored_storage=bool(result.location.mirrored),
        crop_recentrings=int(result.location.recentrings),
        phi=result.phi,
        canonical_crop=result.crop,
        slice_positions=[round(float(p), 4) for p in result.location.positions],
        blank_slices=result.blank_slices,
        slice_uncertainty=[[round(float(v), 4) for v in row] for row in result.slice_uncertainty],
        estimated_dice=[round(float(v), 4) for v in stack],
        implausible=implausible,
        unreliable_share={t: round(v, 4) for t, v in shares.items()},
        unreliable_share_limit=calibration.unreliable_share_limit,
        slice_disagreement={
            t: [int(v) for v in slice_disagreement(result.labels[t], second)]
            for t, second in result.second_pass_labels.items()
        },
        volumes_ml=result.volumes_ml,
        end_systolic_lv_offset=result.end_systolic_lv_offset,
        volume_caveat=volume_caveat(result.labels),
        timings_s={k: round(v, 4) for k, v in result.timings.items()},
        review_reasons=[reason for reason in reasons if reason] + implausible,
    )
    if image.num_frames >= 2:
        try:
            summary.clinical_indices = clinical_indices(
                result.labels, image.spacing_xyz, probabilities=result.probabilities
            ).to_dict()
        except GmmSegError as error:
            summary.clinical_indices = {"error": str(error)}
    return summary


def write_case(
    folder: str | Path,
    stem: str,
    image: CardiacImage,
    result: SegmentationResult,
    summary: CaseSummary,
    extra_files: dict[str, bytes] | None = None,
    extra_images: dict[str, sitk.Image] | None = None,
    probabilities: bool = False,
) -> list[Path]:
    """Write every output of one input (and any extra files) atomically; returns the published paths.

    ``probabilities`` adds the class probabilities (one component per class), which click
    refinement in the Slicer module needs.
    """
    geometry = image.geometry
    with AtomicOutputs(folder) as outputs:
        for name, extra in (extra_images or {}).items():
            outputs.add_image(name, extra)
        outputs.add_image(case_file(stem, SEGMENTATION), to_sitk(result.labels, geometry))
        for kind, suffix in UNCERTAINTY_FILES.items():
            outputs.add_image(case_file(stem, suffix), to_sitk(result.uncertainty[kind], geometry))
        outputs.add_image(case_file(stem, PRIOR), _vector_image(result.prior, geometry))
        if probabilities:
            outputs.add_image(case_file(stem, PROBABILITIES), _vector_image(result.probabilities, geometry))
        outputs.add_bytes(summary_file(stem), json.dumps(summary.to_json(), indent=2).encode())
        for name, data in (extra_files or {}).items():
            outputs.add_bytes(name, data)
    return outputs.paths
