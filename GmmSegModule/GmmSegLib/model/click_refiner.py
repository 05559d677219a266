"""The click refiner: a small U-Net that corrects a slice's labels from the clinician's clicks, scribbles and boxes.

It sees a heart-centred window of the slice (128 x 128 pixels of 1.5 mm, axis-aligned with the native pixels): the
image, the current labels (one-hot), the model's class probabilities and the prompts, and answers with class logits
for the whole window. Trained on the errors the segmenter makes (the trainer's ``refiner`` stage,
:mod:`GmmSegLib.training.refiner_stage`), one foreground click on a myocardium that is too thin repairs the ring
around it rather than a blob at the click.

A click says "this pixel is <structure>" (foreground) or "this pixel is not <structure>" (background); each of the
six kinds (foreground LV, MYO, RV, background LV, MYO, RV) is one input channel, a Gaussian of ``CLICK_SIGMA_MM``
around each click of that kind; a scribble is a line of such clicks. A box that holds a structure is one more channel
per structure (1 inside the box).

The window and its resampling live here so that training and inference cut it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.clicks import CLICK_KINDS, Box, Click
from ..core.labels import NUM_CLASSES, STRUCTURES
from .networks import UNet

WINDOW_SIZE = 128
WINDOW_SPACING_MM = 1.5
CLICK_SIGMA_MM = 4.0
PROMPT_CHANNELS = CLICK_KINDS + len(STRUCTURES)  # the clicks' kinds, then a box per structure
INPUT_CHANNELS = 1 + 2 * NUM_CLASSES + PROMPT_CHANNELS


class ClickRefiner(UNet):
    """[image, current labels one-hot, class probabilities, prompt maps] (B, 18, N, N) -> class logits (B, K, N, N)."""

    def __init__(self, base: int = 16):
        super().__init__(INPUT_CHANNELS, NUM_CLASSES, base=base, depth=4)


@dataclass(frozen=True)
class SliceWindow:
    """Where the refiner's window lies on a native slice: its centre in native pixels and the native pixel size."""

    centre_x: float
    centre_y: float
    spacing_x: float
    spacing_y: float
    size: int = WINDOW_SIZE
    spacing: float = WINDOW_SPACING_MM

    @classmethod
    def around(
        cls, labels: np.ndarray, clicks: list[tuple[float, float]], spacing_xy: tuple[float, float]
    ) -> SliceWindow:
        """The window centred on the box holding the slice's heart labels and the clicks."""
        ys, xs = np.nonzero(labels > 0)
        points = np.concatenate([np.stack([xs, ys], axis=1).astype(float), np.asarray(clicks, float).reshape(-1, 2)])
        low, high = points.min(axis=0), points.max(axis=0)
        return cls(float(low[0] + high[0]) / 2, float(low[1] + high[1]) / 2, *map(float, spacing_xy))

    def to_window(self, xy: np.ndarray) -> np.ndarray:
        """Native pixel coordinates (..., 2) -> window pixel coordinates."""
        half = (self.size - 1) / 2
        xy = np.asarray(xy, float)
        return np.stack(
            [
                (xy[..., 0] - self.centre_x) * self.spacing_x / self.spacing + half,
                (xy[..., 1] - self.centre_y) * self.spacing_y / self.spacing + half,
            ],
            axis=-1,
        )

    def sample(self, native: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """Channels (C, Y, X) of a native slice resampled onto the window (C, N, N); zero outside the slice."""
        rows, columns = native.shape[-2:]
        half = (self.size - 1) / 2
        steps = (torch.arange(self.size, dtype=torch.float32) - half) * self.spacing
        x = self.centre_x + steps / self.spacing_x
        y = self.centre_y + steps / self.spacing_y
        grid = torch.stack(
            torch.meshgrid(2 * y / max(rows - 1, 1) - 1, 2 * x / max(columns - 1, 1) - 1, indexing="ij")[::-1], dim=-1
        )
        return F.grid_sample(native[None].float(), grid[None], mode=mode, padding_mode="zeros", align_corners=True)[0]

    def native_box(self, shape: tuple[int, int]) -> tuple[slice, slice]:
        """The native pixels (rows, columns) whose centres lie inside the window."""
        reach_x = (self.size - 1) / 2 * self.spacing / self.spacing_x
        reach_y = (self.size - 1) / 2 * self.spacing / self.spacing_y
        x0 = max(0, int(np.ceil(self.centre_x - reach_x)))
        x1 = min(shape[1], int(np.floor(self.centre_x + reach_x)) + 1)
        y0 = max(0, int(np.ceil(self.centre_y - reach_y)))
        y1 = min(shape[0], int(np.floor(self.centre_y + reach_y)) + 1)
        return slice(y0, y1), slice(x0, x1)

    def back_to_native(self, window: torch.Tensor, shape: tuple[int, int]) -> tuple[torch.Tensor, tuple[slice, slice]]:
        """Window channels (C, N, N) resampled (bilinear) onto the native pixels of :meth:`native_box`."""
        rows, columns = self.native_box(shape)
        ys = torch.arange(rows.start, rows.stop, dtype=torch.float32)
        xs = torch.arange(columns.start, columns.stop, dtype=torch.float32)
        uv = self.to_window(np.stack(np.meshgrid(xs.numpy(), ys.numpy()), axis=-1))
        grid = torch.from_numpy(2 * uv / (self.size - 1) - 1).float()
        return F.grid_sample(window[None], grid[None], mode="bilinear", padding_mode="border", align_corners=True)[0], (
            rows,
            columns,
        )


def window_probabilities(window: SliceWindow, probabilities: torch.Tensor) -> torch.Tensor:
    """Class probabilities (K, Y, X) of a native slice on the window (K, N, N); beyond the slice, background."""
    sampled = window.sample(probabilities)
    sampled[0] += (1 - sampled.sum(0)).clamp_min(0)
    return sampled


def window_labels(window: SliceWindow, labels: torch.Tensor) -> torch.Tensor:
    """Labels (Y, X) of a native slice on the window (N, N): the most covered class of each window pixel."""
    one_hot = F.one_hot(labels.long(), NUM_CLASSES).permute(2, 0, 1).float()
    return window_probabilities(window, one_hot).argmax(0)


def normalised_image(image: torch.Tensor) -> torch.Tensor:
    """A window's image scaled by its 1st and 99th percentiles (robust to a bright fat or flow artefact)."""
    low, high = torch.quantile(image.flatten().float(), torch.tensor([0.01, 0.99]))
    return ((image - low) / (high - low).clamp_min(1e-6)).clamp(-0.5, 1.5)


def prompt_maps(
    clicks: list[Click], boxes: list[Box] = (), size: int = WINDOW_SIZE, spacing: float = WINDOW_SPACING_MM
) -> torch.Tensor:
    """(PROMPT_CHANNELS, N, N): per kind of click, the largest Gaussian (peak 1, sigma ``CLICK_SIGMA_MM``) of its
    clicks; per structure, 1 inside its boxes."""
    maps = torch.zeros(PROMPT_CHANNELS, size, size)
    grid = torch.arange(size, dtype=torch.float32)
    sigma_px = CLICK_SIGMA_MM / spacing
    for click in clicks:
        bump = torch.exp(-((grid[:, None] - click.y) ** 2 + (grid[None, :] - click.x) ** 2) / (2 * sigma_px**2))
        maps[click.channel] = torch.maximum(maps[click.channel], bump)
    for box in boxes:
        inside = (
            (grid[:, None] >= box.y0)
            & (grid[:, None] <= box.y1)
            & (grid[None, :] >= box.x0)
            & (grid[None, :] <= box.x1)
        )
        maps[CLICK_KINDS + box.channel][inside] = 1.0
    return maps


def refiner_input(
    image: torch.Tensor, labels: torch.Tensor, probabilities: torch.Tensor, prompts: torch.Tensor
) -> torch.Tensor:
    """The refiner's input (B, 18, N, N) from images (B, N, N), labels (B, N, N), probabilities (B, K, N, N) and prompt
    maps (B, PROMPT_CHANNELS, N, N)."""
    one_hot = F.one_hot(labels.long(), NUM_CLASSES).permute(0, 3, 1, 2).float()
    return torch.cat([image[:, None], one_hot, probabilities, prompts], dim=1)
