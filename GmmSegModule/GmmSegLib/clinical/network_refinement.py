"""Click refinement by the model's click refiner (:mod:`GmmSegLib.model.click_refiner`).

The refiner sees a 192 mm window around the slice's heart and the clicks, and answers with labels for all of it: a
click on a thin stretch of myocardium can repair the whole ring, and a foreground click in a missed right ventricle
can bring back all of it. Every click the clinician placed on the slice so far goes in, so that a later click does not
undo what an earlier one fixed.

Only pixels whose label the refiner changes are written back: where it agrees with the current labels, they stay
exactly as they were (the round trip between the native pixels and the window's would otherwise move boundaries by a
pixel here and there). The clicked pixels themselves always end as the clicks say, and a boxed structure stays inside
its box.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from ..core.clicks import Box, Click
from ..core.errors import GmmSegError
from ..core.labels import STRUCTURES
from ..model.click_refiner import (
    ClickRefiner,
    SliceWindow,
    normalised_image,
    prompt_maps,
    refiner_input,
    window_labels,
    window_probabilities,
)
from .refinement import Refinement, check_clicks


@torch.no_grad()
def refine_by_network(
    refiner: ClickRefiner,
    image: np.ndarray,
    probabilities: np.ndarray,
    labels: np.ndarray,
    clicks: list[Click],
    spacing_xy: tuple[float, float],
    boxes: list[Box] = (),
) -> Refinement:
    """Refined labels of one slice: image (Y, X), class probabilities (K, Y, X), labels (Y, X), clicks and boxes in its
    pixels (a scribble comes as its clicks: :func:`GmmSegLib.core.clicks.scribble`)."""
    if not clicks and not boxes:
        raise GmmSegError("no clicks given: place at least one foreground or background click, or a box")
    if image.shape != labels.shape or probabilities.shape[1:] != image.shape:
        raise GmmSegError("image, probabilities and labels of the slice differ in shape")
    corners = [(c.x, c.y) for c in clicks] + [xy for b in boxes for xy in ((b.x0, b.y0), (b.x1, b.y1))]
    check_clicks(corners, image.shape, "a")
    window = SliceWindow.around(labels, corners, spacing_xy)
    current = window_labels(window, torch.from_numpy(labels))
    inputs = refiner_input(
        normalised_image(window.sample(torch.from_numpy(np.ascontiguousarray(image, np.float32))[None])[0])[None],
        current[None],
        window_probabilities(window, torch.from_numpy(np.asarray(probabilities, np.float32)))[None],
        prompt_maps([_click_on(window, c) for c in clicks], [_box_on(window, b) for b in boxes])[None],
    )
    refiner.eval()
    answer = torch.softmax(refiner(inputs)[0], dim=0)
    native, box = window.back_to_native(answer, labels.shape)
    unchanged, _ = window.back_to_native(F.one_hot(current, answer.shape[0]).permute(2, 0, 1).float(), labels.shape)
    proposed = native.argmax(0).numpy()
    refined = labels.copy()
    region = refined[box]
    moved = proposed != unchanged.argmax(0).numpy()
    region[moved] = proposed[moved]
    _keep_in_boxes(region, boxes, native.numpy(), box)
    _obey_clicks(refined, clicks, native.numpy(), box)
    rows, columns = box
    return Refinement(
        refined, (columns.start, rows.start, columns.stop - 1, rows.stop - 1), int((refined != labels).sum())
    )


def _click_on(window: SliceWindow, click: Click) -> Click:
    u, v = window.to_window(np.array([click.x, click.y]))
    return replace(click, x=float(u), y=float(v))


def _box_on(window: SliceWindow, box: Box) -> Box:
    (u0, v0), (u1, v1) = window.to_window(np.array([[box.x0, box.y0], [box.x1, box.y1]]))
    return Box(float(min(u0, u1)), float(min(v0, v1)), float(max(u0, u1)), float(max(v0, v1)), box.structure)


def _next_best(answer: np.ndarray, value: int) -> np.ndarray:
    """Per pixel, the most probable class of ``answer`` (K, ...) other than ``value``."""
    others = answer.copy()
    others[value] = -1.0
    return others.argmax(0)


def _keep_in_boxes(region: np.ndarray, boxes: list[Box], answer: np.ndarray, box: tuple[slice, slice]) -> None:
    """A boxed structure's pixels of the window's region outside its box get the refiner's best other class."""
    rows, columns = box
    ys, xs = np.mgrid[rows, columns]
    for b in boxes:
        value = STRUCTURES[b.structure]
        outside = (region == value) & ~((xs >= b.x0) & (xs <= b.x1) & (ys >= b.y0) & (ys <= b.y1))
        region[outside] = _next_best(answer, value)[outside]


def _obey_clicks(labels: np.ndarray, clicks: list[Click], answer: np.ndarray, box: tuple[slice, slice]) -> None:
    """Each clicked pixel as its click says: the structure, or (a background click) the refiner's best other class."""
    rows, columns = box
    for click in clicks:
        x, y, value = int(round(click.x)), int(round(click.y)), STRUCTURES[click.structure]
        if click.foreground:
            labels[y, x] = value
        elif labels[y, x] == value:
            inside = rows.start <= y < rows.stop and columns.start <= x < columns.stop
            scores = answer[:, y - rows.start, x - columns.start] if inside else np.ones(answer.shape[0])
            labels[y, x] = int(_next_best(scores, value))
