"""Click refinement of one structure on one slice, as MIDeepSeg does it (Luo et al., Medical Image Analysis 72,
102102, 2021: exponentialised geodesic distance, information fusion, CRF).

Given the slice, the model's class probabilities and the current labels, foreground and background clicks and
scribbles for one structure (LV, MYO or RV) correct that structure near them only:

1. the clicks are encoded by geodesic distances on the image (paths that cross edges are long) and
   their exponential, EGD = exp(-D); a scribble's points reach less far than a click, since a scribble marks the
   strip it is drawn along where a click stands for the region around it;
2. information fusion: with E_f = e^-Df / (e^-Df + e^-Db) and alpha = e^-min(Df, Db), the corrected
   foreground probability is R_f = (1 - alpha) P_f + alpha E_f, so the clicks dominate near themselves
   and the model's probability elsewhere;
3. a CRF with unary -log R and an edge-aware Potts pairwise term (weights exp(-dI^2 / 2 sigma^2) / dist),
   clicks clamped, solved by mean-field iterations, restricted to a box around the clicks.

Background clicks alone that only trim a structure (none as deep inside it as half its depth) keep its deepest
pixel as a foreground seed, so that a click on the overflow of a small apical cavity trims it instead of erasing it.
The result is merged back into the label map without overlaps: pixels the structure gains are taken from
the others; pixels it loses get their most probable other class. Nothing outside the box changes, nor anything
beyond the prompts' reach (:data:`UNREACHED`).
Without the model's probabilities (a segmentation GmmSeg did not make), the labels stand for them
(:func:`label_probabilities`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..core.errors import GmmSegError
from ..core.labels import NUM_CLASSES, STRUCTURES

REGION_RADIUS_MM = 30.0
# How far a click reaches: a straight path of this length through a flat region costs 1 (e^-1). The right ventricle,
# a large thin-walled blood pool that the model, where it fails, tends to miss whole, is reached further (chosen on
# the auxiliary patients' out-of-fold predictions: BENCHMARKS.md, "Click refinement").
GEODESIC_LENGTH_MM = {"LV": 15.0, "MYO": 15.0, "RV": 40.0}
# How far a scribble's points reach, for every structure: a scribble drawn along a thin strip of missed or overflowing
# myocardium must not spill onto the ring beside it (chosen on the auxiliary patients: BENCHMARKS.md, "Click
# refinement").
STROKE_LENGTH_MM = 4.0
# A pixel farther than this from every prompt (geodesic distance; their influence there under e^-3, 5 %) keeps its
# label: the CRF alone, away from the prompts, would re-draw the model's uncertain borders.
UNREACHED = 3.0
GEODESIC_SMOOTHING_PX = 1.0  # Gaussian sigma of the image the clicks' geodesic distances are measured on
EDGE_SIGMA = 0.5  # intensity difference (in image standard deviations) at which an edge starts to cut
PAIRWISE_WEIGHT = 1.5
MEAN_FIELD_STEPS = 10
LABEL_SOFTNESS_PX = 1.5  # Gaussian sigma that softens the boundaries of labels standing for probabilities

_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass
class Refinement:
    """Refined labels of the slice, the box that may have changed (x0, y0, x1, y1 inclusive), pixels changed."""

    labels: np.ndarray
    box: tuple[int, int, int, int]
    changed_pixels: int


def label_probabilities(labels: np.ndarray, softness_px: float = LABEL_SOFTNESS_PX) -> np.ndarray:
    """Class probabilities (K, Y, X) that a slice's labels (Y, X) stand for when no model gave any: the mean of the
    classes' masks and their blur in plane. Each pixel's label stays the most probable class (at least 1/2), so that
    nothing moves away from the clicks, while pixels near a boundary are less sure, so that clicks there can move it.
    They sum to 1, as the masks do, the blur being linear."""
    masks = np.stack([labels == k for k in range(NUM_CLASSES)]).astype(np.float32)
    return 0.5 * (masks + ndimage.gaussian_filter(masks, (0, softness_px, softness_px)))


def _shift(tensor: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """tensor[y + dy, x + dx] at (y, x), ``fill`` outside."""
    padded = F.pad(tensor[None, None], (1, 1, 1, 1), value=fill)[0, 0]
    h, w = tensor.shape
    return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def geodesic_distance(image: torch.Tensor, seeds: torch.Tensor, pixel_mm: float, length_mm: float) -> torch.Tensor:
    """Geodesic distance from ``seeds`` over an 8-connected grid; step cost sqrt((d / L)^2 + dI^2).

    ``image`` is normalised (unit standard deviation); L = ``length_mm`` sets how far a click reaches
    through a flat region. Solved by repeated vectorised relaxation until nothing changes.
    """
    distance = torch.where(seeds, 0.0, math.inf).float()
    steps = []
    for dy, dx in _OFFSETS:
        spatial = math.hypot(dy, dx) * pixel_mm / length_mm
        cost = torch.sqrt(spatial**2 + (image - _shift(image, dy, dx, 0.0)) ** 2)
        steps.append((dy, dx, cost))
    for _ in range(sum(image.shape) * 2):
        previous = distance
        for dy, dx, cost in steps:
            distance = torch.minimum(distance, _shift(distance, dy, dx, math.inf) + cost)
        if torch.equal(previous, distance):
            break
    return distance


def fused_probability(
    probability: torch.Tensor, foreground_distance: torch.Tensor, background_distance: torch.Tensor
) -> torch.Tensor:
    """R_f = (1 - alpha) P_f + alpha E_f: the clicks' belief near the clicks, the model's probability far from them."""
    e_f, e_b = torch.exp(-foreground_distance), torch.exp(-background_distance)
    click_belief = e_f / (e_f + e_b).clamp_min(1e-12)
    alpha = torch.exp(-torch.minimum(foreground_distance, background_distance))
    return (1 - alpha) * probability + alpha * click_belief


def mean_field_crf(
    image: torch.Tensor,
    probability: torch.Tensor,
    foreground: torch.Tensor,
    background: torch.Tensor,
    weight: float = PAIRWISE_WEIGHT,
    sigma: float = EDGE_SIGMA,
    steps: int = MEAN_FIELD_STEPS,
) -> torch.Tensor:
    """Foreground marginals of the binary CRF with unary -log R and edge-aware Potts pairwise terms."""
    p = probability.clamp(1e-4, 1 - 1e-4)
    unary = torch.log(p) - torch.log1p(-p)
    affinities = [
        (dy, dx, torch.exp(-((image - _shift(image, dy, dx, 0.0)) ** 2) / (2 * sigma**2)) / math.hypot(dy, dx))
        for dy, dx in _OFFSETS
    ]
    total = sum(_shift(torch.ones_like(image), dy, dx, 0.0) * a for dy, dx, a in affinities)
    q = p.clone()
    for _ in range(steps):
        agreeing = sum(a * _shift(q, dy, dx, 0.0) for dy, dx, a in affinities)
        q = torch.sigmoid(unary + weight * (2 * agreeing - total))
        q = torch.where(foreground, 1.0, torch.where(background, 0.0, q))
    return q


def _kept_core(mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Where background clicks only trim a structure (``mask``, (Y, X)), the pixel of it they leave: its deepest
    pixel (farthest from its border), the one farthest from the clicks among equals; none where some click lies as
    deep as half the structure's depth, which asks to remove it. Without it, a click on the overflow of a small
    structure (an apical LV cavity of 20 pixels) erases all of it: every pixel lies within the click's reach."""
    core = np.zeros_like(mask)
    depth = ndimage.distance_transform_edt(mask)
    deepest = depth.max()
    if deepest == 0 or depth[background].max(initial=0.0) >= deepest / 2:
        return core
    from_clicks = ndimage.distance_transform_edt(~background)
    candidates = np.where(depth == deepest, from_clicks, -1.0)
    core[np.unravel_index(int(np.argmax(candidates)), mask.shape)] = True
    return core


def _distance(image: torch.Tensor, seeds: list[tuple[torch.Tensor, float]], pixel_mm: float) -> torch.Tensor:
    """The geodesic distance from the nearest of several seed masks, each with its reach (mm); inf without seeds."""
    distance = torch.full_like(image, math.inf)
    for mask, length_mm in seeds:
        if mask.any():
            distance = torch.minimum(distance, geodesic_distance(image, mask, pixel_mm, length_mm))
    return distance


def check_clicks(clicks: list[tuple[int, int]], shape: tuple[int, int], kind: str) -> None:
    """Refuse ``kind`` clicks (x, y) that lie outside a slice of ``shape`` (Y, X)."""
    for x, y in clicks:
        if not (0 <= x < shape[1] and 0 <= y < shape[0]):
            raise GmmSegError(f"{kind} click ({x}, {y}) is outside the slice ({shape[1]} x {shape[0]} pixels)")


def refine(
    image: np.ndarray,
    probabilities: np.ndarray,
    labels: np.ndarray,
    structure: str,
    foreground_clicks: list[tuple[int, int]],
    background_clicks: list[tuple[int, int]],
    pixel_mm: float,
    radius_mm: float = REGION_RADIUS_MM,
    geodesic_length_mm: float | None = None,
    foreground_strokes: list[tuple[int, int]] = (),
    background_strokes: list[tuple[int, int]] = (),
) -> Refinement:
    """Refine ``structure`` on one slice: image (Y, X), probabilities (K, Y, X), labels (Y, X); clicks (x, y), and
    the points (x, y) of scribbles along where the structure is (``foreground_strokes``) or is not.

    ``geodesic_length_mm`` sets how far a click reaches through flat tissue (see ``geodesic_distance``); by default
    the structure's (:data:`GEODESIC_LENGTH_MM`). A scribble's points reach :data:`STROKE_LENGTH_MM`.
    """
    if structure not in STRUCTURES:
        raise GmmSegError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")
    prompts = {
        "foreground": list(foreground_clicks),
        "background": list(background_clicks),
        "foreground scribble": list(foreground_strokes),
        "background scribble": list(background_strokes),
    }
    if not any(prompts.values()):
        raise GmmSegError("no clicks given: place at least one foreground or background click or a scribble")
    if image.shape != labels.shape or probabilities.shape[1:] != image.shape:
        raise GmmSegError("image, probabilities and labels of the slice differ in shape")
    for kind, points in prompts.items():
        check_clicks(points, image.shape, kind)
    value = STRUCTURES[structure]
    length_mm = GEODESIC_LENGTH_MM[structure] if geodesic_length_mm is None else geodesic_length_mm
    clicks = np.array([point for points in prompts.values() for point in points])
    radius = int(math.ceil(radius_mm / pixel_mm))
    x0, y0 = np.maximum(clicks.min(0) - radius, 0)
    x1, y1 = np.minimum(clicks.max(0) + radius, np.array(image.shape[::-1]) - 1)
    window = (slice(y0, y1 + 1), slice(x0, x1 + 1))

    local = torch.from_numpy(np.ascontiguousarray(image[window], dtype=np.float32))
    local = (local - local.mean()) / local.std().clamp_min(1e-6)
    # clicks travel over a lightly smoothed image, so that pixel noise does not read as edges
    smooth = torch.from_numpy(ndimage.gaussian_filter(local.numpy(), GEODESIC_SMOOTHING_PX))

    def seeds(points: list[tuple[int, int]]) -> torch.Tensor:
        mask = torch.zeros_like(local, dtype=torch.bool)
        for x, y in points:
            mask[y - y0, x - x0] = True
        return mask

    clicked_f, clicked_b = seeds(prompts["foreground"]), seeds(prompts["background"])
    stroked_f, stroked_b = seeds(prompts["foreground scribble"]), seeds(prompts["background scribble"])
    if not (clicked_f | stroked_f).any():
        clicked_f = torch.from_numpy(_kept_core(labels[window] == value, (clicked_b | stroked_b).numpy()))
    distance_f = _distance(smooth, [(clicked_f, length_mm), (stroked_f, STROKE_LENGTH_MM)], pixel_mm)
    distance_b = _distance(smooth, [(clicked_b, length_mm), (stroked_b, STROKE_LENGTH_MM)], pixel_mm)
    probability = torch.from_numpy(np.ascontiguousarray(probabilities[value][window], dtype=np.float32))
    fused = fused_probability(probability, distance_f, distance_b)
    selected = (mean_field_crf(local, fused, clicked_f | stroked_f, clicked_b | stroked_b) > 0.5).numpy()
    refined = labels.copy()
    region = refined[window]
    unreached = (torch.minimum(distance_f, distance_b) > UNREACHED).numpy()
    selected[unreached] = region[unreached] == value
    if not (foreground_clicks or foreground_strokes):  # "not this structure" only takes away: it never grows
        selected &= region == value
    others = probabilities[:, window[0], window[1]].copy()
    others[value] = -1.0
    lost = (region == value) & ~selected
    region[lost] = others.argmax(0)[lost]
    region[selected] = value
    return Refinement(refined, (int(x0), int(y0), int(x1), int(y1)), int((refined != labels).sum()))
