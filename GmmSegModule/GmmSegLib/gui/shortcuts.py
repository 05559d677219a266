"""The platform's Undo and Redo keys for the module's own undo, while the module is shown."""

from __future__ import annotations

from collections.abc import Callable

import qt
import slicer


class UndoRedoKeys:
    """Ctrl+Z and Ctrl+Y / Ctrl+Shift+Z (``QKeySequence::Undo`` and ``Redo``) on the main window, installed on the
    module's enter() and removed on its exit(), as the Segment Editor installs its own
    (``qMRMLSegmentEditorWidget::installKeyboardShortcuts``)."""

    def __init__(self, on_undo: Callable[[], None], on_redo: Callable[[], None], fallback_parent):
        self.on_undo, self.on_redo, self.fallback_parent = on_undo, on_redo, fallback_parent
        self.shortcuts: list = []

    def install(self) -> None:
        self.uninstall()
        parent = slicer.util.mainWindow() or self.fallback_parent
        for keys, slot in ((qt.QKeySequence.Undo, self.on_undo), (qt.QKeySequence.Redo, self.on_redo)):
            shortcut = qt.QShortcut(qt.QKeySequence(keys), parent)
            shortcut.connect("activated()", slot)
            self.shortcuts.append(shortcut)

    def uninstall(self) -> None:
        for shortcut in self.shortcuts:
            shortcut.setParent(None)
            shortcut.deleteLater()
        self.shortcuts = []
