"""The ACDC subset in ``../shared/data/acdc``: case listing, the project's split and loading.

Split (README, "Data and licences"): the labelled auxiliary set is the first five patients of each pathology group
(001-005, 021-025, 041-045, 061-065, 081-085); the development-validation set is the other 25. The
validation patients' labels are never used for training or tuning. Cross-validation folds (:func:`fold_of`) cut
each group of ten by position, so that every fold holds every pathology and two folds are exactly that split.
The data is read in place: never copied into the repository (CC BY-NC-SA 4.0; cite Bernard et al., IEEE TMI
2018).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.labels import to_product_labels
from ..core.paths import ACDC_ENV, acdc_dir
from .grids import pair_grid_problem
from .images import CardiacImage, read_cardiac_image, read_label_volume


@dataclass(frozen=True)
class AcdcCase:
    case: str  # e.g. patient001_frame01
    patient: str
    phase: str  # ED or ES
    group: str

    @property
    def patient_number(self) -> int:
        return int(self.patient.removeprefix("patient"))


def list_cases(root: Path | None = None) -> list[AcdcCase]:
    root = Path(root) if root else acdc_dir()
    manifest = root / "manifest.csv"
    if not manifest.exists():
        raise InputError(f"{root}: no ACDC manifest.csv here (set {ACDC_ENV})")
    with manifest.open(newline="") as handle:
        return [AcdcCase(row["case"], row["patient"], row["phase"], row["group"]) for row in csv.DictReader(handle)]


# ACDC numbers its patients in runs of 20 per pathology group (001-020 DCM, 021-040 HCM, ...); ../shared holds the
# first ten of each run, and a fold is a share of those ten positions (a patient beyond them folds as position - 10)
GROUP_SPAN, GROUP_SIZE = 20, 10
# the project's split as folds: two folds, the development-validation patients (fold 1) held out
FOLDS, HELD_OUT_FOLD = 2, 1


def fold_of(case: AcdcCase, folds: int) -> int:
    """The cross-validation fold (0 .. folds - 1) of a case's patient: its position within its group of ten,
    cut into ``folds`` equal runs (both phases of a patient always in the same fold)."""
    if not 2 <= folds <= GROUP_SIZE:
        raise InputError(f"the ACDC patients can be cut into 2 to {GROUP_SIZE} folds, not {folds}")
    return (case.patient_number - 1) % GROUP_SPAN % GROUP_SIZE * folds // GROUP_SIZE


def split(
    cases: list[AcdcCase], folds: int = FOLDS, held_out_fold: int | None = HELD_OUT_FOLD
) -> tuple[list[AcdcCase], list[AcdcCase]]:
    """(training cases, held-out cases) of one cross-validation fold; by default (labelled auxiliary cases,
    development-validation cases). ``held_out_fold`` None holds out nobody: the model to ship is trained on every
    labelled patient, and its accuracy is that of the folds' out-of-fold predictions."""
    if held_out_fold is None:
        return list(cases), []
    if not 0 <= held_out_fold < folds:
        raise InputError(f"fold {held_out_fold} does not exist among {folds} folds (0 to {folds - 1})")
    held_out = [fold_of(c, folds) == held_out_fold for c in cases]
    return (
        [c for c, out in zip(cases, held_out, strict=True) if not out],
        [c for c, out in zip(cases, held_out, strict=True) if out],
    )


def image_path(root: Path, case: AcdcCase) -> Path:
    return Path(root) / "images" / f"{case.case}.nii.gz"


def label_path(root: Path, case: AcdcCase) -> Path:
    return Path(root) / "labels" / f"{case.case}_gt.nii.gz"


def load_case(root: Path, case: AcdcCase) -> tuple[CardiacImage, np.ndarray]:
    """Image and its labels mapped to the product convention (Z, Y, X); ``InputError`` naming both files when
    the labels do not lie on the image's voxels (a trainer would learn, or score, one place by another's labels)."""
    image = read_cardiac_image(image_path(root, case))
    labels, grid = read_label_volume(label_path(root, case))
    shape = image.frames.shape if image.is_cine else image.frames.shape[1:]
    problem = pair_grid_problem(labels.shape, grid, shape, image.geometry)
    if problem:
        raise InputError(
            f"{label_path(root, case)}: not on the grid of its image {image_path(root, case)} "
            f"({problem}); the labels must lie on the image's voxels"
        )
    return image, to_product_labels(labels, "acdc")
