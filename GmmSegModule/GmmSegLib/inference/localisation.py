"""Finding the heart without ground truth: LV centre, LV->RV orientation and base-apex slice positions.

The same geometry code serves the labels of the training set (to build the atlas and training crops)
and the localiser network's coarse segmentation at deployment, so both see identical conventions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ..clinical.case_summary import CaseSummary
from ..core.errors import InputError
from ..core.labels import LV, MYO, RV, most_probable_class
from ..model.alignment import CanonicalCrop, lv_to_rv_angle, relative_slice_positions, resample_square, zscore_slices
from ..model.networks import Localiser

MIN_LV_VOLUME_ML = 2.0


@dataclass
class HeartLocation:
    """Where the heart is in a volume's native pixel grid."""

    lv_centre_xy: np.ndarray  # native pixels (x, y)
    rv_centre_xy: np.ndarray | None
    angle: float
    positions: np.ndarray  # per slice, base 0 .. apex 1
    mirrored: bool = False  # stored with the other handedness than the training images (GmmSegLib.inference.handedness)
    recentrings: int = 0  # times the centre and direction were re-read from the segmentation (inference.centring)

    @property
    def base_first(self) -> bool:
        """Whether the stack runs from the base (slice 0) towards the apex, as ACDC's do."""
        return bool(self.positions[-1] >= self.positions[0])

    @classmethod
    def of_summary(cls, summary: CaseSummary, image_shape: tuple[int, ...], source: str) -> HeartLocation:
        """The location an earlier ``gmmseg segment`` recorded in its summary (canonical crop, slice positions), for
        an image of ``image_shape`` (T, Z, Y, X); refused for another grid."""
        crop, positions = summary.canonical_crop, np.asarray(summary.slice_positions, np.float64)
        if crop is None or positions.size == 0:
            raise InputError(f"{source}: not the summary of a gmmseg segment run (no canonical crop, slice positions)")
        centre = np.array([crop.centre_x, crop.centre_y], np.float64)
        grid = (crop.native_rows, crop.native_columns)
        if grid != tuple(image_shape[-2:]) or positions.shape != (image_shape[1],):
            _, slices, rows, columns = image_shape
            raise InputError(
                f"{source}: was recorded for an image of {positions.size} slices of {grid[0]} x "
                f"{grid[1]}, not this one ({slices} slices of {rows} x {columns})"
            )
        return cls(centre, None, crop.angle, positions, crop.mirrored, summary.crop_recentrings)

    def canonical_crop(self, spacing_x: float, spacing_y: float, rows: int, columns: int) -> CanonicalCrop:
        return CanonicalCrop(
            float(self.lv_centre_xy[0]),
            float(self.lv_centre_xy[1]),
            float(self.angle),
            spacing_x,
            spacing_y,
            rows,
            columns,
            mirrored=self.mirrored,
        )


def _largest_component(mask: np.ndarray) -> np.ndarray:
    components, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, components, index=np.arange(1, count + 1))
    return components == (1 + int(np.argmax(sizes)))


def locate_from_labels(
    labels: np.ndarray,
    to_native: Callable[[np.ndarray], np.ndarray],
    spacing_x: float,
    spacing_y: float,
    pixel_area_mm2: float,
    voxel_volume_ml: float,
) -> HeartLocation | None:
    """Heart location from a (Z, H, W) product-convention label map on some grid.

    ``to_native`` maps (..., 2) grid pixel coordinates (x, y) to native pixels. The LV is the largest
    3D component of LV cavity + myocardium; its centroid is the LV centre. The RV centroid (largest RV
    component) sets the orientation. Returns None when no plausible LV is found.
    """
    lv = _largest_component(np.isin(labels, (LV, MYO)))
    if lv.sum() * voxel_volume_ml < MIN_LV_VOLUME_ML:
        return None
    z, y, x = np.nonzero(lv)
    lv_centre = to_native(np.array([x.mean(), y.mean()]))
    rv = labels == RV
    rv_centre = None
    angle = 0.0
    if rv.any():
        _, ry, rx = np.nonzero(_largest_component(rv))
        rv_centre = to_native(np.array([rx.mean(), ry.mean()]))
        scale = np.array([spacing_x, spacing_y])
        angle = lv_to_rv_angle(lv_centre * scale, rv_centre * scale)
    heart_area = (np.isin(labels, (LV, MYO, RV)) & _slab(lv)).sum(axis=(1, 2)) * pixel_area_mm2
    base_area = (np.isin(labels, (LV, RV)) & _slab(lv)).sum(axis=(1, 2)) * pixel_area_mm2
    return HeartLocation(lv_centre, rv_centre, angle, relative_slice_positions(heart_area, base_area))


def _slab(lv: np.ndarray) -> np.ndarray:
    """Boolean (Z, 1, 1) mask of the slices the LV component occupies, to ignore stray blobs elsewhere."""
    return lv.any(axis=(1, 2))[:, None, None]


def locate_from_ground_truth(labels: np.ndarray, spacing: tuple[float, float, float]) -> HeartLocation | None:
    """Heart location from native-grid labels (training data only)."""
    sx, sy, sz = spacing
    return locate_from_labels(labels, lambda p: np.asarray(p, dtype=np.float64), sx, sy, sx * sy, sx * sy * sz / 1000.0)


def localiser_view(slices: torch.Tensor, spacing_x: float, spacing_y: float) -> torch.Tensor:
    """The localiser's input (Z, 1, 96, 96): a centred 384 mm square at 4 mm, z-scored per slice."""
    view = resample_square(slices, spacing_x, spacing_y, Localiser.SIZE, Localiser.SPACING_MM)
    return zscore_slices(view)[:, None]


def quarter_turn_probabilities(localiser: Localiser, view: torch.Tensor) -> torch.Tensor:
    """The localiser's class probabilities (Z, K, N, N), averaged over the four quarter turns of its view.

    Each turn is run (in one batch) and turned back. The view is a square grid symmetric about the image
    centre, so a stack stored turned by a quarter turn gives the same view turned: with the average, where
    the heart is found no longer depends on which of the four ways round the stack was stored. (Without it,
    the LV-to-RV direction of some validation stacks stored a quarter turn round came out 30-45 degrees
    off.)
    """
    turns = torch.cat([torch.rot90(view, k, dims=(-2, -1)) for k in range(4)])
    probabilities = torch.softmax(localiser(turns), dim=1).chunk(4)
    return torch.stack([torch.rot90(p, -k, dims=(-2, -1)) for k, p in enumerate(probabilities)]).mean(0)


def localiser_grid(rows: int, columns: int, spacing_x: float, spacing_y: float) -> CanonicalCrop:
    """The localiser's unrotated whole-slice view of a rows x columns slice (96 x 96 pixels of 4 mm around the image
    centre), as inference sees it and training samples it."""
    return CanonicalCrop(
        (columns - 1) / 2.0,
        (rows - 1) / 2.0,
        0.0,
        spacing_x,
        spacing_y,
        rows,
        columns,
        size=Localiser.SIZE,
        spacing=Localiser.SPACING_MM,
    )


@torch.no_grad()
def locate_heart(
    localiser: Localiser,
    slices: np.ndarray,
    spacing: tuple[float, float, float],
    device: torch.device | str = "cpu",
    source: str = "input",
) -> HeartLocation:
    """Locate the heart in native slices (Z, Y, X) with the localiser network; no labels needed."""
    sx, sy, sz = spacing
    rows, columns = slices.shape[-2:]
    view = localiser_view(torch.from_numpy(np.ascontiguousarray(slices)), sx, sy).to(device)
    labels = most_probable_class(quarter_turn_probabilities(localiser, view)).cpu().numpy()
    grid = localiser_grid(rows, columns, sx, sy)
    step = Localiser.SPACING_MM
    location = locate_from_labels(
        labels, grid.canonical_to_native_points, sx, sy, step * step, step * step * sz / 1000.0
    )
    if location is None:
        raise InputError(f"{source}: no heart found; is this a short-axis cardiac MR image?")
    return location
