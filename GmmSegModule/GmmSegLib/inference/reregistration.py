"""Atlas re-registration: re-infer with a clinician's phi instead of the registration net's.

phi moves the anatomical prior (scale about the crop centre, rotation, then shift in mm, in the canonical
crop). Re-inference runs the whole model again with that phi, so the prior changes the concentrations
d_hat, the posterior and the uncertainty, and reports what changed. Re-applying the automatic phi
reproduces the original output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..clinical.indices import structure_volumes_ml
from ..core.errors import GmmSegError
from ..core.labels import STRUCTURES
from ..io.images import CardiacImage
from ..model.bundle import GmmSegModel
from ..model.phi import Phi
from .segmentation import SegmentationResult, segment


@dataclass
class Reinference:
    """The new result and how it differs from the previous one."""

    result: SegmentationResult
    changed_voxels: int
    changed_fraction_of_heart: float
    volume_change_ml: dict[str, list[float]] = field(default_factory=dict)  # per structure, per frame


def reinfer(image: CardiacImage, model: GmmSegModel, previous: SegmentationResult, phi: Phi,
            device: str = "cpu", frame: int | None = None, slice_index: int | None = None) -> Reinference:
    """Re-infer with ``phi`` for all frames, or only ``frame`` / ``slice_index`` (the rest is kept), in the
    previous result's heart location (the heart is not located again)."""
    frames, slices = previous.labels.shape[:2]
    if frame is not None and not 0 <= frame < frames:
        raise GmmSegError(f"frame {frame} does not exist (the image has {frames} frames)")
    if slice_index is not None and not 0 <= slice_index < slices:
        raise GmmSegError(f"slice {slice_index} does not exist (the image has {slices} slices)")
    phi_per_frame = previous.phi.copy()
    chosen = range(frames) if frame is None else [frame]
    for t in chosen:
        phi_per_frame[t] = phi.array()
    fresh = segment(image, model, device, phi=phi_per_frame, location=previous.location)
    keep = np.ones((frames, slices), bool)
    for t in chosen:
        if slice_index is None:
            keep[t] = False
        else:
            keep[t, slice_index] = False
    merged = _merge(previous, fresh, keep, image.spacing_xyz)
    merged.phi = np.where(keep.all(axis=1)[:, None], previous.phi, phi_per_frame)
    changed = merged.labels != previous.labels
    heart = (previous.labels > 0) | (merged.labels > 0)
    return Reinference(merged, int(changed.sum()), float(changed.sum() / max(heart.sum(), 1)),
                       {name: [merged.volumes_ml[t][name] - previous.volumes_ml[t][name] for t in range(frames)]
                        for name in STRUCTURES})


def _merge(previous: SegmentationResult, fresh: SegmentationResult, keep: np.ndarray,
           spacing_xyz: tuple[float, float, float]) -> SegmentationResult:
    """Fresh results where ``keep`` (T, Z) is False, previous ones elsewhere; volumes recomputed."""

    def pick(old: np.ndarray, new: np.ndarray, class_axis: bool = False) -> np.ndarray:
        mask = keep[:, None] if class_axis else keep
        return np.where(mask.reshape(mask.shape + (1,) * (old.ndim - mask.ndim)), old, new)

    labels = pick(previous.labels, fresh.labels)
    return SegmentationResult(
        labels=labels,
        probabilities=pick(previous.probabilities, fresh.probabilities, class_axis=True),
        uncertainty={k: pick(previous.uncertainty[k], fresh.uncertainty[k]) for k in previous.uncertainty},
        prior=pick(previous.prior, fresh.prior, class_axis=True),
        phi=fresh.phi,
        location=previous.location,
        crop=previous.crop,
        slice_uncertainty=np.where(keep, previous.slice_uncertainty, fresh.slice_uncertainty),
        volumes_ml=[structure_volumes_ml(labels[t], spacing_xyz) for t in range(labels.shape[0])],
        timings=fresh.timings,
    )
