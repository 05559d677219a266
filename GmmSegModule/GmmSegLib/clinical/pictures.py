"""A picture of a cine result a clinician reads at a glance: ED and ES of one mid-ventricular slice.

For each phase, the image with the labels, and the image with the total uncertainty; patient orientation
letters at the edges (from the image's direction cosines), a 20 mm scale bar, the uncertainty on a scale set by
what the slices hold (so that its variation shows), and the clinical indices in a corner.
"""

from __future__ import annotations

import numpy as np

from ..core.labels import LV, STRUCTURE_COLOURS, STRUCTURES
from ..io.images import CardiacImage
from .indices import INDEX_NAMES

SCALE_BAR_MM = 20.0
_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # the letter for -axis and +axis of LPS x, y, z


def mid_ventricular_slice(labels: np.ndarray) -> int:
    """The middle one of the slices (of a (Z, Y, X) label map) that hold LV cavity, else the middle slice."""
    holding = np.flatnonzero((labels == LV).any(axis=(1, 2)))
    return int(holding[len(holding) // 2]) if holding.size else labels.shape[0] // 2


def orientation_letters(image: CardiacImage) -> dict[str, str]:
    """The patient direction at each edge of a displayed slice (columns to the right, rows down), from the
    direction cosines: e.g. {"right": "L", "left": "R", "down": "P", "up": "A"}; two letters when oblique."""
    direction = np.reshape(image.geometry.direction, (image.geometry.dimension,) * 2)[:3, :3]
    column, row = direction[:, 0], direction[:, 1]
    return {"right": _letters(column), "left": _letters(-column), "down": _letters(row), "up": _letters(-row)}


def _letters(vector: np.ndarray) -> str:
    order = np.argsort(-np.abs(vector))
    chosen = [order[0]] + [axis for axis in order[1:] if abs(vector[axis]) > 0.35 * abs(vector[order[0]])]
    return "".join(_LPS_LETTERS[axis][int(vector[axis] > 0)] for axis in chosen[:2])


def overlay_png(
    image: CardiacImage,
    labels: np.ndarray,
    uncertainty: np.ndarray,
    frames: dict[str, int],
    indices: dict[str, dict] | None = None,
    title: str = "",
) -> bytes:
    """PNG bytes: for each named frame (e.g. ED and ES), the labels and the total uncertainty over the image on
    the ED frame's mid-ventricular slice; below them the clinical indices, one table row per named source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(frames.values()))
    z = mid_ventricular_slice(labels[first])
    heart = labels[list(frames.values()), z] > 0
    shown_values = uncertainty[list(frames.values()), z][heart]
    top = float(np.percentile(shown_values, 99)) if shown_values.size else 1.0
    top = max(top, 0.05)
    letters = orientation_letters(image)
    figure, axes = plt.subplots(len(frames), 2, figsize=(7.4, 3.5 * len(frames)), squeeze=False)
    for row, (name, t) in enumerate(frames.items()):
        picture = image.frames[t, z]
        low, high = np.percentile(picture, (1, 99))
        colour = np.zeros(picture.shape + (4,))
        for structure, rgb in STRUCTURE_COLOURS.items():
            colour[labels[t, z] == STRUCTURES[structure]] = (*rgb, 0.45)
        # the uncertainty panel dims the image so that bright blood cannot be read as high uncertainty
        for column, brightest in ((0, high), (1, low + 2.5 * (high - low))):
            axis = axes[row, column]
            axis.imshow(picture, cmap="gray", vmin=low, vmax=brightest)
            axis.axis("off")
            _annotate(axis, picture.shape, image.spacing_xyz, letters)
        axes[row, 0].imshow(colour)
        axes[row, 0].set_title(f"{name} (frame {t}, slice {z}): LV red, MYO green, RV blue", fontsize=8)
        shown = axes[row, 1].imshow(
            np.ma.masked_less(uncertainty[t, z], 0.01 * top), cmap="inferno", vmin=0, vmax=top, alpha=0.85
        )
        axes[row, 1].set_title(f"total uncertainty (0 to {top:.2f} shown; full scale 0..1)", fontsize=8)
        figure.colorbar(shown, ax=axes[row, 1], fraction=0.046)
    if indices:  # in the bottom left corner, clear of the images
        figure.text(0.02, 0.01, indices_table(indices), va="bottom", ha="left", fontsize=8, family="monospace")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout(rect=(0, 0.07 if indices else 0, 1, 1))
    return figure_png(figure)


def _annotate(axis, shape: tuple[int, int], spacing_xyz: tuple[float, float, float], letters: dict[str, str]) -> None:
    """Orientation letters at the edges, and a scale bar at the bottom left."""
    rows, columns = shape
    style = {"color": "yellow", "fontsize": 8, "fontweight": "bold"}
    axis.text(columns - 2, rows / 2, letters["right"], ha="right", va="center", **style)
    axis.text(1, rows / 2, letters["left"], ha="left", va="center", **style)
    axis.text(columns / 2, rows - 2, letters["down"], ha="center", va="bottom", **style)
    axis.text(columns / 2, 1, letters["up"], ha="center", va="top", **style)
    length = SCALE_BAR_MM / spacing_xyz[0]
    x0, y0 = 0.05 * columns, 0.94 * rows
    axis.plot([x0, x0 + length], [y0, y0], color="white", linewidth=2)
    axis.text(
        x0 + length / 2, y0 - 0.02 * rows, f"{SCALE_BAR_MM:g} mm", color="white", fontsize=7, ha="center", va="bottom"
    )


# (column title, index key, digits); each unit from the indices' vocabulary (indices.INDEX_NAMES)
_INDEX_COLUMNS = (
    ("ED/ES", None, 0),
    ("LV EDV", "lv_edv", 0),
    ("ESV", "lv_esv", 0),
    ("EF", "lv_ef", 1),
    ("mass", "lv_mass", 0),
    ("RV EDV", "rv_edv", 0),
    ("ESV", "rv_esv", 0),
    ("EF", "rv_ef", 1),
)


def indices_table(indices: dict[str, dict]) -> str:
    """A fixed-width table of the scalar indices, one row per named source (e.g. the model's measurement and
    the phantom's truth), so that the rows can be compared column by column; "n/a" where an index is missing."""
    width = max(len(name) for name in indices) + 1

    def cell(values: dict, key: str | None, digits: int) -> str:
        if key is None:  # the frames the volumes were taken at
            frames = values.get("ed_frame"), values.get("es_frame")
            return "n/a" if None in frames else f"{frames[0]}/{frames[1]}"
        number, unit = values.get(key), INDEX_NAMES[key][1]
        return "n/a" if number is None else f"{number:.{digits}f}{'' if unit == '%' else ' '}{unit}"

    header = "".ljust(width) + "".join(f"{title:>9}" for title, *_ in _INDEX_COLUMNS)
    rows = [
        name.ljust(width) + "".join(f"{cell(values, key, digits):>9}" for _, key, digits in _INDEX_COLUMNS)
        for name, values in indices.items()
    ]
    return "\n".join([header, *rows])


def figure_png(figure) -> bytes:
    """PNG bytes of a matplotlib figure, which is closed."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
