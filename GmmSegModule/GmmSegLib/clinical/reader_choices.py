"""What the reader confirms before signing the indices: the ED and ES frames, and the slices each ventricle spans.

Every CMR reporting suite (cvi42, Segment, Medis) lets the reader check the frames the volumes come from and
the basal and apical slice of the LV and RV at ED and ES, because that is where automatic contours go wrong
most: at end-systole the base moves towards the apex, and the most basal slice that was ventricle at ED may
show the atrium (the convention of ACDC's experts: a basal slice counts when the myocardium surrounds at least
half of the cavity). The model proposes every choice from its labels, with a confidence from its probabilities;
the reader may move a limit by a slice, exclude a slice or choose another frame, and the indices say which
choices were the reader's.

Slices are counted in the stack's own order (0 = the first slice of the file); LV limits also bound the
myocardium counted for the LV mass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import InputError
from ..core.labels import LV, MYO, RV

PHASES = ("ED", "ES")
VENTRICLES = ("LV", "RV")
# the labels a ventricle's slice limits bound
BOUNDED_LABELS = {"LV": (LV, MYO), "RV": (RV,)}
VENTRICLE_LABEL = {"LV": LV, "RV": RV}


def limit_key(ventricle: str, phase: str) -> str:
    """The key of one ventricle's slice limits at one phase ("LV ED", ...)."""
    return f"{ventricle} {phase}"


# the command-line option of each ventricle's slice limits at each phase (gmmseg report)
LIMIT_OPTIONS = {limit_key(v, p): f"--{v.lower()}-{p.lower()}-slices" for v in VENTRICLES for p in PHASES}


@dataclass
class ReaderChoices:
    """The reader's overrides; what is not set here stays the model's choice.

    ``limits`` maps ``"LV ED"``, ``"LV ES"``, ``"RV ED"``, ``"RV ES"`` to the (first, last) slice counted,
    inclusive; ``excluded`` maps ``"ED"`` / ``"ES"`` to slices counted for no structure (a slice the reader
    judges unusable, e.g. a mis-triggered breath-hold).
    """

    ed_frame: int | None = None
    es_frame: int | None = None
    limits: dict[str, tuple[int, int]] = field(default_factory=dict)
    excluded: dict[str, list[int]] = field(default_factory=dict)

    def manual(self) -> list[str]:
        """What the reader chose, in words, for the indices' record (empty: every choice is the model's)."""
        chosen = [
            f"{name} frame {frame}"
            for name, frame in (("ED", self.ed_frame), ("ES", self.es_frame))
            if frame is not None
        ]
        chosen += [f"{key} slices {first}-{last}" for key, (first, last) in sorted(self.limits.items())]
        chosen += [f"{phase} slice {z} excluded" for phase, slices in sorted(self.excluded.items()) for z in slices]
        return chosen

    def to_dict(self) -> dict:
        return {
            "ed_frame": self.ed_frame,
            "es_frame": self.es_frame,
            "limits": {key: list(value) for key, value in self.limits.items()},
            "excluded": {phase: list(slices) for phase, slices in self.excluded.items() if slices},
        }

    @classmethod
    def from_dict(cls, record: dict | None) -> ReaderChoices:
        """Choices as :meth:`to_dict` wrote them (None or {}: none)."""
        record = record or {}
        return cls(
            record.get("ed_frame"),
            record.get("es_frame"),
            {key: (int(v[0]), int(v[1])) for key, v in (record.get("limits") or {}).items()},
            {phase: [int(z) for z in v] for phase, v in (record.get("excluded") or {}).items()},
        )

    def check(self, frames: int, slices: int) -> None:
        """Refuse choices that name a frame or slice the segmentation does not have, or an unknown limit."""
        for name, frame in (("ED", self.ed_frame), ("ES", self.es_frame)):
            if frame is not None and not 0 <= frame < frames:
                raise InputError(f"{name} frame {frame} does not exist (the cine has {frames} frames, 0-{frames - 1})")
        keys = {limit_key(v, p) for v in VENTRICLES for p in PHASES}
        for key, (first, last) in self.limits.items():
            if key not in keys:
                raise InputError(f"unknown slice limits {key!r}; use one of {', '.join(sorted(keys))}")
            if not 0 <= first <= last < slices:
                raise InputError(
                    f"{key} slices {first}-{last}: the limits must satisfy 0 <= first <= last < "
                    f"{slices} (the stack has {slices} slices)"
                )
        for phase, chosen in self.excluded.items():
            if phase not in PHASES or any(not 0 <= z < slices for z in chosen):
                raise InputError(f"excluded slices {phase} {chosen}: a phase is ED or ES and a slice 0-{slices - 1}")


@dataclass(frozen=True)
class SliceLimits:
    """The slices one ventricle spans at one phase, and how sure the model is of each end slice (the mean
    probability of the ventricle over the voxels it labelled there; None without probabilities)."""

    first: int
    last: int
    first_confidence: float | None = None
    last_confidence: float | None = None
    manual: bool = False

    def to_dict(self) -> dict:
        return {
            "first": self.first,
            "last": self.last,
            "first_confidence": self.first_confidence,
            "last_confidence": self.last_confidence,
            "manual": self.manual,
        }


def model_limits(labels: np.ndarray, ventricle: str, probabilities: np.ndarray | None = None) -> SliceLimits | None:
    """The first and last slice holding the ventricle's cavity in a (Z, Y, X) label map (None: no cavity), with
    the model's confidence in each end slice from its (K, Z, Y, X) probabilities when given."""
    cavity = labels == VENTRICLE_LABEL[ventricle]
    held = np.flatnonzero(cavity.any(axis=(1, 2)))
    if not held.size:
        return None
    first, last = int(held[0]), int(held[-1])
    if probabilities is None:
        return SliceLimits(first, last)
    probability = probabilities[VENTRICLE_LABEL[ventricle]]
    confidence = [round(float(probability[z][cavity[z]].astype(np.float64).mean()), 3) for z in (first, last)]
    return SliceLimits(first, last, *confidence)


def counted_slices(slices: int, ventricle: str, phase: str, choices: ReaderChoices) -> np.ndarray:
    """(Z,) True where the ventricle is counted at ``phase``: within its limits (all slices when the reader set
    none) and not excluded. A limit moved outwards counts only what is labelled there."""
    counted = np.ones(slices, bool)
    limits = choices.limits.get(limit_key(ventricle, phase))
    if limits is not None:
        z = np.arange(slices)
        counted &= (z >= limits[0]) & (z <= limits[1])
    counted[choices.excluded.get(phase) or []] = False
    return counted


def counted_labels(labels: np.ndarray, phase: str, choices: ReaderChoices) -> np.ndarray:
    """A (Z, Y, X) label map with what the reader's choices leave out of the counts at ``phase`` set to
    background: each ventricle (the LV with its myocardium) outside its slice limits, everything on an excluded
    slice."""
    counted = labels.copy()
    for ventricle in VENTRICLES:
        outside = ~counted_slices(labels.shape[0], ventricle, phase, choices)
        counted[outside] = np.where(np.isin(counted[outside], BOUNDED_LABELS[ventricle]), 0, counted[outside])
    return counted
