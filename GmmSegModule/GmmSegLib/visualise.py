"""PNG pictures of a result: labels and total uncertainty over the image, for ED and ES mid-ventricle."""

from __future__ import annotations

import numpy as np

from .labels import LV, MYO, RV

STRUCTURE_COLOURS = {LV: (0.95, 0.25, 0.2), MYO: (0.3, 0.8, 0.3), RV: (0.25, 0.45, 0.95)}


def mid_ventricular_slice(labels: np.ndarray) -> int:
    """Slice (of a (Z, Y, X) label map) with the largest LV + MYO area."""
    areas = np.isin(labels, (LV, MYO)).sum(axis=(1, 2))
    return int(np.argmax(areas)) if areas.any() else labels.shape[0] // 2


def overlay_png(image: np.ndarray, labels: np.ndarray, uncertainty: np.ndarray, frames: dict[str, int],
                title: str = "") -> bytes:
    """PNG bytes of a figure: for each named frame, image with labels and image with total uncertainty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(frames), 2, figsize=(7, 3.4 * len(frames)), squeeze=False)
    for row, (name, t) in enumerate(frames.items()):
        z = mid_ventricular_slice(labels[t])
        picture = image[t, z]
        low, high = np.percentile(picture, (1, 99))
        colour = np.zeros(picture.shape + (4,))
        for value, rgb in STRUCTURE_COLOURS.items():
            colour[labels[t, z] == value] = (*rgb, 0.45)
        # the uncertainty panel dims the image so that bright blood cannot be read as high uncertainty
        for column, brightest in ((0, high), (1, low + 2.5 * (high - low))):
            axes[row, column].imshow(picture, cmap="gray", vmin=low, vmax=brightest)
            axes[row, column].axis("off")
        axes[row, 0].imshow(colour)
        axes[row, 0].set_title(f"{name} (frame {t}, slice {z}): LV red, MYO green, RV blue", fontsize=8)
        shown = axes[row, 1].imshow(np.ma.masked_less(uncertainty[t, z], 0.02), cmap="inferno", vmin=0, vmax=1,
                                    alpha=0.8)
        axes[row, 1].set_title("total uncertainty (0..1) over the dimmed image", fontsize=8)
        figure.colorbar(shown, ax=axes[row, 1], fraction=0.046)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure_png(figure)


def figure_png(figure) -> bytes:
    """PNG bytes of a matplotlib figure, which is closed."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
