"""Clinical indices from a segmentation: volumes, ED/ES, stroke volume, ejection fraction, LV mass.

Volumes are voxel counts times the voxel volume (ml). For a cine, ED is the frame with the largest and
ES the frame with the smallest LV cavity volume, in the frame order of the file. LV mass is the
myocardial volume at ED times 1.05 g/ml. A ventricle with no cavity at ED or ES has no ejection fraction
(None, with a warning): a heart's cavity never vanishes, so an empty frame is a failed or unfinished
segmentation, and the 100 % or undefined EF it would give is no measurement.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import GmmSegError
from ..core.labels import STRUCTURES

MYOCARDIUM_DENSITY_G_PER_ML = 1.05
# Volumes summed over slices mean something only for a stack through the ventricle (base, mid, apex): a
# single slice or two give an area, not a volume, and an "EF" of the slice's area change.
MIN_LV_SLICES = 3


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
    areas and warnings."""
    return {key: value for key, value in record.items() if not isinstance(value, (dict, list))}


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
    return (f"the LV is in {most} slice(s): the volumes are those of the slices imaged, not of the ventricle "
            f"(volumes, EF and LV mass need a short-axis stack through it, at least {MIN_LV_SLICES} slices with LV)")


def clinical_indices(labels: np.ndarray, spacing_xyz: tuple[float, float, float],
                     ed_frame: int | None = None, es_frame: int | None = None) -> ClinicalIndices:
    """Indices from labels (T, Z, Y, X) with T >= 2; ED/ES from the LV volume curve unless given."""
    if labels.ndim != 4 or labels.shape[0] < 2:
        raise GmmSegError("clinical indices need at least two frames (ED and ES), got "
                          f"{labels.shape[0] if labels.ndim == 4 else 'a 3D volume'}")
    volumes = frame_volumes_ml(labels, spacing_xyz)
    lv = np.array(volumes["LV"])
    if not lv.any():
        raise GmmSegError("no LV cavity in any frame; the indices cannot be computed")
    ed = int(np.argmax(lv)) if ed_frame is None else ed_frame
    es = int(np.argmin(lv)) if es_frame is None else es_frame
    for name, frame in (("ED", ed), ("ES", es)):
        if not 0 <= frame < labels.shape[0]:
            raise GmmSegError(f"{name} frame {frame} does not exist (the cine has {labels.shape[0]} frames)")
    if lv_slices(labels[ed]) < MIN_LV_SLICES:
        raise GmmSegError(f"the LV is in {lv_slices(labels[ed])} slice(s) at ED; volumes, EF and LV mass need a "
                          f"short-axis stack through the ventricle (at least {MIN_LV_SLICES} slices with LV)")
    pixel_mm2 = spacing_xyz[0] * spacing_xyz[1]
    areas = {name: (labels == value).sum(axis=(2, 3)).astype(float) * pixel_mm2 for name, value in STRUCTURES.items()}
    rv = volumes["RV"]
    return ClinicalIndices(
        ed_frame=ed, es_frame=es,
        lv_edv=float(lv[ed]), lv_esv=float(lv[es]), lv_sv=float(lv[ed] - lv[es]),
        lv_ef=ejection_fraction(float(lv[ed]), float(lv[es])),
        rv_edv=rv[ed], rv_esv=rv[es], rv_sv=rv[ed] - rv[es], rv_ef=ejection_fraction(rv[ed], rv[es]),
        lv_mass=volumes["MYO"][ed] * MYOCARDIUM_DENSITY_G_PER_ML,
        volumes_ml=volumes,
        slice_areas_mm2={name: value.round(2).tolist() for name, value in areas.items()},
        warnings=missing_cavity_warnings(volumes, ed, es),
    )

