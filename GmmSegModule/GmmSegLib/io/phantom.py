"""A beating short-axis cine phantom with exactly known labels: the demo input and a test fixture.

The chest is drawn in mm: body with subcutaneous fat and chest wall, dark lungs filling the thorax around the
mediastinum (descending aorta, spine), liver below the apex, and the heart in a rim of bright epicardial fat:
an LV cavity (bright blood, two papillary muscles) inside a myocardial ring of constant mass, and an RV
crescent that wraps the septum from the patient's right, its anterior and inferior horns reaching round the
LV. From base to apex the ventricles taper and the RV ends before the LV. Both walls are myocardium and have
one intensity. Over the cycle the LV cavity shrinks (ED at frame 0, ES at ``es_frame``) while the wall thickens
to keep its area (the myocardial volume is the same at ED and ES). The outer 2 mm of the LV cavity and 3 mm of
the RV cavity are trabeculated (muscle strands in blood) and labelled as cavity, as expert contours of cine MRI
draw them. Intensities mimic bSSFP cine MRI (blood bright, myocardium dark), with partial-volume edges (3x3
supersampling; a pixel's label is the tissue at its centre, the middle sub-sample, so labels and image share
one grid exactly), a bias field and Rician noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..core.labels import BACKGROUND, LV, MYO, RV
from .images import CardiacImage, Geometry

PIXEL_MM = 1.5
SLICE_MM = 8.0
SIZE = 176
SUPERSAMPLE = 3  # odd: the middle sub-sample lies on the pixel centre
FINE_MM = PIXEL_MM / SUPERSAMPLE


@dataclass
class Phantom:
    image: CardiacImage
    labels: np.ndarray  # (T, Z, Y, X) uint8, product convention
    es_frame: int


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def _rv_ellipse(
    x: np.ndarray, y: np.ndarray, lv_centre: tuple[float, float], septum: float, scale: float, margin: float
) -> np.ndarray:
    """The ellipse whose part outside the LV (a disk of radius ``septum``) is the RV crescent: centred towards
    the right of the patient from the LV and taller than it, so that the crescent wraps the septum with its
    anterior and inferior horns; ``scale`` (0..1, base to apex and ED to ES) sets how far it reaches out."""
    offset = 0.5 * septum
    half_width = septum - offset + 20.0 * scale + margin
    half_height = 0.85 * math.sqrt(septum**2 - offset**2) + 8.0 * scale + margin
    return _ellipse(x, y, lv_centre[0] - offset, lv_centre[1], half_width, half_height)


def _slice(
    x: np.ndarray, y: np.ndarray, level: float, contraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Intensity and labels of one slice on the (supersampled) mm grid; level 0 base .. 1 apex."""
    intensity = np.zeros_like(x)
    labels = np.zeros(x.shape, np.uint8)
    # muscle strands of the trabeculated endocardium (outer 2 mm of the LV and 3 mm of the RV cavity),
    # labelled as cavity as in ACDC's contours
    strands = ndimage.gaussian_filter(rng.standard_normal(x.shape), 0.75 / FINE_MM) > 0.0
    body = _ellipse(x, y, 0, 8, 128, 96)
    intensity[body] = 0.55  # subcutaneous fat
    inner = _ellipse(x, y, 0, 8, 118, 86)
    intensity[inner] = 0.28  # chest wall muscle
    thorax = _ellipse(x, y, 0, 10, 104, 72)
    intensity[thorax] = 0.04  # lungs fill the thorax around the mediastinum
    intensity[_ellipse(x, y, 0, 58, 26, 24) & thorax] = 0.28  # posterior mediastinum
    intensity[_ellipse(x, y, 6, 52, 9, 9)] = 0.8  # descending aorta (bright flowing blood)
    intensity[_ellipse(x, y, 0, 78, 14, 12)] = 0.12  # spine
    if level > 0.35:  # the liver dome appears below the heart towards the apex
        intensity[_ellipse(x, y, -30, 90 - 50 * level, 70, 35 * level) & inner] = 0.33
    taper = math.sqrt(max(1.0 - (0.9 * level) ** 2, 0.0))
    lv_x, lv_y = 14.0, -6.0
    cavity = (24.0 * taper) * (1.0 - 0.32 * contraction)
    wall_area_ed = math.pi * ((24.0 * taper + 9.0) ** 2 - (24.0 * taper) ** 2)
    epicardium = math.sqrt(cavity**2 + wall_area_ed / math.pi)
    rv_present = level < 0.8
    rv_scale = (1.0 - min(level, 0.8) / 0.8) ** 0.5 * (1.0 - 0.25 * contraction)
    fat = 4.0  # epicardial fat and pericardium: a bright rim around the whole heart
    intensity[_ellipse(x, y, lv_x, lv_y, epicardium + fat, epicardium + fat)] = 0.6
    if rv_present:

        def rv(margin: float) -> np.ndarray:
            return _rv_ellipse(x, y, (lv_x, lv_y), epicardium + 2.0, rv_scale, margin)

        wall = 6.0 + 2.0 * rv_scale  # RV free wall 3-5 mm: myocardium, the LV wall's signal
        intensity[rv(wall + fat)] = 0.6
        intensity[rv(wall)] = 0.22
        rv_cavity = rv(3.0) & ~_ellipse(x, y, lv_x, lv_y, epicardium + 2.0, epicardium + 2.0)
        intensity[rv_cavity] = 0.86 + 0.04 * rng.standard_normal()
        labels[rv_cavity] = RV
        intensity[rv_cavity & ~rv(0.0) & strands] = 0.3
    myocardium = _ellipse(x, y, lv_x, lv_y, epicardium, epicardium)
    intensity[myocardium] = 0.22
    labels[myocardium] = MYO
    blood = _ellipse(x, y, lv_x, lv_y, cavity, cavity)
    intensity[blood] = 0.92
    labels[blood] = LV
    lv_trabeculae = blood & ~_ellipse(x, y, lv_x, lv_y, cavity - 2.0, cavity - 2.0)
    intensity[lv_trabeculae & strands] = 0.3
    for angle in (math.radians(120), math.radians(230)):  # papillary muscles, labelled as cavity
        px, py = lv_x + 0.6 * cavity * math.cos(angle), lv_y + 0.6 * cavity * math.sin(angle)
        intensity[_ellipse(x, y, px, py, 0.18 * cavity, 0.18 * cavity) & blood] = 0.3
    return intensity, labels


def make_cine_phantom(frames: int = 20, slices: int = 10, es_frame: int = 8, seed: int = 0) -> Phantom:
    """A cine phantom (frames x slices x 176 x 176, 1.5 mm pixels, 8 mm slices) with its labels."""
    rng = np.random.default_rng(seed)
    n = SIZE * SUPERSAMPLE
    coordinates = (np.arange(n) - (n - 1) / 2) * FINE_MM
    x, y = np.meshgrid(coordinates, coordinates)
    texture = ndimage.gaussian_filter(rng.standard_normal((n, n)), 4.5 / FINE_MM)
    texture *= 0.028 / texture.std()  # slow tissue texture, 2.8 % relative standard deviation
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    bias = np.exp(0.25 * (xx - 0.4) - 0.2 * (yy - 0.5) ** 2)
    images = np.empty((frames, slices, SIZE, SIZE), np.float32)
    labels = np.empty((frames, slices, SIZE, SIZE), np.uint8)
    for t in range(frames):
        # contraction 0 at ED (frame 0), 1 at ES, smooth and periodic
        phase = t / es_frame if t <= es_frame else 1 + (t - es_frame) / (frames - es_frame)
        contraction = 0.5 * (1 - math.cos(math.pi * phase))
        for z in range(slices):
            level = z / max(slices - 1, 1)
            fine, fine_labels = _slice(x, y, level, contraction, rng)
            fine = fine * (1 + texture * (fine > 0.1) * (fine < 0.6))
            image = fine.reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))
            image = ndimage.gaussian_filter(image, 0.6) * bias
            noise = 0.025
            image = np.sqrt(
                (image + noise * rng.standard_normal(image.shape)) ** 2
                + (noise * rng.standard_normal(image.shape)) ** 2
            )
            images[t, z] = image * 1000.0
            labels[t, z] = fine_labels[SUPERSAMPLE // 2 :: SUPERSAMPLE, SUPERSAMPLE // 2 :: SUPERSAMPLE]
    geometry = Geometry((PIXEL_MM, PIXEL_MM, SLICE_MM, 1.0), (0.0, 0.0, 0.0, 0.0), tuple(np.eye(4).ravel()))
    image = CardiacImage(np.round(images), geometry, source="phantom")
    assert labels.max() <= RV and labels.min() >= BACKGROUND
    return Phantom(image, labels, es_frame)
