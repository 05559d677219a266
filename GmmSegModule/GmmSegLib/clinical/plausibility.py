"""Is the result a heart? What makes a segmentation implausible, however sure the model is of it.

The model's uncertainty is measured over the heart it found: an empty result (noise, a localiser image, a
series that is not a short-axis cine) has no heart to be unsure about. These findings come from the labels
alone: nothing segmented, no LV cavity, an LV cavity that its myocardium does not ring, or a structure whose
volume no human heart has. The volume limits are deliberately wide (from a small child's end-systole to the
largest dilated hearts), so that they flag failures rather than disease.
"""

from __future__ import annotations

import numpy as np

from ..core.labels import LV, STRUCTURE_NAMES, enclosure_by_myocardium
from .indices import structure_volumes_ml

HUMAN_VOLUME_ML = {"LV": (3.0, 700.0), "MYO": (10.0, 600.0), "RV": (3.0, 700.0)}
MINIMUM_LV_RING = 0.5  # share of the LV cavity's border that is myocardium (labels.enclosure_by_myocardium)


def implausible_findings(labels: np.ndarray, spacing_xyz: tuple[float, float, float]) -> list[str]:
    """One line per kind of implausibility in labels (T, Z, Y, X), naming the frames of a cine; [] when none."""
    found: dict[str, list[int]] = {}
    for t, frame in enumerate(labels):
        for finding in _frame_findings(frame, spacing_xyz):
            found.setdefault(finding, []).append(t)
    if labels.shape[0] == 1:
        return list(found)
    return [
        f"{finding} (frame{'s' if len(frames) > 1 else ''} {_frame_list(frames)})" for finding, frames in found.items()
    ]


def _frame_findings(frame: np.ndarray, spacing_xyz: tuple[float, float, float]) -> list[str]:
    volumes = structure_volumes_ml(frame, spacing_xyz)
    if not any(volumes.values()):
        return ["nothing was segmented: no heart was found in the image"]
    findings = []
    if not volumes["LV"]:
        findings.append("no LV cavity was segmented")
    else:
        ring = enclosure_by_myocardium(frame, LV)
        if ring is not None and ring < MINIMUM_LV_RING:
            findings.append(f"the LV cavity is not ringed by myocardium (only {ring:.0%} of its border)")
    for name, (low, high) in HUMAN_VOLUME_ML.items():
        volume = volumes[name]
        if volume and not low <= volume <= high:
            findings.append(
                f"a {STRUCTURE_NAMES[name]} of {volume:.3g} ml, outside the range of human hearts "
                f"({low:g} to {high:g} ml)"
            )
    return findings


def _frame_list(frames: list[int]) -> str:
    """``0-3, 7`` for frames 0, 1, 2, 3, 7."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in runs)
