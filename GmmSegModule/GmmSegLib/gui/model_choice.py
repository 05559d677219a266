"""Which model and device a job uses: the model list (shipped and adapted models), a file override, the device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import qt
from slicer.i18n import tr as _

from ..core.errors import GmmSegError
from ..core.paths import user_models_dir
from ..model.registry import available_models, publish_adapted_model

PLATFORM_DEVICES = ("auto", "cpu")  # always there; a GPU only where PyTorch finds it


def device_note(device: str) -> str:
    """What the device choice means, under the device list."""
    if device == "auto":
        return _(
            "Device auto: a GPU if the job finds one, else the CPU (about a second per volume, longer for a cine)."
        )
    if device == "cpu":
        return _("Running on the CPU: about a second per volume, longer for a cine.")
    return _("Running on {device}.").format(device=device)


def model_description(record: dict) -> str:
    """What the model list says of a model (its tooltip), from its registry entry (Resources/Models/Models.json,
    Models.schema.json): title, what it learnt from, its accuracy on validation data and its speed; an adapted
    model's description has fewer of these, and only those it has are said."""
    lines = [record.get("title") or record.get("id", "")]
    if record.get("trained_on"):
        lines.append(_("Trained on: {what}").format(what=record["trained_on"]))
    metrics = record.get("validation_metrics") or {}
    scores = metrics.get("gmmseg")
    if scores:
        measured_on = (
            _("Cross-validation ({volumes} volumes, each by a model that never saw it)")
            if metrics.get("metrics") == "out-of-fold"
            else _("Validation ({volumes} volumes never trained on)")
        )
        lines.append(
            (
                measured_on
                + _(": Dice LV {lv:.2f}, MYO {myo:.2f}, RV {rv:.2f}; HD95 {lv_mm:.1f} / {myo_mm:.1f} / {rv_mm:.1f} mm")
            ).format(
                volumes=metrics.get("validation_volumes", "?"),
                lv=scores["LV_dice"],
                myo=scores["MYO_dice"],
                rv=scores["RV_dice"],
                lv_mm=scores["LV_hd95"],
                myo_mm=scores["MYO_hd95"],
                rv_mm=scores["RV_hd95"],
            )
        )
    speed = record.get("speed")
    if speed:
        lines.append(
            _("Speed: {volume:.2f} s per 10-slice volume, {cine:.1f} s per 20-frame cine ({machine})").format(
                volume=speed["volume_10_slices_s"], cine=speed["cine_20_frames_s"], machine=speed["machine"]
            )
        )
    return "\n".join(line for line in lines if line)


def chosen(path: Path) -> Path | None:
    """A path field's value, or None when nothing was chosen (an empty path line edit reads as '.')."""
    return None if str(path) in ("", ".") else path


class ModelChoice:
    """The .ui's model list (shipped and adapted models), the file override that takes its place, the label that
    says which model the next job uses, and the device note.

    The override field (a ctkPathLineEdit) is not bound to the parameter node by the .ui: with its ``*.pt`` name
    filter CTK emits ``currentPathChanged`` only for an acceptable path (ctkPathLineEdit::updateHasValidInput), so
    an emptied field would never reach the parameter and the old file would stay in use. Here the field's
    acceptable paths go to ``modelPath``; "Use the list's model" clears it, and so does choosing a model in the
    list, Adapt's new model included. ``parameters()`` gives the parameter node (None before there is one).
    """

    def __init__(self, ui, parameters: Callable[[], object], log: Callable[[str], None]):
        self.ui, self.parameters, self.log = ui, parameters, log
        self.combo, self.field, self.device_note = ui.modelComboBox, ui.modelPathLineEdit, ui.deviceNoteLabel
        self.field.connect("currentPathChanged(QString)", self._on_file_chosen)
        ui.clearModelPathButton.connect("clicked(bool)", lambda _checked=False: self.clear_override())
        self.combo.connect("currentIndexChanged(int)", lambda _index: self._on_list_choice())

    def fill(self) -> None:
        self.combo.clear()
        try:
            for entry in available_models():
                self.combo.addItem(entry.id, str(entry.path))
                self.combo.setItemData(self.combo.count - 1, model_description(entry.record), qt.Qt.ToolTipRole)
        except Exception as error:  # a broken registry must not stop the module from loading
            self.log(_("Model list unavailable: {error}").format(error=error))
        self.show_model_in_use()

    def model(self, override: Path) -> str | None:
        """The model file for a job: the file override when one is chosen, else the list's choice."""
        override = chosen(override)
        return str(override) if override is not None else (self.combo.currentData or None)

    def clear_override(self) -> None:
        """Jobs use the list's model again."""
        self.field.currentPath = ""
        parameters = self.parameters()
        if parameters is not None and chosen(parameters.modelPath) is not None:
            parameters.modelPath = Path()
        self.show_model_in_use()

    def follow(self) -> None:
        """The override field and the label follow the parameter node (a scene loaded, a parameter set by code).
        A field that holds no acceptable path yet (being typed) is left alone."""
        parameters = self.parameters()
        if parameters is None:
            return
        override = chosen(parameters.modelPath)
        if override is not None and self.field.currentPath != str(override):
            self.field.currentPath = str(override)
        elif override is None and self.field.currentPath and _acceptable(self.field):
            self.field.currentPath = ""
        self.show_model_in_use()

    def show_model_in_use(self) -> None:
        """Say which model file the next job uses, and whether it is the override or the list's."""
        parameters = self.parameters()
        override = chosen(parameters.modelPath) if parameters is not None else None
        if override is not None:
            text = (
                _("Next job uses the file {path} instead of the list's model.")
                if override.is_file()
                else _("Next job uses the file {path} (file not found) instead of the list's model.")
            ).format(path=override)
        elif self.combo.currentData:
            text = _("Next job uses {model}: {path}").format(model=self.combo.currentText, path=self.combo.currentData)
        else:
            text = _("No model available: choose a model file.")
        self.ui.modelInUseLabel.text = text

    def _on_file_chosen(self, path: str) -> None:
        parameters = self.parameters()
        if parameters is not None and path and chosen(Path(path)) != chosen(parameters.modelPath):
            parameters.modelPath = Path(path)
        self.show_model_in_use()

    def _on_list_choice(self) -> None:
        """A model chosen in the list is the one used: the file override goes."""
        parameters = self.parameters()
        if parameters is not None and chosen(parameters.modelPath) is not None:
            self.clear_override()
        else:
            self.show_model_in_use()

    def device(self, device: str) -> str:
        """``device`` for a job, with the note under the device choice saying what it means; a GPU that PyTorch
        (installed by then: :func:`GmmSegLib.gui.pytorch_install.ensure_pytorch`) does not find is refused."""
        if device not in PLATFORM_DEVICES and not _torch_finds(device):
            self.device_note.text = _("PyTorch finds no {device} device on this computer.").format(device=device)
            raise GmmSegError(
                _("PyTorch finds no {device} device on this computer; choose auto or cpu").format(device=device)
            )
        self.device_note.text = device_note(device)
        return device

    def publish(self, adapted_model: Path) -> Path:
        """Copy an adapted model into the user's models folder, list it and select it."""
        published = publish_adapted_model(adapted_model)
        self.fill()
        self.combo.setCurrentIndex(self.combo.findData(str(published)))
        return published

    @staticmethod
    def open_models_folder() -> None:
        folder = user_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder)))


def _acceptable(field) -> bool:
    """Whether a ctkPathLineEdit holds a path its name filters accept (what CTK emits ``currentPathChanged`` for)."""
    line_edit = field.findChild(qt.QLineEdit)
    return line_edit is None or line_edit.hasAcceptableInput()


def _torch_finds(device: str) -> bool:
    """Whether PyTorch in this process can use ``device`` ("cuda" or "mps")."""
    import torch

    if device == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return torch.cuda.is_available()
