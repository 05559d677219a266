"""The ``ctk`` module: stand-ins of the CTK widgets that the module's .ui and Slicer's Python layer use.

CTK is the C++ widget library of Slicer (the commit Slicer 5.12.3 pins in SuperBuild/External_CTK.cmake,
5056664a20a3d0a393bb6d91f040525581e0dcdf). Each class mirrors the header named in its docstring: same base
class, and, of what the module and Slicer's Python layer use, the same property, signal and slot names with
the same behaviour. The rest of the header is left out. Classes said to be "bare" exist only because
Slicer's parameterNodeWrapper (guiConnectors.py) compares widget types against them.
"""

from __future__ import annotations

import re
import types
import weakref
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Property, Signal

from .qt_adapter import qt


class ctkCollapsibleButton(qt.QAbstractButton):
    """Libs/Widgets/ctkCollapsibleButton.h: a checkable button whose child widgets are its contents.

    ``collapsed`` (notify ``contentsCollapsed(bool)``) is ``not checked``; while collapsed the contents are
    hidden. As in CTK, a child that someone hides or shows keeps that choice ("visibilityToParent"): it is
    hidden while collapsed and comes back on expanding only if it was not hidden explicitly.
    """

    contentsCollapsed = Signal(bool)

    def __init__(self, *args: Any) -> None:  # (parent) or (text, parent), as the two C++ constructors
        text = args[0] if args and isinstance(args[0], str) else None
        super().__init__(*(args[1:] if text is not None else args))
        self._collapsed = False
        self._forcing = False
        self._adopted: weakref.WeakSet = weakref.WeakSet()
        self.setCheckable(True)
        self.setChecked(True)  # checked and collapsed are synchronized: checked != collapsed
        self.toggled.connect(self._onToggled)
        if text is not None:
            self.setText(text)

    def _getCollapsed(self) -> bool:
        return self._collapsed

    def setCollapsed(self, collapsed: bool) -> None:
        if not self.isCheckable():
            self.collapse(collapsed)
            return
        self.setChecked(not collapsed)

    collapsed = Property(bool, _getCollapsed, setCollapsed, notify=contentsCollapsed)

    def _onToggled(self, checked: bool) -> None:
        if self.isCheckable():
            self.collapse(not checked)

    def collapse(self, collapsed: bool) -> None:
        if collapsed == self._collapsed:
            return
        self._collapsed = collapsed
        self._updateChildren()
        self.contentsCollapsed.emit(collapsed)

    def _updateChildren(self) -> None:
        for child in self.children():
            if isinstance(child, QtWidgets.QWidget):
                self._adopt(child)
                self._setChildVisibility(child)

    def _adopt(self, child: QtWidgets.QWidget) -> None:
        """What CTK does when a child is added: remember an explicit hide, watch its show/hide."""
        if child in self._adopted:
            return
        self._adopted.add(child)
        if child.testAttribute(QtCore.Qt.WidgetAttribute.WA_WState_ExplicitShowHide) and child.testAttribute(
            QtCore.Qt.WidgetAttribute.WA_WState_Hidden
        ):
            child.setProperty("visibilityToParent", False)
        child.installEventFilter(self)

    def _setChildVisibility(self, child: QtWidgets.QWidget) -> None:
        if not self.testAttribute(QtCore.Qt.WidgetAttribute.WA_WState_Created):
            return  # as CTK: children are hidden/shown once the button exists (see showEvent)
        self._forcing = True
        try:
            visible = not self._collapsed and child.property("visibilityToParent") is not False
            if child.testAttribute(QtCore.Qt.WidgetAttribute.WA_WState_Created) or not visible:
                child.setVisible(visible)
            if child.property("visibilityToParent") is not False:
                child.setAttribute(QtCore.Qt.WidgetAttribute.WA_WState_ExplicitShowHide, False)
        finally:
            self._forcing = False

    def eventFilter(self, child: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if not self._forcing and isinstance(child, QtWidgets.QWidget):
            if event.type() == QtCore.QEvent.Type.ShowToParent:
                child.setProperty("visibilityToParent", True)
                self._setChildVisibility(child)  # stays hidden while collapsed
            elif event.type() == QtCore.QEvent.Type.HideToParent:
                child.setProperty("visibilityToParent", False)
        return False

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self._updateChildren()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        painter.drawText(
            self.rect.adjusted(4, 0, 0, 0),  # Qt properties are attributes here, as in PythonQt
            QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop,
            ("+ " if self._collapsed else "- ") + self.text,
        )
        painter.end()


class ctkSliderWidget(qt.QWidget):
    """Libs/Widgets/ctkSliderWidget.h: a slider with a spin box for a double value.

    Properties ``value``, ``minimum``, ``maximum``, ``singleStep``, ``decimals``, ``prefix``, ``suffix``;
    signal ``valueChanged(double)``. The spin box (CTK's is a ctkDoubleSpinBox, here a QDoubleSpinBox) holds
    the value, so it is clamped to the range and rounded to ``decimals`` as in CTK; the defaults are the spin
    box's (0 to 99.99, 2 decimals, step 1). A step larger than the range is refused with a warning, as CTK does.
    """

    valueChanged = Signal(float)
    decimalsChanged = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._spinBox = qt.QDoubleSpinBox(self)
        layout = qt.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._spinBox)
        self._spinBox.valueChanged.connect(self.valueChanged)

    def _getValue(self) -> float:
        return self._spinBox.value

    def setValue(self, value: float) -> None:
        self._spinBox.setValue(value)

    value = Property(float, _getValue, setValue)

    def _getMinimum(self) -> float:
        return self._spinBox.minimum

    def setMinimum(self, minimum: float) -> None:
        self._spinBox.setMinimum(minimum)

    minimum = Property(float, _getMinimum, setMinimum)

    def _getMaximum(self) -> float:
        return self._spinBox.maximum

    def setMaximum(self, maximum: float) -> None:
        self._spinBox.setMaximum(maximum)

    maximum = Property(float, _getMaximum, setMaximum)

    def setRange(self, minimum: float, maximum: float) -> None:
        self._spinBox.setRange(minimum, maximum)

    def _getSingleStep(self) -> float:
        return self._spinBox.singleStep

    def setSingleStep(self, step: float) -> None:
        low, high = self._spinBox.minimum, self._spinBox.maximum
        if low != high and not (1e-300 < step <= high - low):  # ctkDoubleSlider::isValidStep
            QtCore.qWarning(
                f"ctkSliderWidget::setSingleStep() {step} is out of bounds. {low} {high} {self._spinBox.value}"
            )
            return
        self._spinBox.setSingleStep(step)

    singleStep = Property(float, _getSingleStep, setSingleStep)

    def _getDecimals(self) -> int:
        return self._spinBox.decimals

    def setDecimals(self, decimals: int) -> None:
        if decimals != self._spinBox.decimals:
            self._spinBox.setDecimals(decimals)
            self.decimalsChanged.emit(decimals)

    decimals = Property(int, _getDecimals, setDecimals, notify=decimalsChanged)

    def _getPrefix(self) -> str:
        return self._spinBox.prefix

    def setPrefix(self, prefix: str) -> None:
        self._spinBox.setPrefix(prefix)

    prefix = Property(str, _getPrefix, setPrefix)

    def _getSuffix(self) -> str:
        return self._spinBox.suffix

    def setSuffix(self, suffix: str) -> None:
        self._spinBox.setSuffix(suffix)

    suffix = Property(str, _getSuffix, setSuffix)


def _name_filter_extensions(name_filter: str) -> list[str]:
    """ctk::nameFilterToExtensions (Libs/Core/ctkUtils): "Images (*.png *.jpg)" or "*.pt" to its patterns."""
    match = re.match(r"^(.*)\(([a-zA-Z0-9_.*? +;#\-\[\]@\{\}/!<>\$%&=^~:\|]*)\)$", name_filter)
    if match is None:
        return [name_filter] if re.match(r"^[\w\s\.\*\_\~\$\[\]]+$", name_filter) else []
    return match.group(2).split()


def _name_filters_pattern(name_filters: list[str]) -> str:
    """ctk::nameFiltersToRegularExpression's pattern: what a ctkPathLineEdit accepts as a valid path."""
    alternatives = []
    for name_filter in name_filters:
        for extension in _name_filter_extensions(name_filter):
            match = re.search(r"\*\.(\w+)", extension)
            if match is not None:
                alternatives.append(r".*\." + match.group(1) + "?$")
    return "(" + "|".join(alternatives) + ")" if alternatives else ".+"


class ctkPathLineEdit(qt.QWidget):
    """Libs/Widgets/ctkPathLineEdit.h: a line edit for a file or directory path.

    Properties ``currentPath``, ``filters`` (the ``Filter`` flags, constants on the class as in the header),
    ``nameFilters``; signal ``currentPathChanged(QString)``. As in CTK the line edit has a validator made from
    ``nameFilters`` and ``currentPathChanged`` is emitted when the text changes to an acceptable path only (with
    no name filters any non-empty text is acceptable; with ``*.pt``, a path ending in ``.pt``).
    """

    Dirs, Files, Drives, NoSymLinks, AllEntries, TypeMask = 0x001, 0x002, 0x004, 0x008, 0x007, 0x00F
    Readable, Writable, Executable, PermissionMask, Modified, Hidden, System = (
        0x010,
        0x020,
        0x040,
        0x070,
        0x080,
        0x100,
        0x200,
    )
    AccessMask, AllDirs, CaseSensitive, NoDotAndDotDot, NoDot, NoDotDot, NoFilter = (
        0x3F0,
        0x400,
        0x800,
        0x1000,
        0x2000,
        0x4000,
        -1,
    )

    currentPathChanged = Signal(str)
    validInputChanged = Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._filters = self.AllEntries | self.NoDotAndDotDot | self.Readable | self.Executable
        self._nameFilters: list[str] = []
        self._hasValidInput = False
        self._validator = QtGui.QRegularExpressionValidator(self)
        self._lineEdit = qt.QLineEdit(self)
        self._lineEdit.setValidator(self._validator)
        layout = qt.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._lineEdit)
        self._updateFilter()
        self._lineEdit.textChanged.connect(self._updateHasValidInput)

    def _updateFilter(self) -> None:
        self._validator.setRegularExpression(QtCore.QRegularExpression(_name_filters_pattern(self._nameFilters)))

    def _updateHasValidInput(self) -> None:
        wasValid, self._hasValidInput = self._hasValidInput, self._lineEdit.hasAcceptableInput()
        if self._hasValidInput:
            self.currentPathChanged.emit(self.currentPath)
        if self._hasValidInput != wasValid:
            self.validInputChanged.emit(self._hasValidInput)

    def _getCurrentPath(self) -> str:
        return self._lineEdit.text

    def setCurrentPath(self, path: str) -> None:
        self._lineEdit.setText(path)

    currentPath = Property(str, _getCurrentPath, setCurrentPath, user=True)

    def _getFilters(self) -> int:
        return self._filters

    def setFilters(self, filters: int) -> None:
        self._filters = int(filters)
        self._updateFilter()

    filters = Property(int, _getFilters, setFilters)

    def _getNameFilters(self) -> list[str]:
        return list(self._nameFilters)

    def setNameFilters(self, nameFilters: list[str]) -> None:
        self._nameFilters = [str(f) for f in nameFilters]
        self._updateFilter()

    nameFilters = Property("QStringList", _getNameFilters, setNameFilters)


class ctkDirectoryButton(qt.QWidget):
    """Libs/Widgets/ctkDirectoryButton.h (ctkDirectoryButton.cpp of the CTK revision Slicer 5.12.3 builds): a button
    showing a directory.

    Properties ``directory`` (USER), ``caption`` and ``text``; signals ``directoryChanged(QString)`` and
    ``directorySelected(QString)``. As in CTK the directory is a QDir: it starts as "." and the button (a push
    button with the folder icon) shows its absolute path, the process's working directory (in Slicer the install
    folder on Windows, "/" on macOS; the constructor, DisplayAbsolutePath true). ``setDirectory`` emits
    ``directorySelected`` with the absolute path whenever it is called, and only when the new directory differs
    from the current one stores its absolute path, shows it and emits ``directoryChanged`` (which is what
    Slicer's parameterNodeWrapper connector listens to): choosing the folder shown changes nothing. ``text``, when
    set (null by default, as CTK's QString), is shown instead of the path (``updateDisplayText``).
    """

    directoryChanged = Signal(str)
    directorySelected = Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._directory = QtCore.QDir()
        self._caption = ""
        self._displayText: str | None = None  # CTK's null QString: the path is shown
        self._button = qt.QPushButton(self)
        layout = qt.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._button)
        self._button.setText(self._directory.absolutePath())
        self._button.setIcon(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_DirIcon))

    def _updateDisplayText(self) -> None:
        shown = self._displayText
        self._button.setText(self._directory.absolutePath() if shown is None else shown)

    def _getDirectory(self) -> str:
        return self._directory.path()

    def setDirectory(self, directory: str) -> None:
        newDirectory = QtCore.QDir(directory)
        self.directorySelected.emit(newDirectory.absolutePath())
        if self._directory == newDirectory:
            return
        self._directory.setPath(newDirectory.absolutePath())
        self._updateDisplayText()
        self.directoryChanged.emit(self._directory.absolutePath())

    directory = Property(str, _getDirectory, setDirectory, notify=directoryChanged, user=True)

    def _getText(self) -> str:
        return self._displayText or ""

    def setText(self, text: str) -> None:
        self._displayText = text
        self._updateDisplayText()

    text = Property(str, _getText, setText)

    def _getCaption(self) -> str:
        return self._caption

    def setCaption(self, caption: str) -> None:
        self._caption = caption

    caption = Property(str, _getCaption, setCaption)


class ctkComboBox(qt.QComboBox):
    """Libs/Widgets/ctkComboBox.h: a QComboBox (its additions, such as a default text, are not needed here)."""


class ctkCheckBox(qt.QCheckBox):
    """Libs/Widgets/ctkCheckBox.h: a QCheckBox (its additions, such as indicator icons, are not needed here)."""


class ctkMessageBox(qt.QMessageBox):
    """Libs/Widgets/ctkMessageBox.h: a QMessageBox; used by slicer.util.messageBox when not in testing mode.

    Only ``dontShowAgainSettingsKey`` is mirrored (as a plain property: the "don't show again" check box and its
    setting are not). ``exec_`` (PythonQt's name for ``exec``) is QMessageBox's exec, which blocks: outside testing
    mode a test answers it with :class:`slicer_harness.answering`.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._dontShowAgainSettingsKey = ""

    def _getKey(self) -> str:
        return self._dontShowAgainSettingsKey

    def setDontShowAgainSettingsKey(self, key: str) -> None:
        self._dontShowAgainSettingsKey = key

    dontShowAgainSettingsKey = Property(str, _getKey, setDontShowAgainSettingsKey)

    def exec_(self) -> int:
        return self.exec()


class ctkCheckablePushButton(qt.QPushButton):
    """Libs/Widgets/ctkCheckablePushButton.h (a ctkPushButton, a QPushButton): bare."""


class ctkColorPickerButton(qt.QPushButton):
    """Libs/Widgets/ctkColorPickerButton.h (a QPushButton): bare."""


class ctkDoubleSlider(qt.QWidget):
    """Libs/Widgets/ctkDoubleSlider.h (a QWidget): bare."""


class ctkDoubleSpinBox(qt.QWidget):
    """Libs/Widgets/ctkDoubleSpinBox.h (a QWidget): bare."""


class ctkRangeWidget(qt.QWidget):
    """Libs/Widgets/ctkRangeWidget.h (a QWidget): bare."""


class ctkDoubleRangeSlider(qt.QWidget):
    """Libs/Widgets/ctkDoubleRangeSlider.h (a QWidget): bare."""


_CLASSES = (
    ctkCollapsibleButton,
    ctkSliderWidget,
    ctkPathLineEdit,
    ctkDirectoryButton,
    ctkComboBox,
    ctkCheckBox,
    ctkMessageBox,
    ctkCheckablePushButton,
    ctkColorPickerButton,
    ctkDoubleSlider,
    ctkDoubleSpinBox,
    ctkRangeWidget,
    ctkDoubleRangeSlider,
)


def make_ctk_module() -> types.ModuleType:
    """The module installed as ``ctk``."""
    module = types.ModuleType("ctk", __doc__)
    for cls in _CLASSES:
        cls.__module__ = "ctk"
        setattr(module, cls.__name__, cls)
    module.__all__ = [cls.__name__ for cls in _CLASSES]
    return module
