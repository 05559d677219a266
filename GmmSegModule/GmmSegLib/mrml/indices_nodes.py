"""The clinical indices of a result in the scene: a table node, and for a cine the LV and RV volume curves.

Refilled from the labels as they are (edits included): by the logic after Refine, Undo, Redo, Accept, Export and
every change of the reader's choices, and by the panel shortly after a Segment Editor edit
(:mod:`GmmSegLib.gui.indices_follower`), so that the indices on screen are those of the segmentation on screen. A
cine's indices use the reader's choices kept with the result (frames, slice limits, excluded slices) and the model's
class probabilities, which give each EF its range; the table says which choices were the reader's.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from ..clinical.indices import INDEX_NAMES, clinical_indices, index_label, scalar_indices, single_phase_indices
from ..core.errors import GmmSegError
from ..core.labels import STRUCTURE_COLOURS
from .scene_outputs import SceneOutputs, tag


def indices_problem(indices: dict) -> str | None:
    """Why ``indices`` (as :func:`show_indices` returns them) could not be computed; None when they were."""
    return indices.get("error")


NO_READER_CHOICE = "none: every choice is the model's"


def show_indices(scene, outputs: SceneOutputs, labels: np.ndarray) -> dict:
    """Fill the indices table (and a cine's volume curves) of ``outputs`` from ``labels`` (T, Z, Y, X); the
    indices as a dict, also kept as ``outputs.indices``."""
    outputs.indices = _indices(outputs, labels)
    if "error" in outputs.indices or len(labels) < 2:
        _fill_table(outputs.indices_table, {index_label(key): value for key, value in outputs.indices.items()})
        return outputs.indices
    _fill_table(outputs.indices_table, table_rows(outputs.indices, outputs.probability_frames() is not None))
    outputs.plot_chart = _volume_plot(scene, outputs, outputs.indices)
    return outputs.indices


def _indices(outputs: SceneOutputs, labels: np.ndarray) -> dict:
    """A 3D volume's structure volumes and mass; a cine's clinical indices with the reader's choices and the EF
    ranges, or {"error": why} when they cannot be computed (no LV left after editing, too few slices)."""
    spacing = outputs.result.summary.spacing_mm
    if len(labels) < 2:
        return single_phase_indices(labels[0], spacing)
    try:
        return clinical_indices(
            np.asarray(labels), spacing, choices=outputs.reader_choices(), probabilities=outputs.probability_frames()
        ).to_dict()
    except GmmSegError as error:
        return {"error": str(error)}


def table_rows(indices: dict, with_ranges: bool) -> dict:
    """What the table shows of a cine's indices: the scalars with each EF's range beside it (``with_ranges``: the
    result has class probabilities; "n/a" for an EF not computed), which choices were the reader's, the warnings."""
    rows = {}
    for key, value in scalar_indices(indices).items():
        rows[index_label(key)] = value
        if with_ranges and key in ("lv_ef", "rv_ef"):
            low_high = indices[f"{key}_range"]
            rows[f"{INDEX_NAMES[key][0]} range (%)"] = f"{low_high[0]:.1f} - {low_high[1]:.1f}" if low_high else None
    rows["reader's choices"] = "; ".join(indices["manual_choices"]) or NO_READER_CHOICE
    rows.update({f"warning {n}": text for n, text in enumerate(indices["warnings"], 1)})
    return rows


def _volume_plot(scene, outputs: SceneOutputs, indices: dict):
    """LV and RV volume over the cine in a plot chart, shown in every plot view without changing the layout."""
    name = outputs.input_node.GetName()
    table = _output_node(scene, outputs, "vtkMRMLTableNode", f"{name} GmmSeg volume curves", "volume curves")
    table.RemoveAllColumns()
    columns = {"frame": [float(t) for t in range(len(indices["volumes_ml"]["LV"]))]}
    for structure in ("LV", "RV"):
        columns[f"{structure} (ml)"] = indices["volumes_ml"][structure]
    for column_name, values in columns.items():
        array = vtk.vtkDoubleArray()
        array.SetName(column_name)
        for value in values:
            array.InsertNextValue(value)
        table.AddColumn(array)
    chart = _output_node(scene, outputs, "vtkMRMLPlotChartNode", f"{name} GmmSeg volume curves", "volume plot")
    chart.SetTitle(f"Volumes (ED frame {indices.get('ed_frame')}, ES frame {indices.get('es_frame')})")
    chart.SetXAxisTitle("frame")
    chart.SetYAxisTitle("ml")
    chart.RemoveAllPlotSeriesNodeIDs()
    for structure in ("LV", "RV"):
        series = _output_node(
            scene, outputs, "vtkMRMLPlotSeriesNode", f"{name} {structure} volume", f"volume series:{structure}"
        )
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName("frame")
        series.SetYColumnName(f"{structure} (ml)")
        series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
        series.SetColor(*STRUCTURE_COLOURS[structure])
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLPlotViewNode")):
        scene.GetNthNodeByClass(index, "vtkMRMLPlotViewNode").SetPlotChartNodeID(chart.GetID())
    return chart


def _output_node(scene, outputs: SceneOutputs, class_name: str, name: str, role: str):
    """The node of ``role`` for this result, created once."""
    node = outputs.node_of(role)
    if node is not None and scene.IsNodePresent(node):
        return node
    node = scene.AddNewNodeByClass(class_name, name)
    tag(node, role, outputs.input_node)
    outputs.keep(node)
    return node


def _fill_table(table, values: dict) -> None:
    table.RemoveAllColumns()
    names, numbers = vtk.vtkStringArray(), vtk.vtkStringArray()
    names.SetName("Index")
    numbers.SetName("Value")
    for key, value in values.items():
        names.InsertNextValue(str(key))
        text = "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        numbers.InsertNextValue(text)
    table.AddColumn(names)
    table.AddColumn(numbers)
