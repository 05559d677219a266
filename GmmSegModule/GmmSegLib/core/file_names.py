"""The names of a case's files, for everything that writes or reads them.

For an input ``<stem>``: ``<stem>_seg`` (labels), ``<stem>_uncertainty``, ``<stem>_aleatoric`` and
``<stem>_epistemic`` (the Dirichlet uncertainty maps), ``<stem>_prior`` (the registered atlas prior),
``<stem>_probabilities`` (class probabilities), each ``.nii.gz`` unless an export asks for ``.nrrd``; ``<stem>.json``
(the case summary, GmmSegLib.clinical.case_summary); ``<stem>_indices.json`` and ``.csv`` (indices of a report or an
export). ``gmmseg segment``, the Slicer module's export, ``gmmseg report`` and ``gmmseg evaluate`` name them from here.
"""

from __future__ import annotations

from .labels import UNCERTAINTY_KINDS

SEGMENTATION, PRIOR, PROBABILITIES, INDICES = "seg", "prior", "probabilities", "indices"
# uncertainty kind -> file name part (the total map is the "uncertainty" file)
UNCERTAINTY_FILES = {kind: "uncertainty" if kind == "total" else kind for kind in UNCERTAINTY_KINDS}
IMAGE_EXTENSION = ".nii.gz"


def case_file(stem: str, part: str, extension: str = IMAGE_EXTENSION) -> str:
    """``<stem>_<part><extension>``: one of a case's files."""
    return f"{stem}_{part}{extension}"


def summary_file(stem: str) -> str:
    """The case summary's file: ``<stem>.json``."""
    return f"{stem}.json"


def stem_of_segmentation(name: str) -> str:
    """The case's stem from its segmentation's stem (``<stem>_seg`` without extension), or ``name`` itself for
    a segmentation named otherwise."""
    return name.removesuffix(f"_{SEGMENTATION}")
