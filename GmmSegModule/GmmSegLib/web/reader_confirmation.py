"""The page's "Confirm ED/ES and slices": the panel's section (GmmSegLib.gui.reader_confirmation) in a browser.

The page shows a cine's ED and ES frames and each ventricle's first and last slice at ED and ES as the indices count
them, the model's choice beside each; the reader changes any of them and recomputes, or goes back to the model's
choices. What the page holds is plain state (numbers typed as text); :func:`choices_from_page` turns it into
:class:`~GmmSegLib.clinical.reader_choices.ReaderChoices`, which the module's logic uses, records for Undo and
refuses where the indices could not be computed. A value equal to the model's is the model's choice again, as in
the panel; slices the reader excluded stay excluded.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..clinical.reader_choices import PHASES, VENTRICLES, ReaderChoices, limit_key
from ..core.errors import GmmSegError

LIMIT_KEYS = tuple(limit_key(v, p) for v in VENTRICLES for p in PHASES)


def frame_field(phase: str) -> str:
    """The page's state name of a phase's frame ("ed_frame")."""
    return f"{phase.lower()}_frame"


def limit_field(key: str, end: str) -> str:
    """The page's state name of one end ("first", "last") of a slice limit ("LV ED" -> "limit_lv_ed_first")."""
    return f"limit_{key.lower().replace(' ', '_')}_{end}"


# every field of the section the reader edits
PAGE_FIELDS = tuple(frame_field(phase) for phase in PHASES) + tuple(
    limit_field(key, end) for key in LIMIT_KEYS for end in ("first", "last")
)


def confirmation_state(indices: Mapping, frames: int, choices: ReaderChoices | None = None) -> dict:
    """The page's state of the section for a result's ``indices`` (its JSON form), number of ``frames`` and reader's
    ``choices``: the frames and slice limits in force, the model's beside them (``model_<field>``), the slices
    excluded, whether they can be changed and a note."""
    usable = frames > 1 and bool(indices) and "error" not in indices
    excluded = "; ".join(
        f"{phase} {', '.join(str(z) for z in sorted(slices))}"
        for phase, slices in sorted((choices or ReaderChoices()).excluded.items())
        if slices
    )
    state: dict = {
        "confirm_usable": usable,
        "confirm_note": _note(indices, frames),
        "excluded_slices": f"Excluded slices: {excluded or 'none'}",
    }
    model_frames = indices.get("model_frames", {}) if usable else {}
    for phase in PHASES:
        field = frame_field(phase)
        state[field] = str(indices.get(field, "")) if usable else ""
        proposed = model_frames.get(phase)
        state[f"model_{field}"] = "" if proposed is None else f"model: {proposed}"
    counted = indices.get("slice_limits", {}) if usable else {}
    proposed_limits = indices.get("model_slice_limits", {}) if usable else {}
    for key in LIMIT_KEYS:
        limits, proposed = counted.get(key), proposed_limits.get(key)
        for end in ("first", "last"):
            state[limit_field(key, end)] = "" if limits is None else str(limits[end])
        state[f"model_{limit_field(key, 'first')}"] = _model_limits_text(proposed) if usable else ""
    return state


def _model_limits_text(proposed: Mapping | None) -> str:
    """The model's slice limits with its confidence in each end slice, as the panel words them."""
    if proposed is None:
        return "model: none"
    text = f"model: {proposed['first']}-{proposed['last']}"
    if proposed.get("first_confidence") is None:
        return text
    return f"{text} ({proposed['first_confidence']:.2f} / {proposed['last_confidence']:.2f})"


def _note(indices: Mapping, frames: int) -> str:
    if frames < 2:
        return "ED and ES need a cine: this result has one frame."
    if "error" in indices:
        return f"The indices cannot be computed: {indices['error']}"
    if indices.get("manual_choices"):
        return "Indices with the reader's choices: " + "; ".join(indices["manual_choices"]) + "."
    return "The model's choices. Change a frame or a slice limit, then Recompute."


def _whole_number(page: Mapping, field: str, what: str) -> int:
    text = str(page.get(field, "")).strip()
    try:
        return int(text)
    except ValueError:
        raise GmmSegError(f"{what}: a whole number is needed, not {text!r}") from None


def toggled_exclusion(current: ReaderChoices, phase: str, slice_text: object) -> tuple[ReaderChoices, str]:
    """``current`` with the slice the page names excluded at ``phase`` (ED or ES), or counted again if it was; with
    what was done, in words. The logic refuses a slice the stack does not have."""
    if phase not in PHASES:
        raise GmmSegError(f"choose ED or ES, not {phase!r}")
    z = _whole_number({"slice": slice_text}, "slice", "slice to exclude")
    slices = set(current.excluded.get(phase, []))
    excluded = {**current.excluded, phase: sorted(slices ^ {z})}
    choices = ReaderChoices(current.ed_frame, current.es_frame, dict(current.limits), excluded)
    return choices, f"{phase} slice {z} {'included again' if z in slices else 'excluded'}"


def choices_from_page(page: Mapping, indices: Mapping, current: ReaderChoices) -> tuple[ReaderChoices, str]:
    """The reader's choices that the page's fields (``page``: the state :func:`confirmation_state` made, as edited)
    make of a result's ``indices``, keeping the slices ``current`` excludes; with what was chosen, in words."""
    choices = ReaderChoices(excluded={phase: list(slices) for phase, slices in current.excluded.items()})
    model_frames = indices.get("model_frames", {})
    for phase in PHASES:
        frame = _whole_number(page, frame_field(phase), f"{phase} frame")
        setattr(choices, frame_field(phase), None if frame == model_frames.get(phase) else frame)
    proposed_limits = indices.get("model_slice_limits", {})
    counted = indices.get("slice_limits", {})
    for key in LIMIT_KEYS:
        if counted.get(key) is None and not str(page.get(limit_field(key, "first"), "")).strip():
            continue  # a ventricle the indices count nowhere (none drawn), left as it is
        limits = tuple(_whole_number(page, limit_field(key, end), f"{key} {end} slice") for end in ("first", "last"))
        proposed = proposed_limits.get(key) or {}
        if limits != (proposed.get("first"), proposed.get("last")):
            choices.limits[key] = limits
    return choices, "; ".join(choices.manual()) or "the model's choices"
