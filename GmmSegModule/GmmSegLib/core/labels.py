"""Label conventions, and the names every floor uses for the structures and the uncertainty maps.

The product convention is 0 background, 1 LV cavity, 2 myocardium (MYO), 3 RV cavity. Other datasets
number the structures differently (ACDC: 1 RV, 2 MYO, 3 LV); readers map them explicitly here, never
implicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError

if TYPE_CHECKING:  # the conventions stay torch-free for the modules that only map labels (evaluate, report)
    import torch

BACKGROUND, LV, MYO, RV = 0, 1, 2, 3
NUM_CLASSES = 4
STRUCTURES: dict[str, int] = {"LV": LV, "MYO": MYO, "RV": RV}
# as written in a sentence ("the LV cavity is not ringed by myocardium"); a segment's name is capitalised
STRUCTURE_NAMES: dict[str, str] = {"LV": "LV cavity", "MYO": "myocardium", "RV": "RV cavity"}
# RGB in [0, 1], the same in Slicer's views, in the pictures gmmseg writes and (as 0-255) in the Slicer
# terminology file Resources/Terminology/GmmSegCardiac.term.json
STRUCTURE_COLOURS: dict[str, tuple[float, float, float]] = {
    "LV": (0.85, 0.26, 0.21),
    "MYO": (0.40, 0.73, 0.33),
    "RV": (0.26, 0.47, 0.85),
}
# the per-voxel uncertainty maps that come with the labels (GmmSegLib.model.uncertainty: total = aleatoric +
# epistemic)
UNCERTAINTY_KINDS: tuple[str, ...] = ("total", "aleatoric", "epistemic")

# convention name -> mapping from that convention's value to the product value
CONVENTIONS: dict[str, dict[int, int]] = {
    "product": {0: BACKGROUND, 1: LV, 2: MYO, 3: RV},
    "acdc": {0: BACKGROUND, 1: RV, 2: MYO, 3: LV},
}


def most_probable_class(probabilities: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The index of the largest class probability along ``dim`` (the first one on ties, as ``argmax``).

    ``max(dim).indices`` rather than ``argmax(dim)``: on CPU, torch's argmax over a dimension that is not
    the last one is about ten times slower (50 ms for one native-grid volume's labels).
    """
    return probabilities.max(dim).indices


def to_product_labels(labels: np.ndarray, convention: str) -> np.ndarray:
    """Map a label array from ``convention`` to the product convention (uint8)."""
    if convention not in CONVENTIONS:
        raise InputError(f"unknown label convention {convention!r}; known: {', '.join(CONVENTIONS)}")
    values = np.unique(labels)
    unknown = sorted(set(values.tolist()) - set(CONVENTIONS[convention]))
    if unknown:
        shown = ", ".join(map(str, unknown[:8])) + (f", ... ({len(unknown)} values)" if len(unknown) > 8 else "")
        hint = "; is this an image rather than a label map?" if len(unknown) > 8 else ""
        raise InputError(f"label values {shown} are not part of the {convention!r} convention{hint}")
    lookup = np.zeros(max(CONVENTIONS[convention]) + 1, dtype=np.uint8)
    for source, target in CONVENTIONS[convention].items():
        lookup[source] = target
    return lookup[labels.astype(np.int64)]


def enclosure_by_myocardium(labels: np.ndarray, structure: int) -> float | None:
    """The share of the voxels just outside ``structure`` (in-plane, slice by slice) that are myocardium; None when
    the structure is absent. An LV cavity is ringed by its wall (typically above 0.6); the RV cavity touches the
    myocardium only along the septum (typically below 0.4)."""
    from scipy import ndimage

    planes = labels.reshape((-1,) + labels.shape[-2:])
    touching = ringed = 0
    for plane in planes:
        inside = plane == structure
        if inside.any():
            ring = ndimage.binary_dilation(inside, iterations=1) & ~inside
            touching += int(ring.sum())
            ringed += int((plane[ring] == MYO).sum())
    return ringed / touching if touching else None


def convention_warning(labels: np.ndarray, convention: str) -> str | None:
    """A one-line warning when labels read in ``convention`` look like another convention's: the structure called
    LV is not ringed by the one called MYO while the one called RV is (ACDC's 1 RV / 3 LV read as the product's)."""
    lv, rv = enclosure_by_myocardium(labels, LV), enclosure_by_myocardium(labels, RV)
    if lv is None or rv is None or not (lv < 0.5 < rv):
        return None
    others = [name for name in CONVENTIONS if name != convention]
    return (
        f"these labels look like another convention than {convention!r}: the structure labelled LV is ringed by "
        f"myocardium along {lv:.0%} of its border, the one labelled RV along {rv:.0%}; if they follow "
        f"{' or '.join(repr(o) for o in others)}, say so (--labels / --gt-labels)"
    )
