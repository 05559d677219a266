"""The module objects Slicer makes for modules, and :func:`load_module`, which loads a scripted module as Slicer does.

For a scripted module ``<Name>.py`` Slicer (qSlicerScriptedLoadableModuleFactory, qSlicerScriptedLoadableModule,
qSlicerScriptedLoadableModuleWidget, qSlicerModulePanel) does, in this order:

1. puts the module's folder on ``sys.path`` and imports the file as module ``<Name>``;
2. makes the C++ module object (title, categories, ..., ``path`` = the file) and instantiates the Python class
   ``<Name>`` with it as ``parent``: ``slicer.modules.<Name>Instance``; registers the module object as
   ``slicer.modules.<name>`` (lower case) and ``slicer.moduleNames.<Name>``; calls the module's ``setup()``;
3. when the module is first shown: makes the module panel (a qSlicerScriptedLoadableModuleWidget, a widget with
   a QVBoxLayout), instantiates ``<Name>Widget`` with the panel as ``parent`` (``slicer.modules.<Name>Widget``),
   calls ``setup()`` (then the panel gets the scene), shows the panel and calls ``enter()``;
4. on switching to another module calls ``exit()``; on exit emits ``moduleAboutToBeUnloaded``.

``slicer.util.reloadScriptedModule`` (Slicer's own function) works on these: it re-imports the file, calls the
old widget's ``cleanup()`` and the panel's ``reload()``, which makes the new widget and calls its ``setup()``.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Property

from .qmrml_standins import qSlicerWidget
from .qt_adapter import qt


def _slicer() -> types.ModuleType:
    return sys.modules["slicer"]


def _call_if_defined(obj: Any, method: str) -> None:
    """qSlicerPythonCppAPI::callMethod: call the Python method if the object has it."""
    function = getattr(obj, method, None)
    if callable(function):
        function()


class qSlicerLoadableModule(qt.QObject):
    """Base/QTGUI/qSlicerLoadableModule.h (a qSlicerAbstractCoreModule) as Python sees a C++ module such as
    Markups: ``name``, ``title``, ``logic()`` (the module logic on the application's scene) and
    ``widgetRepresentation()`` (None: no module GUI here)."""

    def __init__(self, name: str, logic: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self._name = name
        self._logic = logic

    name = Property(str, lambda self: self._name, constant=True)
    title = Property(str, lambda self: self._name, constant=True)

    def logic(self) -> Any:
        return self._logic

    def widgetRepresentation(self) -> None:
        return None


class qSlicerScriptedLoadableModule(qt.QObject):
    """Base/QTGUI/qSlicerScriptedLoadableModule.h: the C++ object behind a scripted module (the ``parent`` of
    its ScriptedLoadableModule). Properties ``title``, ``categories``, ``contributors``, ``helpText``,
    ``acknowledgementText``, ``icon``, ``dependencies``, ``hidden``, ``index`` (the Python class sets them),
    ``name`` and ``path`` (qSlicerAbstractCoreModule's: the module name and its .py file);
    ``widgetRepresentation()`` makes the module panel on first use, as qSlicerAbstractCoreModule does."""

    def __init__(self, path: Path, parent: Any = None) -> None:
        super().__init__(parent)
        self._path = str(path)
        self._name = path.stem
        self._values: dict[str, Any] = {
            "title": "",
            "categories": [],
            "contributors": [],
            "helpText": "",
            "acknowledgementText": "",
            "icon": QtGui.QIcon(),
            "dependencies": [],
            "hidden": False,
            "index": -1,
        }
        self._widgetRepresentation: qSlicerScriptedLoadableModuleWidget | None = None
        self._widgetCreationEnabled = True

    def _value(name: str, kind: Any) -> Property:
        def getter(self: qSlicerScriptedLoadableModule) -> Any:
            return self._values[name]

        def setter(self: qSlicerScriptedLoadableModule, value: Any) -> None:
            self._values[name] = list(value) if kind == "QStringList" else value

        return Property(kind, getter, setter)

    title = _value("title", str)
    categories = _value("categories", "QStringList")
    contributors = _value("contributors", "QStringList")
    helpText = _value("helpText", str)
    acknowledgementText = _value("acknowledgementText", str)
    icon = _value("icon", QtGui.QIcon)
    dependencies = _value("dependencies", "QStringList")
    hidden = _value("hidden", bool)
    index = _value("index", int)
    del _value

    name = Property(str, lambda self: self._name, constant=True)
    path = Property(str, lambda self: self._path, constant=True)

    def _getWidgetCreationEnabled(self) -> bool:
        return self._widgetCreationEnabled

    def setWidgetRepresentationCreationEnabled(self, enabled: bool) -> None:
        self._widgetCreationEnabled = bool(enabled)

    widgetRepresentationCreationEnabled = Property(
        bool, _getWidgetCreationEnabled, setWidgetRepresentationCreationEnabled
    )

    def widgetRepresentation(self) -> qSlicerScriptedLoadableModuleWidget | None:
        if self._widgetRepresentation is None and self._widgetCreationEnabled:
            panel = qSlicerScriptedLoadableModuleWidget()
            panel.setPythonSource(self._path)
            panel.setModule(self)
            panel.setMRMLScene(_slicer().mrmlScene)  # after setup, as qSlicerAbstractCoreModule does
            self._widgetRepresentation = panel
        return self._widgetRepresentation


class qSlicerScriptedLoadableModuleWidget(qSlicerWidget):
    """Base/QTGUI/qSlicerScriptedLoadableModuleWidget.h: the module panel of a scripted module.

    A widget with a QVBoxLayout; ``setPythonSource`` instantiates ``<Name>Widget`` with the panel as parent and
    sets ``slicer.modules.<Name>Widget``; ``self()`` is that Python widget; ``setup()``, ``enter()`` and ``exit()``
    call its methods (``isEntered`` follows, as qSlicerAbstractModuleWidget's); ``reload()`` makes a new Python
    widget from the module now in ``sys.modules`` and calls its ``setup()``.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        qt.QVBoxLayout(self)
        self._pythonSource = ""
        self._self: Any = None
        self._module: qSlicerScriptedLoadableModule | None = None
        self._entered = False

    def pythonSource(self) -> str:
        return self._pythonSource

    def setPythonSource(self, filePath: str) -> bool:
        moduleName = Path(filePath).stem
        className = moduleName + "Widget"
        module = sys.modules.get(moduleName)
        if module is None or not hasattr(module, className):
            module = _import_source(moduleName, Path(filePath))
        self._self = getattr(module, className)(self)
        self._pythonSource = filePath
        setattr(_slicer().modules, className, self._self)
        return True

    def self(self) -> Any:
        return self._self

    def setModule(self, module: qSlicerScriptedLoadableModule) -> None:
        """qSlicerAbstractModuleRepresentation::setModule: remembers the module and calls setup()."""
        self._module = module
        self.setup()

    def module(self) -> qSlicerScriptedLoadableModule | None:
        return self._module

    moduleName = Property(str, lambda self: Path(self._pythonSource).stem, constant=True)
    isEntered = Property(bool, lambda self: self._entered)

    def setup(self) -> None:
        if self._module is not None:  # qSlicerAbstractModuleWidget::setup
            self.setObjectName(f"{self._module.name}ModuleWidget")
            self.setWindowTitle(self._module.title)
            self.setWindowIcon(self._module.icon)
        _call_if_defined(self._self, "setup")

    def enter(self) -> None:
        assert not self._entered, "enter() of a module widget that is entered"  # as the C++ Q_ASSERT
        self._entered = True
        _call_if_defined(self._self, "enter")

    def exit(self) -> None:
        assert self._entered, "exit() of a module widget that is not entered"
        self._entered = False
        _call_if_defined(self._self, "exit")

    def reload(self) -> None:
        if not Path(self._pythonSource).is_file():
            return
        self.setPythonSource(self._pythonSource)
        self.setup()


def _import_source(moduleName: str, path: Path) -> types.ModuleType:
    """qSlicerScriptedUtils::loadSourceAsModule: the file imported as ``moduleName`` into sys.modules."""
    spec = importlib.util.spec_from_file_location(moduleName, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[moduleName] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(moduleName, None)
        raise
    return module


@dataclass
class LoadedModule:
    """A scripted module loaded by :func:`load_module`: ``module`` is ``slicer.modules.<name>``."""

    module: qSlicerScriptedLoadableModule

    @property
    def name(self) -> str:
        return self.module.name

    @property
    def instance(self) -> Any:
        """``slicer.modules.<Name>Instance`` (the ScriptedLoadableModule)."""
        return getattr(_slicer().modules, self.name + "Instance")

    @property
    def panel(self) -> qSlicerScriptedLoadableModuleWidget | None:
        return self.module.widgetRepresentation()

    @property
    def widget(self) -> Any:
        """The current ``slicer.modules.<Name>Widget`` (a new one after reloadScriptedModule)."""
        return self.panel.self()

    def enter(self) -> None:
        """Show the module, as the module panel does when it is selected: show, then enter()."""
        self.panel.show()
        self.panel.enter()

    def exit(self) -> None:
        """Leave the module, as the module panel does when another one is selected: exit(), then hide."""
        self.panel.exit()
        self.panel.hide()


def instantiate_scripted(path: Path) -> qSlicerScriptedLoadableModule:
    """ctkFactoryScriptedItem::instanciator: the C++ module object of the file ``path``, its file imported as module
    ``<Name>`` and ``<Name>(parent)`` made (``slicer.modules.<Name>Instance``); widget creation is turned off
    when the file has no ``<Name>Widget``."""
    slicer = _slicer()
    name = path.stem
    module_object = qSlicerScriptedLoadableModule(path, slicer.app)
    python_module = _import_source(name, path)
    instance = getattr(python_module, name)(module_object)
    setattr(slicer.modules, name + "Instance", instance)
    if not hasattr(python_module, name + "Widget"):
        module_object.setWidgetRepresentationCreationEnabled(False)
    return module_object


def setup_scripted(module_object: qSlicerScriptedLoadableModule) -> None:
    """qSlicerScriptedLoadableModule::setup: the Python module's ``setup()``, if it has one."""
    _call_if_defined(getattr(_slicer().modules, module_object.name + "Instance"), "setup")


def load_module(module_file: str | Path, show: bool = True) -> LoadedModule:
    """Load the scripted module ``module_file`` into the running application, as Slicer does for a module added
    after start-up (registered, instantiated, loaded: ``setup()``, then ``slicer.modules.<name>``); with ``show``,
    also make its widget, call ``setup()``, show the panel and ``enter()`` it, as when the user selects the module.
    For a module loaded at start-up, in Slicer's order, see :func:`slicer_harness.start_application`."""
    from .startup import load_module_object

    slicer = _slicer()
    path = Path(module_file).resolve()
    setattr(slicer.moduleNames, path.stem, path.stem)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module_object = instantiate_scripted(path)
    load_module_object(slicer, path.stem, module_object)
    loaded = LoadedModule(module_object)
    if show and module_object.widgetRepresentation() is not None:
        loaded.enter()
    return loaded
