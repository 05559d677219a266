"""Automatic heart localisation: the same heart wherever and however (turned) the stack is stored."""

from __future__ import annotations

import numpy as np

from GmmSegLib.inference.handedness import storage_orders
from GmmSegLib.inference.localisation import locate_heart


def test_a_stack_stored_a_quarter_turn_round_gives_the_same_heart(shipped_model, phantom_volume):
    """The localiser's probabilities are averaged over the quarter turns of its view, so turning the stored
    stack turns the location with it: LV and RV centres map onto each other (the LV-to-RV direction with them)."""
    model, _ = shipped_model
    slices, spacing = phantom_volume.frames[0], phantom_volume.spacing_xyz
    columns = slices.shape[-1]
    stored = locate_heart(model.localiser, slices, spacing)
    turned_slices, turned_spacing, mirrored = storage_orders(slices, spacing)[1]  # one quarter turn
    assert not mirrored
    turned = locate_heart(model.localiser, turned_slices, turned_spacing)

    def back(xy: np.ndarray) -> np.ndarray:
        """np.rot90 moved the native pixel (x, y) to (y, columns - 1 - x)."""
        return np.array([columns - 1 - xy[1], xy[0]])

    np.testing.assert_allclose(back(turned.lv_centre_xy), stored.lv_centre_xy, atol=0.05)
    np.testing.assert_allclose(back(turned.rv_centre_xy), stored.rv_centre_xy, atol=0.05)
    np.testing.assert_allclose(turned.positions, stored.positions, atol=1e-6)
