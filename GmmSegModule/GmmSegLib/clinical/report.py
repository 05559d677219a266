"""``gmmseg report``: clinical indices and the uncertainty summary of a segmented case.

From a 4D segmentation (``<stem>_seg.nii.gz`` of a cine) ED and ES are found on the LV volume curve;
from two 3D segmentations (``--ed`` and ``--es``) they are given. The reader may choose ED and ES of a cine
and bound each ventricle's slices at ED and ES (:func:`reader_choices`); the record names those choices.
Writes ``<name>_indices.json``, ``<name>_indices.csv`` and ``<name>_volumes.png`` (LV and RV volume over the
cycle, ED and ES marked).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import InputError
from ..core.file_names import INDICES, PROBABILITIES, case_file, stem_of_segmentation, summary_file
from ..core.labels import convention_warning, to_product_labels
from ..io.images import AtomicOutputs, image_stem, read_label_volume
from .case_summary import CaseSummary
from .indices import ClinicalIndices, clinical_indices, scalar_indices, structure_volumes_ml
from .pictures import figure_png
from .reader_choices import PHASES, ReaderChoices

LOGGER = logging.getLogger("gmmseg")


def _labels(
    path: Path,
    require: int | None = None,
    convention: str = "product",
) -> tuple[np.ndarray, tuple[float, float, float]]:
    labels, geometry = read_label_volume(path)
    if require is not None and labels.ndim != require:
        kind = "a 4D cine segmentation" if require == 4 else "a 3D (single-phase) segmentation"
        raise InputError(f"{path}: {labels.ndim}D labels where {kind} is required")
    labels = to_product_labels(labels, convention)
    warning = convention_warning(labels, convention)
    if warning:
        LOGGER.warning(f"{path}: {warning}")
    return labels, tuple(float(s) for s in geometry.spacing[:3])


def indices_from_cine(
    segmentation: Path, convention: str = "product", choices: ReaderChoices | None = None
) -> ClinicalIndices:
    """Indices of a 4D cine segmentation, with the EF ranges when ``gmmseg segment --probabilities`` wrote the
    class probabilities beside it."""
    labels, spacing = _labels(segmentation, require=4, convention=convention)
    return clinical_indices(
        labels, spacing, choices=choices, probabilities=_probabilities_beside(segmentation, labels.shape)
    )


def _probabilities_beside(segmentation: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The (T, K, Z, Y, X) probabilities written with ``segmentation`` (None when there are none or they are
    not of its shape: an EF range from another segmentation's probabilities would be no range of this one)."""
    path = segmentation.parent / case_file(stem_of_segmentation(image_stem(segmentation)), PROBABILITIES)
    if not path.is_file():
        return None
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    if array.ndim != 5 or array.shape[:4] != shape:
        LOGGER.warning(f"{path}: not the probabilities of {segmentation.name} (shape {array.shape}); no EF ranges")
        return None
    return np.moveaxis(array, -1, 1)


def indices_from_phases(
    ed: Path, es: Path, convention: str = "product", choices: ReaderChoices | None = None
) -> tuple[ClinicalIndices, list[Path]]:
    """Indices of two 3D phases, and their two files in the order taken (ED, ES). Given the wrong way round
    (the LV larger at ES) they are swapped, with a warning, as a cine's ED and ES are the largest and the
    smallest LV cavity: never a negative EF."""
    ed_labels, spacing = _labels(ed, require=3, convention=convention)
    es_labels, es_spacing = _labels(es, require=3, convention=convention)
    if ed_labels.shape != es_labels.shape or not np.allclose(spacing, es_spacing, rtol=1e-3):
        raise InputError(f"{ed} and {es} are not on the same grid")
    swapped = swapped_phases_warning(ed, es, ed_labels, es_labels, spacing)
    phases = [es_labels, ed_labels] if swapped else [ed_labels, es_labels]
    if choices is not None and (choices.ed_frame is not None or choices.es_frame is not None):
        raise InputError("--ed-frame and --es-frame choose frames of a cine; with --ed and --es the phases are given")
    indices = clinical_indices(np.stack(phases), spacing, ed_frame=0, es_frame=1, choices=choices)
    if swapped:
        indices.warnings.insert(0, swapped)
    return indices, [es, ed] if swapped else [ed, es]


def swapped_phases_warning(
    ed: Path, es: Path, ed_labels: np.ndarray, es_labels: np.ndarray, spacing: tuple[float, float, float]
) -> str | None:
    """A warning when the LV cavity of ``--ed`` is smaller than that of ``--es`` (both present), else None."""
    lv_ed, lv_es = (structure_volumes_ml(labels, spacing)["LV"] for labels in (ed_labels, es_labels))
    if not 0 < lv_ed < lv_es:
        return None
    return (
        f"the LV cavity is larger in --es {es} ({lv_es:.1f} ml) than in --ed {ed} ({lv_ed:.1f} ml): the phases "
        f"look swapped; {es} was taken as ED and {ed} as ES"
    )


def percent(value: float | None) -> str:
    """An ejection fraction for a caption: one decimal, or n/a when it was not computed."""
    return "n/a" if value is None else f"{value:.1f}%"


def volume_curve_png(indices: dict, title: str) -> bytes:
    """The LV and RV cavity volumes over the cine with ED and ES marked, from an indices record
    (``ClinicalIndices.to_dict()``, as the report writes it and the scene keeps it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    for name, colour in (("LV", "tab:red"), ("RV", "tab:blue")):
        axis.plot(indices["volumes_ml"][name], marker="o", color=colour, label=f"{name} cavity")
    for frame, label in ((indices["ed_frame"], "ED"), (indices["es_frame"], "ES")):
        axis.axvline(frame, color="grey", linestyle="--")
        axis.text(frame, axis.get_ylim()[1], f" {label}", va="top")
    axis.set_xlabel("frame")
    axis.set_ylabel("volume (ml)")
    axis.set_title(
        f"{title}: LVEF {percent(indices['lv_ef'])}, RVEF {percent(indices['rv_ef'])}, "
        f"LV mass {indices['lv_mass']:.0f} g",
        fontsize=9,
    )
    axis.legend()
    figure.tight_layout()
    return figure_png(figure)


def write_report(indices: ClinicalIndices, out: Path, name: str, uncertainty: dict | None = None) -> list[Path]:
    record = {"indices": indices.to_dict(), "uncertainty": uncertainty}
    with AtomicOutputs(out) as outputs:
        outputs.add_bytes(case_file(name, INDICES, ".json"), json.dumps(record, indent=2).encode())
        outputs.add_bytes(case_file(name, INDICES, ".csv"), indices.summary_csv().encode())
        outputs.add_bytes(f"{name}_volumes.png", volume_curve_png(indices.to_dict(), name))
    return outputs.paths


def uncertainty_summary(case_jsons: list[Path]) -> dict | None:
    """The most uncertain slices from the ``<stem>.json`` files written by ``gmmseg segment`` (one for a cine,
    ED's and ES's for two phases: their frames are then 0 and 1, as in the indices), if they are all there."""
    if not all(path.is_file() for path in case_jsons):
        return None
    rows = []
    for path in case_jsons:
        per_frame = CaseSummary.read(path).slice_uncertainty
        if not per_frame:
            raise InputError(f"{path}: a summary with no per-slice uncertainty (a segmentation GmmSeg did not make)")
        rows += per_frame
    scores = np.array(rows, dtype=float)
    order = np.dstack(np.unravel_index(np.argsort(-scores, axis=None), scores.shape))[0][:5]
    return {
        "mean_slice_uncertainty": float(scores[scores > 0].mean()) if (scores > 0).any() else 0.0,
        "most_uncertain": [
            {"frame": int(t), "slice": int(z), "mean_uncertainty": float(scores[t, z])} for t, z in order
        ],
    }


def reader_choices(
    ed_frame: int | None, es_frame: int | None, limits: dict[str, str | None], excluded: list[str]
) -> ReaderChoices | None:
    """The reader's choices from the command line (None: none): ``limits`` maps ``"LV ED"`` etc. to
    ``"FIRST-LAST"``, ``excluded`` holds ``"ED:Z"`` / ``"ES:Z"``."""
    choices = ReaderChoices(ed_frame, es_frame)
    for key, text in limits.items():
        if text:
            choices.limits[key] = _slice_range(key, text)
    for item in excluded:
        phase, _, z = item.partition(":")
        if phase not in PHASES or not z.strip().isdigit():
            raise InputError(f"--exclude-slice {item!r}: give the phase and the slice, e.g. ES:0")
        choices.excluded.setdefault(phase, []).append(int(z))
    return choices if choices.manual() else None


def _slice_range(key: str, text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    if not (first.strip().isdigit() and last.strip().isdigit()):
        raise InputError(f"{key} slices {text!r}: give the first and last slice counted, e.g. 1-9")
    return int(first), int(last)


def case_json(segmentation: Path) -> Path:
    """The ``<stem>.json`` that ``gmmseg segment`` writes beside ``<stem>_seg.nii.gz``."""
    return segmentation.parent / summary_file(stem_of_segmentation(image_stem(segmentation)))


def report_case(
    segmentation: Path | None,
    ed: Path | None,
    es: Path | None,
    out: Path | None,
    convention: str = "product",
    choices: ReaderChoices | None = None,
) -> dict:
    """The indices of a segmented case (labels in ``convention``), with the reader's ``choices`` of frames and
    slice limits, written beside it or to ``out``."""
    if segmentation is not None:
        indices = indices_from_cine(segmentation, convention, choices)
        name = stem_of_segmentation(image_stem(segmentation))
        folder = out or segmentation.parent
        uncertainty = uncertainty_summary([case_json(segmentation)])
    elif ed is not None and es is not None:
        indices, phases = indices_from_phases(ed, es, convention, choices)
        name = stem_of_segmentation(image_stem(ed))
        folder = out or ed.parent
        uncertainty = uncertainty_summary([case_json(path) for path in phases])
    else:
        raise InputError("give a 4D cine segmentation, or both --ed and --es 3D segmentations")
    written = write_report(indices, folder, name, uncertainty)
    return {
        "indices": scalar_indices(indices.to_dict()),
        "lv_ef_range": indices.lv_ef_range,
        "rv_ef_range": indices.rv_ef_range,
        "manual_choices": indices.manual_choices,
        "warnings": indices.warnings,
        "uncertainty": uncertainty,
        "outputs": [str(p) for p in written],
    }
