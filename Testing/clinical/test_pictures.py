"""The demo picture's reading aids: orientation letters from the direction cosines, the slice shown, the indices
table (the measured indices beside the phantom's truth)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from GmmSegLib.clinical.indices import clinical_indices, scalar_indices
from GmmSegLib.clinical.pictures import indices_table, mid_ventricular_slice, orientation_letters
from GmmSegLib.io.images import Geometry


def _turned(image, direction: np.ndarray):
    geometry = image.geometry
    return replace(image, geometry=Geometry(geometry.spacing, geometry.origin, tuple(direction.ravel())))


def test_the_letters_follow_the_direction_cosines(phantom_volume):
    """ITK's LPS: +x is the patient's left, +y posterior; a column axis pointing to -x reads R at the right."""
    assert orientation_letters(_turned(phantom_volume, np.eye(3))) == {
        "right": "L",
        "left": "R",
        "down": "P",
        "up": "A",
    }
    flipped = np.diag([-1.0, 1.0, 1.0])
    assert orientation_letters(_turned(phantom_volume, flipped))["right"] == "R"
    c = np.cos(np.radians(40))
    oblique = np.array([[c, -np.sin(np.radians(40)), 0], [np.sin(np.radians(40)), c, 0], [0, 0, 1]])
    assert orientation_letters(_turned(phantom_volume, oblique))["right"] == "LP"


def test_the_slice_shown_is_the_middle_of_those_holding_the_lv(small_phantom):
    labels = small_phantom.labels[0]
    holding = np.flatnonzero((labels == 1).any(axis=(1, 2)))
    assert mid_ventricular_slice(labels) == holding[len(holding) // 2]
    assert mid_ventricular_slice(np.zeros_like(labels)) == labels.shape[0] // 2


def test_the_indices_table_puts_each_source_in_its_own_row(small_phantom):
    """The demo shows the model's measurement beside the phantom's truth; a source with no indices reads n/a."""
    spacing = small_phantom.image.spacing_xyz
    truth = scalar_indices(clinical_indices(small_phantom.labels, spacing, 0, small_phantom.es_frame).to_dict())
    measured = {**truth, "lv_edv": truth["lv_edv"] + 20.0, "lv_ef": None}  # an over-segmentation, no LV EF
    header, *rows = indices_table({"measured": measured, "phantom truth": truth, "failed": {"error": "x"}}).split("\n")
    assert "LV EDV" in header and "RV EDV" in header and "mass" in header
    assert rows[0].startswith("measured") and rows[1].startswith("phantom truth")
    assert f"{truth['lv_edv']:.0f} ml" in rows[1] and f"{truth['lv_ef']:.1f}%" in rows[1]
    assert f"{measured['lv_edv']:.0f} ml" in rows[0] and f"{truth['lv_edv']:.0f} ml" not in rows[0]
    assert rows[0].count("n/a") == 1 and "n/a" not in rows[1]
    assert rows[2].split()[1:] == ["n/a"] * 8
