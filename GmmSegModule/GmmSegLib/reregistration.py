"""Atlas re-registration: re-infer with a clinician's phi instead of the registration net's.

phi moves the anatomical prior (scale about the crop centre, rotation, then shift in mm, in the canonical
frame). Re-inference runs the whole model again with that phi, so the prior changes the concentrations
d_hat, the posterior and the uncertainty, and reports what changed. Re-applying the automatic phi
reproduces the original output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .atlas import prior_at, warp_prior
from .clinical import structure_volumes_ml
from .errors import GmmSegError
from .inference import SegmentationResult, network_input, register_prior, segment
from .io import CardiacImage
from .labels import STRUCTURES
from .model import GmmSegModel


@dataclass
class Reinference:
    """The new result and how it differs from the previous one."""

    result: SegmentationResult
    changed_voxels: int
    changed_fraction_of_heart: float
    volume_change_ml: dict[str, list[float]] = field(default_factory=dict)  # per structure, per frame


def reinfer(image: CardiacImage, model: GmmSegModel, previous: SegmentationResult, phi: np.ndarray,
            device: str = "cpu", frame: int | None = None, slice_index: int | None = None) -> Reinference:
    """Re-infer with ``phi`` (4,) for all frames, or only ``frame`` / ``slice_index`` (the rest is kept)."""
    frames, slices = previous.labels.shape[:2]
    if frame is not None and not 0 <= frame < frames:
        raise GmmSegError(f"frame {frame} does not exist (the image has {frames} frames)")
    if slice_index is not None and not 0 <= slice_index < slices:
        raise GmmSegError(f"slice {slice_index} does not exist (the image has {slices} slices)")
    phi_per_frame = previous.phi.copy()
    chosen = range(frames) if frame is None else [frame]
    for t in chosen:
        phi_per_frame[t] = phi
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
    """Fresh outputs where ``keep`` (T, Z) is False, previous ones elsewhere; volumes recomputed."""

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
        frame=previous.frame,
        slice_uncertainty=np.where(keep, previous.slice_uncertainty, fresh.slice_uncertainty),
        volumes_ml=[structure_volumes_ml(labels[t], spacing_xyz) for t in range(labels.shape[0])],
        timings=fresh.timings,
    )


def registration_residual(model: GmmSegModel, image: CardiacImage, result: SegmentationResult,
                          applied: np.ndarray) -> dict[str, float]:
    """How well the registration net follows a known displacement of the anatomy.

    The model's responsibilities of the heart slices (the middle half of the heart) are moved by
    ``applied`` (phi, 4 values); the net's phi for the moved maps should differ from its phi for the
    original ones by ``applied``. Returns the residual shift (mm), scale error (log) and rotation error (deg).
    """
    slices = np.flatnonzero((result.labels[0] > 0).any(axis=(1, 2)))
    if slices.size == 0:
        raise GmmSegError("no heart found to register")
    quarter = max(slices.size // 4, 0)
    heart = slices[quarter: slices.size - quarter] if slices.size > 2 else slices
    native = torch.from_numpy(np.ascontiguousarray(image.frames[0]))
    canonical = network_input(model, native, result.frame, result.location)[heart]
    prior = prior_at(model.atlas, result.location.positions)[heart]
    moved_phi = torch.as_tensor(np.asarray(applied, np.float32)).expand(len(heart), -1)
    with torch.no_grad():
        pi = torch.softmax(model.heads.responsibilities_logits(model.features(canonical)), 1)
        before = register_prior(model, pi, prior).median(0).values
        after = register_prior(model, warp_prior(pi, moved_phi), prior).median(0).values
    change = (after - before).numpy()
    return {"shift_residual_mm": float(math.hypot(change[1] - applied[1], change[2] - applied[2])),
            "log_scale_error": float(change[0] - applied[0]),
            "rotation_error_deg": float(math.degrees(change[3] - applied[3]))}
