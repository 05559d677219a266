"""Which model and device a job uses: the model list (shipped and adapted models), a file override, the device."""

from __future__ import annotations

from pathlib import Path

import qt

from ..core.paths import user_models_dir
from ..model.registry import available_models, publish_adapted_model

DEVICE_NOTES = {
    "auto": "Device auto: a GPU if the job finds one, else the CPU (about a second per volume, longer for a cine).",
    "cpu": "Running on the CPU: about a second per volume, longer for a cine.",
}


def chosen(path: Path) -> Path | None:
    """A path field's value, or None when nothing was chosen (an empty path line edit reads as '.')."""
    return None if str(path) in ("", ".") else path


class ModelChoice:
    """The .ui's model combo box (entries of the registry and the user's models folder) and device note."""

    def __init__(self, combo, device_note, log):
        self.combo, self.device_note, self.log = combo, device_note, log

    def fill(self) -> None:
        self.combo.clear()
        try:
            for entry in available_models():
                self.combo.addItem(entry.id, str(entry.path))
        except Exception as error:  # a broken registry must not stop the module from loading
            self.log(f"Model list unavailable: {error}")

    def model(self, override: Path) -> str | None:
        """The model file for a job: the file override when one is chosen, else the list's choice."""
        override = chosen(override)
        return str(override) if override is not None else (self.combo.currentData or None)

    def device(self, device: str) -> str:
        """``device`` for a job, with the note under the device choice saying what it means."""
        self.device_note.text = DEVICE_NOTES.get(
            device, f"Running on {device}; the job stops with a message if it is not there.")
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
