"""Prompts as plain data: which of a slice's clicks carry to another slice."""

from __future__ import annotations

import numpy as np

from GmmSegLib.core.clicks import Click, clicks_sharing_the_error
from GmmSegLib.core.labels import LV, MYO, RV


def test_only_clicks_on_the_same_wrong_label_carry():
    before = np.zeros((4, 4), np.uint8)  # the refined slice before its refinement: all background
    before[0, 0] = MYO
    other = np.zeros((4, 4), np.uint8)
    other[1, 1] = RV  # wrong in another way there
    other[2, 2] = LV  # already the clicked structure there
    clicks = [
        Click(3.0, 3.0, "LV", True),  # background on both slices: the same error
        Click(1.0, 1.0, "LV", True),
        Click(2.2, 1.8, "LV", True),  # rounds to (x 2, y 2)
        Click(0.0, 0.0, "MYO", False),  # the wall overflowed there: carried only where the other slice has it too
    ]
    assert clicks_sharing_the_error(clicks, before, other) == [clicks[0]]
    other[0, 0] = MYO
    assert clicks_sharing_the_error(clicks, before, other) == [clicks[0], clicks[3]]
    assert clicks_sharing_the_error((), before, other) == []
