"""What a result keeps in the scene beside what the views show, so that it can be taken up again after the scene
was saved and opened, or the module reloaded (:mod:`GmmSegLib.mrml.resume`).

Three nodes, never drawn, listed in the data tree like the audit copy, and saved with the scene by their ordinary
storage nodes. They are not hidden from the editors, so that every way of saving writes them as it writes the
segmentation: Slicer saves hidden storable nodes apart, in a private folder, and 5.10 and 5.12 do it differently
(vtkMRMLScene::SaveSceneToSlicerDataBundleDirectory, ``SavePrivateStorableNodes`` new in 5.12; qSlicerSaveDataDialog).

- ``summary``: a text node with the case's JSON record (spacing, phi and canonical crop of the prior, model id and
  sha256, plausibility findings), which the prior's re-run, Accept's stamp and the indices read;
- ``model labels``: a sequence of label volumes, one per frame, with the model's own output before any edit (the
  review queue and Accept's audit copy use it);
- ``probabilities``: a sequence of vector volumes (one component per class), one per frame, which click refinement
  and the indices' EF ranges read. It is the only copy: the result in memory does not keep the probabilities twice.
  They are kept in uint16 steps of 1/65535 (:mod:`GmmSegLib.core.probability_steps`): a 20-frame cine's float32
  probabilities are 100 MB, copied into the sequence, saved and loaded on the GUI thread, and 50 MB this way, fine
  enough for the review queue's estimate (1/255 steps were not). Scenes saved with float probabilities or with
  1/255 steps are read as they are.

The summary node also keeps the reader's choices (ED and ES frames, slice limits, excluded slices:
:class:`GmmSegLib.clinical.reader_choices.ReaderChoices`) as JSON in its ``GmmSeg.ReaderChoices`` attribute, which the
indices are computed with and which is saved with the scene like the rest of the record.

A 3D input gets one-item sequences, so that one code reads both. The items are sequence items, outside the main
scene; a sequence that no browser synchronises makes no proxy node.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import slicer

from ..clinical.case_summary import CaseSummary
from ..clinical.reader_choices import ReaderChoices
from ..core.errors import InputError
from .nodes import ijk_to_ras_matrix
from .texts import _

LOGGER = logging.getLogger("gmmseg")
SUMMARY, MODEL_LABELS, PROBABILITIES = "summary", "model labels", "probabilities"
READER_CHOICES = "GmmSeg.ReaderChoices"  # on the summary node: ReaderChoices.to_dict() as JSON


def new_summary_node(scene, name: str, summary: CaseSummary):
    """A text node holding ``summary`` in its JSON form."""
    node = scene.AddNewNodeByClass("vtkMRMLTextNode", name)
    node.SetText(json.dumps(summary.to_json()))
    return node


def read_summary(node) -> CaseSummary:
    """The summary a summary node holds (``InputError`` naming the node if its text is not one)."""
    try:
        record = json.loads(node.GetText() or "{}")
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise InputError(_("{name}: does not hold a GmmSeg case summary").format(name=node.GetName()))
    return CaseSummary.from_json(record, node.GetName())


def read_reader_choices(node) -> ReaderChoices:
    """The reader's choices kept on the summary ``node`` (none yet: every choice is the model's). Choices that cannot
    be read (the attribute edited by hand) are set aside with a warning rather than stopping the indices."""
    text = node.GetAttribute(READER_CHOICES) if node is not None else None
    try:
        return ReaderChoices.from_dict(json.loads(text) if text else None)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        LOGGER.warning(
            f"{node.GetName()}: the reader's choices kept in the scene cannot be read ({error}); the "
            "model's choices are used until the reader chooses again"
        )
        return ReaderChoices()


def write_reader_choices(node, choices: ReaderChoices) -> None:
    node.SetAttribute(READER_CHOICES, json.dumps(choices.to_dict()))


def new_frame_sequence(scene, name: str, volumes: list, index_values: list[str], arrays, vector: bool, like=None):
    """A sequence of volumes on the frames' grids, one per index value: ``arrays`` (T, Z, Y, X), or with
    ``vector`` (T, K, Z, Y, X), one component per class; indexed as the sequence ``like`` (a cine's master)."""
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
    sequence.SetIndexName(like.GetIndexName() if like is not None else "frame")
    sequence.SetIndexUnit(like.GetIndexUnit() if like is not None else "")
    sequence.SetIndexType(like.GetIndexType() if like is not None else slicer.vtkMRMLSequenceNode.NumericIndex)
    for volume, value, array in zip(volumes, index_values, arrays, strict=True):
        item = slicer.vtkMRMLVectorVolumeNode() if vector else slicer.vtkMRMLLabelMapVolumeNode()
        item.SetName(f"{name} frame {value}")
        item.SetIJKToRASMatrix(ijk_to_ras_matrix(volume))
        voxels = np.moveaxis(array, 0, -1) if vector else array
        slicer.util.updateVolumeFromArray(item, np.ascontiguousarray(voxels))
        sequence.SetDataNodeAtValue(item, value)
    return sequence


def frame_array(sequence, index_value: str, vector: bool) -> np.ndarray | None:
    """A copy of one frame's array (Z, Y, X), or (K, Z, Y, X) with ``vector``; None when the sequence lacks it."""
    item = sequence.GetDataNodeAtValue(index_value) if sequence is not None else None
    if item is None or item.GetImageData() is None:
        return None
    array = slicer.util.arrayFromVolume(item)
    return np.array(np.moveaxis(array, -1, 0) if vector else array)
