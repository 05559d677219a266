"""The panel's "Confirm ED/ES and slices" section: what the reader confirms before signing a cine's indices.

As in every CMR reporting suite, the reader sees the ED and ES frames and each ventricle's basal and apical slice at
ED and ES, with the model's choice and its confidence beside each, and may choose another frame, move a slice limit
by one, or exclude a slice. Each change goes through :meth:`GmmSegLib.mrml.logic.GmmSegLogic.set_reader_choices`,
which recomputes the indices at once and records the change for Undo; choosing the model's value again makes that
choice the model's again (nothing manual is recorded for it).
"""

from __future__ import annotations

from collections.abc import Callable

import slicer
from slicer.i18n import tr as _

from ..clinical.reader_choices import PHASES, VENTRICLES, ReaderChoices, limit_key
from .user_action import user_action

# each slice limit's widgets in the .ui: <prefix>FirstSpinBox, <prefix>LastSpinBox, <prefix>ModelLabel
LIMIT_PREFIXES = {limit_key(v, p): f"{v.lower()}{p.capitalize()}" for v in VENTRICLES for p in PHASES}


class ReaderConfirmation:
    """Shows the choices behind the shown result's indices and turns the reader's changes into new choices.

    ``logic()`` gives a :class:`GmmSegLogic`, ``idle()`` whether no job runs, ``on_change()`` is called after every
    change (the Undo button follows)."""

    def __init__(
        self,
        ui,
        logic: Callable[[], object],
        idle: Callable[[], bool],
        log: Callable[[str], None],
        on_change: Callable[[], None],
    ):
        self.ui, self.logic, self.idle, self.log, self.on_change = ui, logic, idle, log, on_change
        self.outputs = None
        self._showing = False  # the spin boxes are being set from the result: no choice is made
        for phase in PHASES:
            self._spin(phase).connect("valueChanged(int)", lambda value, phase=phase: self._choose_frame(phase, value))
        for key, prefix in LIMIT_PREFIXES.items():
            for end in ("First", "Last"):
                getattr(ui, f"{prefix}{end}SpinBox").connect(
                    "valueChanged(int)", lambda _value, key=key: self._move_limit(key)
                )
        ui.excludePhaseComboBox.connect("currentIndexChanged(int)", lambda _index: self._show_exclusion())
        ui.excludeSliceSpinBox.connect("valueChanged(int)", lambda _value: self._show_exclusion())
        for button, slot in (
            (ui.excludeSliceButton, self._toggle_exclusion),
            (ui.sliceShownButton, self._slice_shown),
            (ui.modelChoicesButton, self._use_model_choices),
        ):
            button.connect("clicked(bool)", lambda _checked=False, slot=slot: slot())

    # ---- showing ------------------------------------------------------------------------------------------------
    def show(self, outputs) -> None:
        """Show the choices behind ``outputs``' indices (None: no result)."""
        self.outputs = outputs
        indices = outputs.indices if outputs is not None else {}
        usable = outputs is not None and outputs.num_frames > 1 and "error" not in indices and bool(indices)
        self.ui.confirmNoteLabel.text = self._note(outputs, indices)
        self._showing = True
        try:
            self._show_frames(outputs, indices if usable else {})
            for key in LIMIT_PREFIXES:
                self._show_limit(key, outputs, indices if usable else {})
            self.ui.excludeSliceSpinBox.maximum = max(0, self._slices(outputs) - 1)
            for widget in (
                self.ui.excludePhaseComboBox,
                self.ui.excludeSliceSpinBox,
                self.ui.sliceShownButton,
                self.ui.excludeSliceButton,
            ):
                widget.enabled = usable
            self.ui.modelChoicesButton.enabled = outputs is not None and outputs.num_frames > 1
        finally:
            self._showing = False
        self._show_exclusion()

    @staticmethod
    def _note(outputs, indices: dict) -> str:
        if outputs is None:
            return ""
        if outputs.num_frames < 2:
            return _("ED and ES need a cine: this result has one frame.")
        if "error" in indices:
            return _("The indices cannot be computed: {reason}").format(reason=indices["error"])
        if indices.get("manual_choices"):
            return _("Indices with the reader's choices: {choices}.").format(
                choices="; ".join(indices["manual_choices"])
            )
        return _("The model's choices. Change a frame or a slice to recompute the indices at once.")

    @staticmethod
    def _slices(outputs) -> int:
        return int(outputs.result.labels.shape[1]) if outputs is not None else 0

    def _spin(self, phase: str):
        return getattr(self.ui, f"{phase.lower()}FrameSpinBox")

    def _show_frames(self, outputs, indices: dict) -> None:
        for phase in PHASES:
            spin, label = self._spin(phase), getattr(self.ui, f"{phase.lower()}FrameModelLabel")
            spin.enabled = bool(indices)
            spin.maximum = max(0, outputs.num_frames - 1) if outputs is not None else 0
            spin.value = indices.get(f"{phase.lower()}_frame", 0)
            proposed = indices.get("model_frames", {}).get(phase)
            label.text = _("model: {frame}").format(frame=proposed) if proposed is not None else ""

    def _show_limit(self, key: str, outputs, indices: dict) -> None:
        prefix = LIMIT_PREFIXES[key]
        first, last = getattr(self.ui, f"{prefix}FirstSpinBox"), getattr(self.ui, f"{prefix}LastSpinBox")
        counted = indices.get("slice_limits", {}).get(key)
        for spin, end in ((first, "first"), (last, "last")):
            spin.maximum = max(0, self._slices(outputs) - 1)
            spin.enabled = counted is not None
            spin.value = counted[end] if counted is not None else 0
        getattr(self.ui, f"{prefix}ModelLabel").text = (
            model_limit_text(indices.get("model_slice_limits", {}).get(key), key) if indices else ""
        )

    def _show_exclusion(self) -> None:
        """The exclusion button says what it will do to the slice chosen; the label lists what is excluded."""
        choices = self.outputs.reader_choices() if self.outputs is not None else ReaderChoices()
        phase, z = self.ui.excludePhaseComboBox.currentText, self.ui.excludeSliceSpinBox.value
        excluded = z in choices.excluded.get(phase, [])
        self.ui.excludeSliceButton.text = _("Include again") if excluded else _("Exclude")
        listed = "; ".join(
            f"{p} {', '.join(str(s) for s in sorted(slices))}"
            for p, slices in sorted(choices.excluded.items())
            if slices
        )
        self.ui.excludedLabel.text = _("Excluded slices: {slices}").format(slices=listed or _("none"))

    # ---- the reader's changes --------------------------------------------------------------------------------------
    def _choose(self, change: Callable[[ReaderChoices], tuple[ReaderChoices, str]]) -> None:
        """Use the choices that ``change`` makes of the present ones (with what it did, in words) through the logic;
        on refusal the section shows the choices as they stay."""
        if self._showing or self.outputs is None or not self.idle():
            return
        with user_action(_("Cannot use this choice."), self.log):
            choices, description = change(self.outputs.reader_choices())
            self.logic().set_reader_choices(self.outputs, choices, description)
            self.log(_("Indices recomputed: {change}.").format(change=description))
        self.show(self.outputs)
        self.on_change()

    def _choose_frame(self, phase: str, frame: int) -> None:
        def change(choices: ReaderChoices) -> tuple[ReaderChoices, str]:
            proposed = self.outputs.indices.get("model_frames", {}).get(phase)
            setattr(choices, f"{phase.lower()}_frame", None if frame == proposed else frame)
            return choices, _("{phase} frame {frame}").format(phase=phase, frame=frame)

        self._choose(change)

    def _move_limit(self, key: str) -> None:
        prefix = LIMIT_PREFIXES[key]
        limits = (getattr(self.ui, f"{prefix}FirstSpinBox").value, getattr(self.ui, f"{prefix}LastSpinBox").value)

        def change(choices: ReaderChoices) -> tuple[ReaderChoices, str]:
            proposed = self.outputs.indices.get("model_slice_limits", {}).get(key) or {}
            if limits == (proposed.get("first"), proposed.get("last")):
                choices.limits.pop(key, None)
            else:
                choices.limits[key] = limits
            return choices, _("{limits} slices {first}-{last}").format(limits=key, first=limits[0], last=limits[1])

        self._choose(change)

    def _toggle_exclusion(self) -> None:
        phase, z = self.ui.excludePhaseComboBox.currentText, self.ui.excludeSliceSpinBox.value

        def change(choices: ReaderChoices) -> tuple[ReaderChoices, str]:
            slices = set(choices.excluded.get(phase, []))
            excluded = z not in slices
            choices.excluded[phase] = sorted(slices ^ {z})
            return choices, (
                _("{phase} slice {slice} excluded") if excluded else _("{phase} slice {slice} included again")
            ).format(phase=phase, slice=z)

        self._choose(change)

    def _slice_shown(self) -> None:
        """Choose the slice at the centre of the red view (the stack's slices once a review row turned the views)."""
        if self.outputs is None:
            return
        red = slicer.mrmlScene.GetNodeByID("vtkMRMLSliceNodeRed")
        if red is None:
            return
        centre = [red.GetSliceToRAS().GetElement(row, 3) for row in range(3)]
        voxel = self.logic().voxels_at(self.outputs, [centre], self.outputs.current_frame)[0]
        self.ui.excludeSliceSpinBox.value = min(max(int(voxel[2]), 0), self.ui.excludeSliceSpinBox.maximum)

    def _use_model_choices(self) -> None:
        self._choose(lambda _choices: (ReaderChoices(), _("the model's choices")))


def model_limit_text(limits: dict | None, key: str) -> str:
    """The model's slice limits of ``key`` with its confidence in each end slice, for the section's label."""
    if limits is None:
        return _("model: no {ventricle}").format(ventricle=key.split()[0])
    if limits.get("first_confidence") is None:
        return _("model: {first}-{last}").format(first=limits["first"], last=limits["last"])
    return _("model: {first}-{last} ({first_confidence:.2f} / {last_confidence:.2f})").format(**limits)
