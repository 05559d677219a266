"""Clinical indices from a segmentation: volumes, ED/ES, stroke volume, ejection fraction, LV mass.

Volumes are voxel counts times the voxel volume (ml). For a cine, ED is the frame with the largest and
ES the frame with the smallest LV cavity volume, in the frame order of the file, unless the reader chose
them; the reader may also bound each ventricle's slices at ED and ES (:mod:`.reader_choices`). LV mass is the
myocardial volume at ED times 1.05 g/ml. A ventricle with no cavity at ED or ES has no ejection fraction
(None, with a warning): a heart's cavity never vanishes, so an empty frame is a failed or unfinished
segmentation, and the 100 % or undefined EF it would give is no measurement. With the class probabilities,
each EF comes with the range its uncertain voxels imply (:func:`ef_range`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.errors import GmmSegError
from ..core.labels import STRUCTURES
from .reader_choices import (
    PHASES,
    VENTRICLE_LABEL,
    VENTRICLES,
    ReaderChoices,
    counted_labels,
    counted_slices,
    limit_key,
    model_limits,
)

MYOCARDIUM_DENSITY_G_PER_ML = 1.05
# Volumes summed over slices mean something only for a stack through the ventricle (base, mid, apex): a
# single slice or two give an area, not a volume, and an "EF" of the slice's area change.
MIN_LV_SLICES = 3
# an EF's range counts a voxel as possibly in the cavity from this probability and as surely in it from one minus
# it; chosen on out-of-fold predictions so that the expert's EF falls in the range about as often as a 90 % range
# should (BENCHMARKS.md, "Clinical indices")
EF_RANGE_PROBABILITY = 0.05

# The indices' one vocabulary, for a cine and a single phase alike: key (as the JSON files have it) -> the name a
# reader sees and its unit. The module's table, the demo's overlay and the CSV header all take their words from here.
INDEX_NAMES: dict[str, tuple[str, str]] = {
    "ed_frame": ("ED frame", ""),
    "es_frame": ("ES frame", ""),
    "lv_edv": ("LV EDV", "ml"),
    "lv_esv": ("LV ESV", "ml"),
    "lv_sv": ("LV SV", "ml"),
    "lv_ef": ("LVEF", "%"),
    "rv_edv": ("RV EDV", "ml"),
    "rv_esv": ("RV ESV", "ml"),
    "rv_sv": ("RV SV", "ml"),
    "rv_ef": ("RVEF", "%"),
    "lv_mass": ("LV mass", "g"),
    "lv_volume": ("LV volume", "ml"),
    "myo_volume": ("MYO volume", "ml"),
    "rv_volume": ("RV volume", "ml"),
}


def index_label(key: str) -> str:
    """How a reader sees index ``key``: its name with its unit, "LV EDV (ml)"; a key not in the vocabulary as it
    is."""
    name, unit = INDEX_NAMES.get(key, (key, ""))
    return f"{name} ({unit})" if unit else name


@dataclass
class ClinicalIndices:
    """Indices of one case; volumes in ml, EF in percent, mass in g, areas in mm^2 per (frame, slice)."""

    ed_frame: int
    es_frame: int
    lv_edv: float
    lv_esv: float
    lv_sv: float
    lv_ef: float | None
    rv_edv: float
    rv_esv: float
    rv_sv: float
    rv_ef: float | None
    lv_mass: float
    volumes_ml: dict[str, list[float]]
    slice_areas_mm2: dict[str, list[list[float]]]
    warnings: list[str]  # what makes an index missing or doubtful, for the reader of the report
    # "LV ED" etc. -> the slices counted (SliceLimits.to_dict), the model's choice unless "manual"
    slice_limits: dict[str, dict] = field(default_factory=dict)
    reader_choices: dict = field(default_factory=dict)  # ReaderChoices.to_dict(): what the reader set
    manual_choices: list[str] = field(default_factory=list)  # the same in words; empty: every choice the model's
    lv_ef_range: list[float] | None = None  # [low, high] in percent, from the probabilities (None without them)
    rv_ef_range: list[float] | None = None
    # what the reader is asked to confirm: ED and ES before the reader's choice (from the LV curve unless given),
    # and each ventricle's slice limits on the frames used, from the labels alone (no reader's limit or exclusion)
    model_frames: dict[str, int] = field(default_factory=dict)
    model_slice_limits: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary_csv(self) -> str:
        """One row of the scalar indices."""
        scalars = scalar_indices(asdict(self))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(scalars))
        writer.writeheader()
        writer.writerow({k: round(v, 3) if isinstance(v, float) else v for k, v in scalars.items()})
        return buffer.getvalue()


def scalar_indices(record: dict) -> dict:
    """The one-number entries of an indices record (frames, volumes, EF, mass), without the curves, per-slice
    areas, warnings, the reader's choices and the EF ranges (two numbers, or none without probabilities: a CSV's
    columns must not depend on them)."""
    return {
        key: value
        for key, value in record.items()
        if not isinstance(value, (dict, list)) and not key.endswith("_range")
    }


def ejection_fraction(edv: float, esv: float) -> float | None:
    """EF in percent, or None when the cavity is missing at ED or ES (see the module's docstring)."""
    return 100.0 * (edv - esv) / edv if edv > 0 and esv > 0 else None


def missing_cavity_warnings(volumes: dict[str, list[float]], ed: int, es: int) -> list[str]:
    """One warning per ventricle whose cavity is empty at ED or ES: its EF is not computed."""
    warnings = []
    for name in ("LV", "RV"):
        empty = [f"{phase} (frame {frame})" for phase, frame in (("ED", ed), ("ES", es)) if volumes[name][frame] <= 0]
        if empty:
            warnings.append(f"no {name} cavity at {' and '.join(empty)}: {name}EF not computed")
    return warnings


def single_phase_indices(labels: np.ndarray, spacing_xyz: tuple[float, float, float]) -> dict[str, float]:
    """What one phase (a 3D stack, Z, Y, X) gives: each structure's volume and the LV mass (no ejection fraction),
    in the vocabulary of a cine's indices (``lv_volume``, ``myo_volume``, ``rv_volume``, ``lv_mass``)."""
    indices = {f"{name.lower()}_volume": volume for name, volume in structure_volumes_ml(labels, spacing_xyz).items()}
    indices["lv_mass"] = indices["myo_volume"] * MYOCARDIUM_DENSITY_G_PER_ML
    return indices


def structure_volumes_ml(labels: np.ndarray, spacing_xyz: tuple[float, float, float]) -> dict[str, float]:
    """Volume (ml) of each structure in one 3D label map (Z, Y, X)."""
    voxel_ml = float(np.prod(spacing_xyz)) / 1000.0
    return {name: float((labels == value).sum() * voxel_ml) for name, value in STRUCTURES.items()}


def frame_volumes_ml(labels: np.ndarray, spacing_xyz: tuple[float, float, float]) -> dict[str, list[float]]:
    """Per-frame volume (ml) of each structure for labels (T, Z, Y, X)."""
    per_frame = [structure_volumes_ml(frame, spacing_xyz) for frame in labels]
    return {name: [volumes[name] for volumes in per_frame] for name in STRUCTURES}


def lv_slices(labels: np.ndarray) -> int:
    """How many slices of a (Z, Y, X) label map hold LV cavity."""
    return int((labels == STRUCTURES["LV"]).any(axis=(1, 2)).sum())


def volume_caveat(labels: np.ndarray) -> str | None:
    """What the volumes of labels (T, Z, Y, X) are when the LV lies in fewer than :data:`MIN_LV_SLICES` slices
    of every frame (but in some): those of the slices imaged, not of the ventricle; None otherwise. ``report``
    refuses such labels; ``segment`` gives their volumes with this caveat."""
    most = max(lv_slices(frame) for frame in labels)
    if not 0 < most < MIN_LV_SLICES:
        return None
    return (
        f"the LV is in {most} slice(s): the volumes are those of the slices imaged, not of the ventricle "
        f"(volumes, EF and LV mass need a short-axis stack through it, at least {MIN_LV_SLICES} slices with LV)"
    )


def clinical_indices(
    labels: np.ndarray,
    spacing_xyz: tuple[float, float, float],
    ed_frame: int | None = None,
    es_frame: int | None = None,
    choices: ReaderChoices | None = None,
    probabilities: np.ndarray | Sequence[np.ndarray] | None = None,
) -> ClinicalIndices:
    """Indices from labels (T, Z, Y, X) with T >= 2; ED/ES from the LV volume curve unless given (``ed_frame``,
    ``es_frame``) or chosen by the reader (``choices``, which may also bound the slices counted at ED and ES).
    ``probabilities`` (T, K, Z, Y, X), or a sequence of (K, Z, Y, X) frames of which only ED's and ES's are read
    (a result in Slicer reads them from its scene nodes on demand), add the model's confidence in each slice limit
    and the EF ranges."""
    if labels.ndim != 4 or labels.shape[0] < 2:
        raise GmmSegError(
            "clinical indices need at least two frames (ED and ES), got "
            f"{labels.shape[0] if labels.ndim == 4 else 'a 3D volume'}"
        )
    choices = choices or ReaderChoices()
    choices.check(labels.shape[0], labels.shape[1])
    lv = np.array(frame_volumes_ml(labels, spacing_xyz)["LV"])
    if not lv.any():
        raise GmmSegError("no LV cavity in any frame; the indices cannot be computed")
    proposed = {
        "ED": int(np.argmax(lv)) if ed_frame is None else ed_frame,
        "ES": int(np.argmin(lv)) if es_frame is None else es_frame,
    }
    ed = choices.ed_frame if choices.ed_frame is not None else proposed["ED"]
    es = choices.es_frame if choices.es_frame is not None else proposed["ES"]
    for name, frame in (("ED", ed), ("ES", es)):
        if not 0 <= frame < labels.shape[0]:
            raise GmmSegError(f"{name} frame {frame} does not exist (the cine has {labels.shape[0]} frames)")
    if ed == es:
        raise GmmSegError(f"ED and ES are the same frame ({ed}); choose two different frames")
    counted = labels.copy()
    for phase, frame in (("ED", ed), ("ES", es)):
        counted[frame] = counted_labels(labels[frame], phase, choices)
    if lv_slices(counted[ed]) < MIN_LV_SLICES:
        raise GmmSegError(
            f"the LV is in {lv_slices(counted[ed])} slice(s) at ED; volumes, EF and LV mass need a "
            f"short-axis stack through the ventricle (at least {MIN_LV_SLICES} slices with LV)"
        )
    volumes = frame_volumes_ml(counted, spacing_xyz)
    lv, rv = volumes["LV"], volumes["RV"]
    pixel_mm2 = spacing_xyz[0] * spacing_xyz[1]
    areas = {name: (counted == value).sum(axis=(2, 3)).astype(float) * pixel_mm2 for name, value in STRUCTURES.items()}
    frames = {"ED": ed, "ES": es}
    ranges = (
        {name: ef_range(probabilities, frames, name, spacing_xyz, choices) for name in VENTRICLES}
        if probabilities is not None
        else {}
    )
    return ClinicalIndices(
        ed_frame=ed,
        es_frame=es,
        lv_edv=lv[ed],
        lv_esv=lv[es],
        lv_sv=lv[ed] - lv[es],
        lv_ef=ejection_fraction(lv[ed], lv[es]),
        rv_edv=rv[ed],
        rv_esv=rv[es],
        rv_sv=rv[ed] - rv[es],
        rv_ef=ejection_fraction(rv[ed], rv[es]),
        lv_mass=volumes["MYO"][ed] * MYOCARDIUM_DENSITY_G_PER_ML,
        volumes_ml=volumes,
        slice_areas_mm2={name: value.round(2).tolist() for name, value in areas.items()},
        warnings=missing_cavity_warnings(volumes, ed, es),
        slice_limits=slice_limits(counted, frames, choices, probabilities),
        reader_choices=choices.to_dict(),
        manual_choices=choices.manual(),
        lv_ef_range=ranges.get("LV"),
        rv_ef_range=ranges.get("RV"),
        model_frames=proposed,
        model_slice_limits=slice_limits(labels, frames, ReaderChoices(), probabilities),
    )


def slice_limits(
    counted: np.ndarray,
    frames: dict[str, int],
    choices: ReaderChoices,
    probabilities: np.ndarray | Sequence[np.ndarray] | None,
) -> dict[str, dict]:
    """The slices each ventricle is counted on at ED and ES, with the model's confidence in each end slice and
    whether the reader set them."""
    limits = {}
    for ventricle in VENTRICLES:
        for phase in PHASES:
            frame = frames[phase]
            found = model_limits(counted[frame], ventricle, None if probabilities is None else probabilities[frame])
            if found is not None:
                key = limit_key(ventricle, phase)
                limits[key] = {**found.to_dict(), "manual": key in choices.limits}
    return limits


def ef_range(
    probabilities: np.ndarray | Sequence[np.ndarray],
    frames: dict[str, int],
    ventricle: str,
    spacing_xyz: tuple[float, float, float],
    choices: ReaderChoices,
) -> list[float] | None:
    """[low, high] EF in percent implied by the uncertain voxels of (T, K, Z, Y, X) ``probabilities``.

    At ED and ES the cavity volume lies between what is surely cavity (probability >= 1 -
    :data:`EF_RANGE_PROBABILITY`) and what is possibly cavity (>= that probability), on the slices the reader
    counts; half of each band is taken as that volume's uncertainty, the two combined in quadrature through EF =
    1 - ESV / EDV (errors at ED and ES are not the same error), and the range centred on the EF of the bands'
    middles (which may differ a little from the labels' EF). None when a cavity is empty, or when the model is
    nowhere sure of it at ED or ES (no voxel reaches 1 - the probability): its probabilities then bound nothing, and
    a range from nothing to everything possible would only mislead (v8's RV probabilities stopped near 0.92).
    """
    voxel_ml = float(np.prod(spacing_xyz)) / 1000.0
    middle, half = {}, {}
    for phase, frame in frames.items():
        probability = probabilities[frame][VENTRICLE_LABEL[ventricle]].astype(np.float64)
        probability = probability * counted_slices(probability.shape[0], ventricle, phase, choices)[:, None, None]
        surely = float((probability >= 1 - EF_RANGE_PROBABILITY).sum()) * voxel_ml
        possibly = float((probability >= EF_RANGE_PROBABILITY).sum()) * voxel_ml
        if surely <= 0:
            return None
        middle[phase], half[phase] = (surely + possibly) / 2, (possibly - surely) / 2
    edv, esv = middle["ED"], middle["ES"]
    spread = 100.0 * float(np.hypot(esv / edv**2 * half["ED"], half["ES"] / edv))
    centre = 100.0 * (edv - esv) / edv
    return [round(centre - spread, 1), round(centre + spread, 1)]
