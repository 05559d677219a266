"""``slicer.app`` and ``slicer.mrmlScene``: what the Slicer application provides at start-up.

The real ``slicer.app`` is the qSlicerApplication, a QApplication. Here the QApplication is PySide6's (created
offscreen unless one exists) and ``slicer.app`` is a QObject that gives what Slicer's Python layer and a module
call on it, delegating anything else (``clipboard()``, ``keyboardModifiers()``, ...) to that QApplication.

The scene is set up as the application sets up its own (qSlicerCoreApplication::setMRMLScene, the layout
manager, the slice widgets, the module logics), with slicer-core's real logics: a vtkSlicerApplicationLogic
(which adds the Selection and Interaction singletons and the slice orientation presets), a vtkMRMLLayoutLogic in
the Conventional layout (which adds the layout node, the 3D view node and the Red, Yellow and Green slice nodes
with their orientations Axial, Sagittal and Coronal), a vtkMRMLSliceLogic per slice view (which adds its slice
composite node, as each slice widget's logic does), and the logics of the Markups, Sequences and Terminologies
modules (which register their node classes and observe the scene; Slicer's default terminologies are not loaded).
The scene has the application's data IO (a remote IO logic with its cache folder, here a temporary one, and a data
IO manager logic, hooked in by vtkSlicerApplicationLogic::SetMRMLSceneDataIO as qSlicerCoreApplication does), which
reading a scene bundle (.mrb) needs; ``coreIOManager()`` saves and loads scenes (:mod:`.scene_io`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import slicer_core
import vtk
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Property, Signal

from .qt_adapter import qt
from .scene_io import qSlicerCoreIOManager

SLICE_VIEWS = ("Red", "Yellow", "Green")
DEFAULT_VERSION = (5, 12, 3)


def ensure_qapplication() -> QtWidgets.QApplication:
    """The process's QApplication, created (offscreen unless QT_QPA_PLATFORM says otherwise) if there is none."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QtWidgets.QApplication([sys.argv[0] if sys.argv else "slicer_harness"])
    elif not isinstance(app, QtWidgets.QApplication):
        raise RuntimeError("a QCoreApplication without widgets exists already; the harness needs a QApplication")
    return app


def use_temporary_settings() -> Path:
    """Send every default-constructed QSettings (``qt.QSettings()``, ``slicer.app.settings()``) to a fresh ini file
    in a temporary folder, for the user and the system scope: the user's real settings are never read or
    written. Where the process has set no organization, it is Slicer's (NA-MIC, application Slicer), as
    qSlicerCoreApplication sets them, so the file is ``<folder>/NA-MIC/Slicer.ini``."""
    if not QtCore.QCoreApplication.organizationName():
        QtCore.QCoreApplication.setOrganizationName("NA-MIC")
        QtCore.QCoreApplication.setOrganizationDomain("www.na-mic.org")
        QtCore.QCoreApplication.setApplicationName("Slicer")
    folder = Path(tempfile.mkdtemp(prefix="slicer_harness_settings_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(folder))
    QtCore.QSettings.setPath(
        QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.SystemScope, str(folder / "system")
    )
    return folder


@dataclass
class StartupScene:
    """The scene of a freshly started application and the logics that work on it (kept alive together)."""

    scene: Any
    application_logic: Any
    layout_logic: Any
    slice_logics: Any
    module_logics: dict[str, Any] = field(default_factory=dict)
    data_io: tuple = ()  # the remote IO logic and the data IO manager logic


def create_application_scene() -> StartupScene:
    """A real scene as the application has it at start-up (see the module's docstring)."""
    scene = slicer_core.vtkMRMLScene()
    app_logic = slicer_core.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    layout_logic = slicer_core.vtkMRMLLayoutLogic()
    layout_logic.SetMRMLScene(scene)
    layout_node = layout_logic.GetLayoutNode()
    layout_node.SetViewArrangement(layout_node.SlicerLayoutConventionalView)
    slice_logics = vtk.vtkCollection()
    for name in SLICE_VIEWS:
        slice_logic = slicer_core.vtkMRMLSliceLogic()
        slice_logic.SetMRMLApplicationLogic(app_logic)
        slice_logic.SetMRMLScene(scene)
        slice_logic.SetSliceNode(scene.GetNodeByID(f"vtkMRMLSliceNode{name}"))
        slice_logics.AddItem(slice_logic)
    app_logic.SetSliceLogics(slice_logics)
    remote_io = slicer_core.vtkMRMLRemoteIOLogic()  # qSlicerCoreApplicationPrivate::initDataIO
    cache = Path(tempfile.mkdtemp(prefix="slicer_harness_cache_"))
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    remote_io.GetCacheManager().SetRemoteCacheDirectory(str(cache))
    data_io_logic = slicer_core.vtkDataIOManagerLogic()
    data_io_logic.SetMRMLApplicationLogic(app_logic)
    data_io_logic.SetAndObserveDataIOManager(remote_io.GetDataIOManager())
    app_logic.SetMRMLSceneDataIO(scene, remote_io, data_io_logic)
    module_logics = {
        "Markups": slicer_core.vtkSlicerMarkupsLogic(),
        "Sequences": slicer_core.vtkSlicerSequencesLogic(),
        "Terminologies": slicer_core.vtkSlicerTerminologiesModuleLogic(),
    }
    warnings_shown = vtk.vtkObject.GetGlobalWarningDisplay()
    vtk.vtkObject.GlobalWarningDisplayOff()  # the Terminologies logic's six errors for the default files not here
    try:
        for logic in module_logics.values():
            logic.SetMRMLApplicationLogic(app_logic)
            logic.SetMRMLScene(scene)
    finally:
        vtk.vtkObject.SetGlobalWarningDisplay(warnings_shown)
    return StartupScene(scene, app_logic, layout_logic, slice_logics, module_logics, (remote_io, data_io_logic))


class qSlicerModuleManager(qt.QObject):
    """Base/QTCore/qSlicerModuleManager.h: ``module(name)``, ``modulesNames()`` and the signals
    ``moduleLoaded(QString)`` and ``moduleAboutToBeUnloaded(QString)``. The application emits the latter for each
    module on exit (and Slicer's ScriptedLoadableModuleWidget calls its ``cleanup()`` then); a test emits it
    with ``slicer.app.moduleManager().moduleAboutToBeUnloaded.emit("Name")``."""

    moduleLoaded = Signal(str)
    moduleAboutToBeUnloaded = Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._modules: dict[str, Any] = {}

    def registerModule(self, name: str, module: Any) -> None:
        """Harness only: what the module factory manager does when it has loaded a module."""
        self._modules[name] = module
        self.moduleLoaded.emit(name)

    def module(self, name: str) -> Any:
        """The loaded module of that name (qSlicerModuleFactoryManager::loadedModule), None if there is none."""
        self.parent().startupAsked(f"moduleManager().module({name!r})", name in self._modules)
        return self._modules.get(name)

    def modulesNames(self) -> list[str]:
        return sorted(self._modules)


class qSlicerMainWindow(qt.QMainWindow):
    """Base/QTApp/qSlicerMainWindow.h (a QMainWindow): the application's window, as ``slicer.util.mainWindow()``
    returns it. Empty here (no module panel, no views): it is there so that ``slicer.util``'s message functions,
    which show nothing without a main window (``_messageDisplay(..., mainWindowNeeded=True)``), show their boxes,
    parented to it, as in the application; it is never shown. ``slicer.util.mainWindow()`` finds it among the
    top-level widgets by its object name, which qSlicerMainWindow.ui gives it."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("qSlicerMainWindow")


class qSlicerCommandOptions(qt.QObject):
    """Base/QTGUI/qSlicerCommandOptions.h (and qSlicerCoreCommandOptions.h): the command line the harness's
    application was "started" with: ``noMainWindow`` unless the harness made one, testing as
    ``slicer.app.testingEnabled()``."""

    def __init__(self, application: qSlicerApplication) -> None:
        super().__init__(application)
        self._application = application

    noMainWindow = Property(bool, lambda self: self._application.mainWindow() is None, constant=True)
    testingEnabled = Property(bool, lambda self: self._application.testingEnabled(), constant=True)


class qSlicerApplication(qt.QObject):
    """Base/QTGUI/qSlicerApplication.h and Base/QTCore/qSlicerCoreApplication.h, as seen from Python.

    ``testingEnabled()`` (True by default, as a self-test run with ``--testing``: slicer.util's message
    functions then only log), ``applicationName``, ``applicationVersion``, ``majorVersion``, ``minorVersion``,
    ``mainApplicationMajorVersion``/``MinorVersion``/``PatchVersion`` (5.12.3 by default; qSlicerCoreApplication
    has no ``patchVersion``), ``documentationBaseUrl``, ``moduleDocumentationUrl()``, ``moduleManager()``,
    ``commandOptions()``, ``coreIOManager()`` (scenes only), ``mrmlScene()``, ``applicationLogic()``,
    ``moduleLogic(name)`` (a loaded module's, from the application logic), ``settings()`` and ``userSettings()`` (a
    QSettings in a temporary folder), ``topLevelWidgets()``, ``processEvents()``,
    ``setOverrideCursor()``/``restoreOverrideCursor()``, ``translate()``, ``startupEnvironment()`` (the process's
    environment when the harness was installed: slicer.util's launchConsoleProcess uses it), the ``aboutToQuit`` signal.
    ``mainWindow()`` returns None (as with ``--no-main-window``: Slicer's Python layer then only logs messages)
    unless ``setMainWindowEnabled(True)`` made a :class:`qSlicerMainWindow`; ``layoutManager()`` returns None:
    there are no views (code that uses the layout manager needs a guard or its own stand-in).
    ``setTestingEnabled()``, ``setMainWindowEnabled()`` and ``setVersion()`` are the harness's, to try the other
    mode (a user at the screen: testing off, a main window, message boxes answered with
    :class:`.dialogs.answering`) or an older Slicer; ``setStartupRecord()`` and ``startupAsked()`` let the start-up
    (:mod:`.startup`) note what a module asks of the application before it has it.
    """

    aboutToQuit = Signal()

    def __init__(self, qapp: QtWidgets.QApplication, startup: StartupScene, settings_folder: Path) -> None:
        super().__init__()
        self._qapp = qapp
        self._startup = startup  # holds the scene and its logics for as long as the application lives
        self._scene = startup.scene
        self._appLogic = startup.application_logic
        self._settingsFolder = settings_folder
        self._testing = True
        self._mainWindow: qSlicerMainWindow | None = None
        self._mainWindowEnabled = False
        self._version = DEFAULT_VERSION
        self._moduleManager = qSlicerModuleManager(self)
        self._coreIOManager = qSlicerCoreIOManager(startup.scene, self)
        self._commandOptions = qSlicerCommandOptions(self)
        self._settings: QtCore.QSettings | None = None
        self._startupEnvironment = QtCore.QProcessEnvironment.systemEnvironment()
        self._startupRecord: Any = None
        qapp.aboutToQuit.connect(self.aboutToQuit)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._qapp, name)  # a QApplication's own API

    # -- harness only ----------------------------------------------------------------------------------------
    def setTestingEnabled(self, enabled: bool) -> None:
        self._testing = bool(enabled)

    def setMainWindowEnabled(self, enabled: bool) -> None:
        """The one main window is made once and lives as long as the application, as Slicer's does (what a module
        parented to it, such as a shortcut, is never left with a deleted parent); disabled, it is no longer found
        (``mainWindow()`` and ``slicer.util.mainWindow()`` give None)."""
        if self._mainWindow is None:
            self._mainWindow = qSlicerMainWindow()
        self._mainWindowEnabled = bool(enabled)
        self._mainWindow.setObjectName("qSlicerMainWindow" if enabled else "")

    def setVersion(self, major: int, minor: int, patch: int) -> None:
        self._version = (int(major), int(minor), int(patch))

    def setStartupRecord(self, record: Any) -> None:
        """The :class:`.startup.StartupRecord` of the start-up under way, told what is asked too early."""
        self._startupRecord = record

    def startupAsked(self, what: str, available: bool) -> None:
        """Tell the start-up record that ``what`` was asked and whether the application has it yet."""
        if self._startupRecord is not None:
            self._startupRecord.asked(what, available)

    def _instantiating(self) -> bool:
        return self._startupRecord is not None and self._startupRecord.phase == "instantiating"

    # -- qSlicerCoreApplication / qSlicerApplication ----------------------------------------------------------
    def testingEnabled(self) -> bool:
        return self._testing

    applicationName = Property(str, lambda self: "Slicer", constant=True)
    applicationVersion = Property(str, lambda self: ".".join(map(str, self._version)), constant=True)
    majorVersion = Property(int, lambda self: self._version[0], constant=True)
    minorVersion = Property(int, lambda self: self._version[1], constant=True)
    mainApplicationMajorVersion = Property(int, lambda self: self._version[0], constant=True)
    mainApplicationMinorVersion = Property(int, lambda self: self._version[1], constant=True)
    mainApplicationPatchVersion = Property(int, lambda self: self._version[2], constant=True)
    documentationBaseUrl = Property(
        str, lambda self: f"https://slicer.readthedocs.io/en/{self._version[0]}.{self._version[1]}", constant=True
    )

    def moduleDocumentationUrl(self, moduleName: str) -> str:
        return f"{self.documentationBaseUrl}/user_guide/modules/{moduleName.lower()}.html"

    def coreIOManager(self) -> qSlicerCoreIOManager:
        return self._coreIOManager

    def moduleManager(self) -> qSlicerModuleManager:
        return self._moduleManager

    def commandOptions(self) -> qSlicerCommandOptions:
        return self._commandOptions

    def mrmlScene(self) -> Any:
        return self._scene

    def applicationLogic(self) -> Any:
        return self._appLogic

    def moduleLogic(self, moduleName: str) -> Any:
        """The logic the application logic has for a loaded module (set when the module is loaded), else None."""
        logic = self._appLogic.GetModuleLogic(moduleName)
        self.startupAsked(f"moduleLogic({moduleName!r})", logic is not None)
        return logic

    def settings(self) -> QtCore.QSettings:
        if self._settings is None:
            self._settings = qt.QSettings()
        return self._settings

    def userSettings(self) -> QtCore.QSettings:
        return self.settings()

    def settingsFolder(self) -> Path:
        """Harness only: where the temporary settings are."""
        return self._settingsFolder

    def mainWindow(self) -> qSlicerMainWindow | None:
        self.startupAsked("mainWindow()", not self._instantiating())
        return self._mainWindow if self._mainWindowEnabled else None

    def layoutManager(self) -> None:
        self.startupAsked("layoutManager()", not self._instantiating())
        return None

    def topLevelWidgets(self) -> list[QtWidgets.QWidget]:
        return QtWidgets.QApplication.topLevelWidgets()

    def processEvents(self) -> None:
        QtWidgets.QApplication.processEvents()

    def setOverrideCursor(self, cursor: Any) -> None:
        QtWidgets.QApplication.setOverrideCursor(QtGui.QCursor(cursor))

    def restoreOverrideCursor(self) -> None:
        QtWidgets.QApplication.restoreOverrideCursor()

    def startupEnvironment(self) -> QtCore.QProcessEnvironment:
        return QtCore.QProcessEnvironment(self._startupEnvironment)

    def translate(self, context: str, text: str) -> str:
        return QtCore.QCoreApplication.translate(context, text)
