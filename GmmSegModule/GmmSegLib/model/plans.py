"""What a checkpoint's weights mean beyond their shapes: the constants a model was made with, saved in it.

A network's weights only make sense with the grid it was trained on (the canonical crop's size and pixel, the
localiser's view), the atlas's position bins and floor, and the bounds its heads squash their outputs into. These
live in the code as constants; a later version that changes one would read an older checkpoint wrongly without a
word, since the tensors still fit. So every checkpoint carries its ``plans`` (as nnU-Net's plans travel with its
models), and loading compares them with this version's (:func:`plan_differences`): a model made with other
inference constants is refused, naming each difference. The training constants (the prior's strength in the ELBO,
the atlas's smoothing) are recorded for the model's description; they do not change how it segments.
Checkpoints from before the plans were saved (gmmseg-acdc-v7 and older) were all made with the constants below.
"""

from __future__ import annotations

from .atlas import POSITION_BINS, PRIOR_FLOOR, PRIOR_STRENGTH, SMOOTHING_PX
from .canonical_crop import CANONICAL_SIZE, CANONICAL_SPACING_MM
from .click_refiner import CLICK_SIGMA_MM, WINDOW_SIZE, WINDOW_SPACING_MM
from .networks import CONCENTRATION_FLOOR, FEATURE_CHANNELS, LOG_VARIANCE_RANGE, MEAN_BOUND, Localiser, RegistrationNet


def current_plans() -> dict[str, dict[str, dict[str, float | int | list[float]]]]:
    """This version's constants: ``inference`` (how a model's weights are read) and ``training`` (how it learnt)."""
    return {
        "inference": {
            "canonical_crop": {"size": CANONICAL_SIZE, "spacing_mm": CANONICAL_SPACING_MM},
            "localiser_view": {"size": Localiser.SIZE, "spacing_mm": Localiser.SPACING_MM},
            "atlas": {"position_bins": POSITION_BINS, "prior_floor": PRIOR_FLOOR},
            "heads": {
                "feature_channels": FEATURE_CHANNELS,
                "concentration_floor": CONCENTRATION_FLOOR,
                "mean_bound": MEAN_BOUND,
                "log_variance_range": list(LOG_VARIANCE_RANGE),
            },
            "registration": {
                "max_log_scale": RegistrationNet.MAX_LOG_SCALE,
                "max_shift_mm": RegistrationNet.MAX_SHIFT_MM,
                "max_rotation_rad": RegistrationNet.MAX_ROTATION,
            },
            "click_refiner": {
                "window_size": WINDOW_SIZE,
                "window_spacing_mm": WINDOW_SPACING_MM,
                "click_sigma_mm": CLICK_SIGMA_MM,
            },
        },
        "training": {"prior_strength": PRIOR_STRENGTH, "atlas_smoothing_px": SMOOTHING_PX},
    }


def plan_differences(saved: dict, current: dict | None = None) -> list[str]:
    """Each inference constant whose value in ``saved`` (a checkpoint's plans) is not this version's, in words;
    a constant this version has that the checkpoint lacks, or the other way round, is a difference too."""
    current = current_plans() if current is None else current
    differences = []
    saved_parts, current_parts = saved.get("inference", {}), current["inference"]
    for part in sorted(set(saved_parts) | set(current_parts)):
        theirs, ours = saved_parts.get(part, {}), current_parts.get(part, {})
        for name in sorted(set(theirs) | set(ours)):
            if not _same(theirs.get(name), ours.get(name)):
                differences.append(f"{part}.{name} {_shown(theirs.get(name))} (this version: {_shown(ours.get(name))})")
    return differences


def _same(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _shown(value: object) -> str:
    return "absent" if value is None else str(value)
