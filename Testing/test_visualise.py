"""The demo picture's reading aids: orientation letters from the direction cosines, the slice shown."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from GmmSegLib.clinical.pictures import mid_ventricular_slice, orientation_letters
from GmmSegLib.io.images import Geometry


def _turned(image, direction: np.ndarray):
    geometry = image.geometry
    return replace(image, geometry=Geometry(geometry.spacing, geometry.origin, tuple(direction.ravel())))


def test_the_letters_follow_the_direction_cosines(phantom_volume):
    """ITK's LPS: +x is the patient's left, +y posterior; a column axis pointing to -x reads R at the right."""
    assert orientation_letters(_turned(phantom_volume, np.eye(3))) == {"right": "L", "left": "R", "down": "P",
                                                                       "up": "A"}
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
