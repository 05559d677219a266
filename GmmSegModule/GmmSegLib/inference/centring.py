"""Centring the canonical crop on GmmSeg's own segmentation: the LV centre and the LV-to-RV direction refined.

The localiser finds the heart on a 4 mm grid, and the direction from its LV to its RV centroid is the coarsest
part of canonical alignment: far coarser than the same direction read from GmmSeg's 1.5 mm segmentation of the
crop, and at times beyond what training crops stray from the expert's (at most 20 degrees and 8 mm,
``sampling.Perturbation``; BENCHMARKS.md, "Accuracy", has the localisation errors). So the first frame is segmented
in the localiser's crop, the centre and direction are re-read from that segmentation (:func:`recentred`), and
the crop is made again when they moved by more than :data:`CENTRING_SHIFT_MM` or :data:`CENTRING_TURN_DEG`; at
most :data:`MAX_RECENTRINGS` times. BENCHMARKS.md has how this was chosen and what it gives on the validation
split. The slice positions (base to apex) stay the localiser's: re-reading them changed nothing there.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..model.alignment import CanonicalCrop, turn_between_deg
from .localisation import HeartLocation, locate_from_labels

# Chosen on the selection split (the labelled training patients through the synthetic new scanner): re-centring
# only the crops that moved by more than this gains as much as re-centring every crop (BENCHMARKS.md, "Accuracy",
# centring the crop).
CENTRING_SHIFT_MM = 5.0
CENTRING_TURN_DEG = 10.0
# A second re-centring, from the segmentation of the re-centred crop, gained further there.
MAX_RECENTRINGS = 2


def location_in_crop(labels: np.ndarray, crop: CanonicalCrop, spacing_z: float) -> HeartLocation | None:
    """The heart location (native pixels) that canonical labels (Z, N, N) of ``crop``'s crop show, or None."""
    pixel_mm2 = crop.spacing * crop.spacing
    return locate_from_labels(
        labels,
        crop.canonical_to_native_points,
        crop.spacing_x,
        crop.spacing_y,
        pixel_mm2,
        pixel_mm2 * spacing_z / 1000.0,
    )


def recentred(
    location: HeartLocation, labels: np.ndarray, crop: CanonicalCrop, spacing_z: float
) -> HeartLocation | None:
    """``location`` with the LV centre and LV-to-RV direction the segmentation ``labels`` of its crop show.

    None when the crop need not be made again: the segmentation shows no LV or no RV to read them from,
    or they lie within the tolerances of the current ones. Handedness and slice positions are kept.
    """
    seen = location_in_crop(labels, crop, spacing_z)
    if seen is None or seen.rv_centre_xy is None:
        return None
    shift_mm = float(np.hypot(*((seen.lv_centre_xy - location.lv_centre_xy) * (crop.spacing_x, crop.spacing_y))))
    turn_deg = turn_between_deg(seen.angle, location.angle)
    if shift_mm <= CENTRING_SHIFT_MM and turn_deg <= CENTRING_TURN_DEG:
        return None
    return replace(
        location,
        lv_centre_xy=seen.lv_centre_xy,
        rv_centre_xy=seen.rv_centre_xy,
        angle=seen.angle,
        recentrings=location.recentrings + 1,
    )
