"""What the model produced for one input, in memory: the hand-over between ``gmmseg segment`` and the scene.

The Slicer module runs the model in a separate process, which writes the case's files
(:func:`GmmSegLib.inference.case_files.write_case`); :meth:`CaseResult.read` takes them back. Batch runs and tests that
run the model in-process build the same object with :meth:`CaseResult.from_segmentation`. No torch here: the
Slicer GUI process reads results without loading the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..clinical.case_summary import CaseSummary
from ..core.errors import GmmSegError
from ..core.file_names import PRIOR, PROBABILITIES, SEGMENTATION, UNCERTAINTY_FILES, case_file, summary_file
from ..core.probability_steps import stored_probabilities


@dataclass
class CaseResult:
    """Arrays on the input's native grid: labels (T, Z, Y, X), maps (T, Z, Y, X), prior and probabilities
    (T, K, Z, Y, X); ``summary`` is the case's summary. A segmentation that GmmSeg did not make has labels only
    (no maps, prior or probabilities); a result in the scene keeps its probabilities and prior in scene nodes
    (:mod:`GmmSegLib.mrml.result_record`), not here."""

    labels: np.ndarray
    uncertainty: dict[str, np.ndarray]
    prior: np.ndarray | None
    summary: CaseSummary
    probabilities: np.ndarray | None = None

    @cached_property
    def kept_probabilities(self) -> np.ndarray | None:
        """The probabilities in the steps the scene keeps them in (:func:`stored_probabilities`), computed once. The
        module's thread that reads a job's results computes them: on the GUI thread a 20-frame cine's took 0.25-0.5 s
        of the results' arrival (BENCHMARKS.md, "The Slicer module's GUI")."""
        return None if self.probabilities is None else stored_probabilities(self.probabilities)

    @property
    def frame_of_interest(self) -> int:
        """The frame shown first: ED for a cine (found from the LV volume curve), else the only one."""
        return self.summary.frame_of_interest

    @classmethod
    def from_segmentation(cls, result, summary: CaseSummary) -> CaseResult:
        """From an in-process :class:`GmmSegLib.inference.segmentation.SegmentationResult`."""
        return cls(result.labels, result.uncertainty, result.prior, summary, result.probabilities)

    @classmethod
    def read(cls, folder: str | Path, stem: str) -> CaseResult:
        """Read what ``gmmseg segment`` wrote for ``stem`` into ``folder``.

        These are the product's own files, just written whole (``AtomicOutputs``) on the input's grid, which the
        caller already has: only their arrays are read, without the checks and geometry decisions that a user's
        image gets (:func:`GmmSegLib.io.images.read_cardiac_image`)."""
        folder = Path(folder)
        summary_path = folder / summary_file(stem)
        if not summary_path.is_file():
            raise GmmSegError(f"the segmentation of {stem} produced no results in {folder}")
        summary = CaseSummary.read(summary_path)
        frames = summary.frames
        maps = {
            kind: _read_array(folder / case_file(stem, part), frames).astype(np.float32)
            for kind, part in UNCERTAINTY_FILES.items()
        }
        labels = _read_array(folder / case_file(stem, SEGMENTATION), frames).astype(np.uint8)
        prior = _read_vector(folder / case_file(stem, PRIOR), frames)
        probabilities_path = folder / case_file(stem, PROBABILITIES)
        probabilities = _read_vector(probabilities_path, frames) if probabilities_path.exists() else None
        return cls(labels, maps, prior, summary, probabilities)


def _read_array(path: Path, frames: int) -> np.ndarray:
    """A scalar image ([T,] Z, Y, X) as (T, Z, Y, X)."""
    array = _voxels(path)
    return array.reshape((frames,) + array.shape[-3:])


def _read_vector(path: Path, frames: int) -> np.ndarray:
    """A vector image ([T,] Z, Y, X, K) as (T, K, Z, Y, X) float32."""
    array = _voxels(path).astype(np.float32)
    return np.moveaxis(array.reshape((frames,) + array.shape[-4:]), -1, 1)


def _voxels(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    if not path.is_file():
        raise GmmSegError(f"{path.name} is missing from the segmentation's results in {path.parent}")
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
