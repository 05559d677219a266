"""The case summary: what one segmentation says about itself, as one type with one JSON form.

``gmmseg segment`` writes it as ``<stem>.json`` beside the images; the Slicer module reads it back from there (the
job runs in another process), keeps it in the scene's summary node and reads it again from a saved scene;
``gmmseg report`` reads its per-slice uncertainty. Every one of them goes through :class:`CaseSummary`: the keys and
their meaning are spelled here only (:meth:`CaseSummary.to_json`, :meth:`CaseSummary.from_json`).

The JSON keeps the names results of earlier releases carry (``canonical_frame`` for the canonical crop); a summary
written before a key existed reads with that key's empty value, and one written before ``review_reasons`` existed
gives its implausibility findings as the reasons. No torch here: the GUI process reads summaries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError
from ..model.canonical_crop import CanonicalCrop
from ..model.phi import Phi


@dataclass(frozen=True)
class ModelUsed:
    """The model that made a result: its registry id, sha256, file name and whether its hash was checked against
    the registry (``verified``)."""

    id: str
    sha256: str
    file: str
    verified: bool

    def to_json(self) -> dict:
        return {"id": self.id, "sha256": self.sha256, "file": self.file, "verified": self.verified}

    @classmethod
    def from_json(cls, record: dict | None) -> ModelUsed | None:
        if not record:
            return None
        return cls(
            str(record.get("id", "")),
            str(record.get("sha256", "")),
            str(record.get("file", "")),
            bool(record.get("verified", False)),
        )


@dataclass
class CaseSummary:
    """One segmented input. Per-frame lists hold one entry per frame (a 3D volume has one frame)."""

    input: str
    frames: int
    spacing_mm: tuple[float, float, float]  # x, y, z
    model: ModelUsed | None = None
    # where the labels came from when GmmSeg did not make them (a segmentation adopted for review)
    source: str | None = None
    # stored with the other in-plane handedness than the training images (GmmSegLib.inference.handedness), and
    # segmented as such: worth a look when the scanner's storage order is known
    mirrored_storage: bool = False
    # times the crop was re-centred on the segmentation of the first frame (GmmSegLib.inference.centring)
    crop_recentrings: int = 0
    phi: list[Phi] = field(default_factory=list)  # per frame, where the registration placed the atlas prior
    canonical_crop: CanonicalCrop | None = None  # GmmSegLib.model.canonical_crop
    slice_positions: list[float] = field(default_factory=list)  # per slice, base 0 .. apex 1
    # slices with no image (zero-filled or constant), left out of the segmentation and labelled background
    blank_slices: list[int] = field(default_factory=list)
    slice_uncertainty: list[list[float]] = field(default_factory=list)  # per frame, per slice
    # per frame, the stack's mean Dice (LV, MYO, RV) estimated from the class probabilities and, on the checked
    # frames, the quality check's two passes' agreement (error_estimate.py)
    estimated_dice: list[float] = field(default_factory=list)
    # what makes the labels implausible as a heart, however sure the model is (plausibility.py)
    implausible: list[str] = field(default_factory=list)
    # per checked frame, the share of the heart that a second pass with the crop moved by 1.5 mm labels otherwise
    # or that the model is unsure of (quality.py): the result's label-free reliability; and its limit
    unreliable_share: dict[int, float] = field(default_factory=dict)
    unreliable_share_limit: float | None = None
    # per checked frame, per slice, the heart pixels the two passes label differently (quality.slice_disagreement):
    # what the review queue adds to a slice's unsure pixels
    slice_disagreement: dict[int, list[int]] = field(default_factory=dict)
    volumes_ml: list[dict[str, float]] = field(default_factory=list)  # per frame, per structure
    # the model's end-systolic cavity correction applied to the frames past end-diastole (inference/end_systole.py);
    # 0 when none was (a single stack, or a model without one)
    end_systolic_lv_offset: float = 0.0
    # the LV in fewer slices than a volume needs (1- or 2-slice stacks): what the volumes then are (indices.py)
    volume_caveat: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)  # the named stages (inference.stage_clock)
    # every reason to look at the result before using it, one line each; the command prints them as warnings
    review_reasons: list[str] = field(default_factory=list)
    # a cine's indices (ClinicalIndices.to_dict(), or {"error": why} when the labels allow none); None for a volume
    clinical_indices: dict | None = None

    @property
    def review_advised(self) -> bool:
        return bool(self.review_reasons)

    @property
    def frame_of_interest(self) -> int:
        """The frame shown first: ED for a cine (found from the LV volume curve), else the only one."""
        return int((self.clinical_indices or {}).get("ed_frame", 0))

    def to_json(self) -> dict:
        """The JSON form, keys in the order the file has always had them."""
        record = {
            "input": self.input,
            **({"source": self.source} if self.source is not None else {}),
            "frames": self.frames,
            "spacing_mm": list(self.spacing_mm),
            "model": None if self.model is None else self.model.to_json(),
            "mirrored_storage": self.mirrored_storage,
            "crop_recentrings": self.crop_recentrings,
            "phi": [phi.record() for phi in self.phi],
            "canonical_frame": None if self.canonical_crop is None else self.canonical_crop.to_dict(),
            "slice_positions": list(self.slice_positions),
            "blank_slices": list(self.blank_slices),
            "slice_uncertainty": [list(row) for row in self.slice_uncertainty],
            "estimated_dice": list(self.estimated_dice),
            "implausible": list(self.implausible),
            "unreliable_share": {str(frame): share for frame, share in self.unreliable_share.items()},
            "unreliable_share_limit": self.unreliable_share_limit,
            "slice_disagreement": {str(frame): list(row) for frame, row in self.slice_disagreement.items()},
            "volumes_ml": list(self.volumes_ml),
            "end_systolic_lv_offset": self.end_systolic_lv_offset,
            "volume_caveat": self.volume_caveat,
            "timings_s": dict(self.timings_s),
            "review_reasons": list(self.review_reasons),
            "review_advised": self.review_advised,
        }
        if self.clinical_indices is not None:
            record["clinical_indices"] = self.clinical_indices
        return record

    @classmethod
    def from_json(cls, record: dict, source: str = "the case summary") -> CaseSummary:
        """From :meth:`to_json`'s form (or an earlier release's); ``InputError`` naming ``source`` if it is not one."""
        try:
            implausible = [str(finding) for finding in record.get("implausible", [])]
            crop = record.get("canonical_frame")
            return cls(
                input=str(record["input"]),
                frames=int(record["frames"]),
                spacing_mm=tuple(float(v) for v in record["spacing_mm"]),
                model=ModelUsed.from_json(record.get("model")),
                source=record.get("source"),
                mirrored_storage=bool(record.get("mirrored_storage", False)),
                crop_recentrings=int(record.get("crop_recentrings", 0)),
                phi=[Phi.from_record(phi) for phi in record.get("phi", [])],
                canonical_crop=None if crop is None else CanonicalCrop(**crop),
                slice_positions=[float(p) for p in record.get("slice_positions", [])],
                blank_slices=[int(z) for z in record.get("blank_slices", [])],
                slice_uncertainty=[[float(v) for v in row] for row in record.get("slice_uncertainty", [])],
                estimated_dice=[float(v) for v in record.get("estimated_dice", [])],
                implausible=implausible,
                unreliable_share={int(t): float(v) for t, v in record.get("unreliable_share", {}).items()},
                unreliable_share_limit=record.get("unreliable_share_limit"),
                slice_disagreement={
                    int(t): [int(v) for v in row] for t, row in record.get("slice_disagreement", {}).items()
                },
                volumes_ml=list(record.get("volumes_ml") or []),
                end_systolic_lv_offset=float(record.get("end_systolic_lv_offset", 0.0)),
                volume_caveat=record.get("volume_caveat"),
                timings_s=dict(record.get("timings_s", {})),
                review_reasons=[str(r) for r in record.get("review_reasons", implausible)],
                clinical_indices=record.get("clinical_indices"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InputError(f"{source}: not the JSON summary of a gmmseg segmentation ({error!r})") from None

    @classmethod
    def read(cls, path: str | Path) -> CaseSummary:
        """The summary ``gmmseg segment`` wrote as ``<stem>.json``."""
        try:
            record = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: cannot be read as a case summary ({error})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: not the JSON summary of a gmmseg segmentation")
        return cls.from_json(record, str(path))
