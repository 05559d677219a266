"""Each cavity keeps its largest piece: stray LV or RV pieces become background, the myocardium stays as drawn."""

from __future__ import annotations

import numpy as np

from GmmSegLib.core.labels import BACKGROUND, LV, MYO, RV
from GmmSegLib.inference.cavity_pieces import without_stray_cavity_pieces


def test_only_the_largest_piece_of_each_cavity_stays_and_the_myocardium_is_left_as_drawn():
    labels = np.zeros((4, 12, 12), np.uint8)
    labels[1:3, 2:6, 2:6] = LV  # the cavity: 32 voxels over two slices
    labels[0, 10, 10] = LV  # a stray LV voxel on another slice, apart
    labels[1:4, 2:5, 8:11] = RV  # the RV: 27 voxels
    labels[3, 0, 0] = RV  # a stray RV voxel
    labels[0, 0, 5] = MYO  # a lone myocardium voxel: left as drawn
    cleaned = without_stray_cavity_pieces(labels.copy())
    assert cleaned[0, 10, 10] == BACKGROUND and cleaned[3, 0, 0] == BACKGROUND
    assert (cleaned == LV).sum() == 32 and (cleaned == RV).sum() == 27 and cleaned[0, 0, 5] == MYO


def test_slices_joined_only_diagonally_are_one_piece():
    labels = np.zeros((2, 6, 6), np.uint8)
    labels[0, 1:3, 1:3] = LV
    labels[1, 3:5, 3:5] = LV  # touches the slice below only at a corner: 26-connected, one piece
    assert (without_stray_cavity_pieces(labels.copy()) == labels).all()


def test_labels_without_heart_are_returned_unchanged():
    labels = np.zeros((3, 5, 5), np.uint8)
    assert (without_stray_cavity_pieces(labels) == 0).all()
