"""The application's start-up: modules registered, instantiated and loaded in the order Slicer does it.

Slicer 5.10 and 5.12 start (qSlicerApplicationHelper::postInitializeApplication, qSlicerModuleFactoryManager,
slicerqt.py) with:

1. ``slicer`` made by ``slicer/__init__.py`` (the kits, no module's classes), ``slicer.app`` and
   ``slicer.mrmlScene`` set (slicerqt.py);
2. registerModules: every module found is registered; ``slicer.moduleNames.<Name>`` is set for each
   (modulesRegistered); a scripted module's folder goes on ``sys.path`` (ctkFactoryScriptedItem::load);
3. instantiateModules, in the order of the module names (the factory manager's QMap): a loadable module's
   instantiation imports the classes of every loadable module of its folder into ``slicer``
   (importModulePythonExtensions: for Slicer's own folder from its first module, Annotations, on); a scripted
   module's instantiation imports its file and makes ``<Name>(parent)`` (qSlicerScriptedLoadableModule::setPythonSource:
   ``slicer.modules.<Name>Instance``). There is no main window yet, so no layout manager, and no module is loaded:
   ``slicer.modules.<name>`` exists for none and no module logic is set;
4. the main window is made (unless ``--no-main-window``);
5. loadModule for each instantiated module in name order, the modules it depends on first: the module logic is set
   in the application logic, a scripted module's ``setup()`` is called, a module without title is refused, and
   ``moduleLoaded`` makes ``slicer.modules.<name>`` (slicerqt.py's setSlicerModules).

A module that fails to instantiate is left out, as Slicer leaves it out ("Fail to instantiate module"), and the
others go on. :class:`StartupRecord` keeps what happened, and what a module asked of the application before the
application had it (``slicer.app.layoutManager()``, ``mainWindow()``, ``moduleLogic(name)``,
``moduleManager().module(name)``): Slicer answers None then, as the harness does.
"""

from __future__ import annotations

import logging
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIRST_SLICER_LOADABLE_MODULE = "Annotations"
"""The first module of Slicer's ``qt-loadable-modules`` folder in name order (Modules/Loadable of 5.10.0 and 5.12.3):
its instantiation imports every loadable module's classes into ``slicer``."""


@dataclass
class StartupRecord:
    """What the start-up did: the modules instantiated and loaded (in order), those that failed (name: the error),
    and the early questions (``"<Module>: <what>"``) asked of the application before it had the answer."""

    instantiated: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    early: list[str] = field(default_factory=list)
    phase: str = "instantiating"  # then "loading", then "started"
    current: str = ""  # the module being instantiated or loaded

    def asked(self, what: str, available: bool) -> None:
        """Note a question to the application that it cannot answer yet (during start-up only)."""
        if not available and self.phase != "started":
            self.early.append(f"{self.current}: {what}")

    def as_dict(self) -> dict[str, Any]:
        return {"instantiated": self.instantiated, "loaded": self.loaded, "failed": self.failed, "early": self.early}


def start(
    slicer: types.ModuleType, loadable: dict[str, Any], scripted: list[Path], main_window: bool = False
) -> StartupRecord:
    """Start the application made in ``slicer`` with the loadable modules ``loadable`` (name: module object) and the
    scripted module files ``scripted``, as Slicer does (see the module's docstring)."""
    from .modules import instantiate_scripted
    from .slicer_module import import_module_classes

    app = slicer.app
    record = StartupRecord()
    app.setStartupRecord(record)
    paths = {path.stem: path for path in (Path(p).resolve() for p in scripted)}
    for name in sorted({*loadable, *paths}):  # registerModules
        setattr(slicer.moduleNames, name, name)
    for path in paths.values():
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
    modules: dict[str, Any] = {}
    for name in sorted({*loadable, *paths}):  # instantiateModules
        record.current = name
        if name > FIRST_SLICER_LOADABLE_MODULE:
            import_module_classes(slicer)
        try:
            modules[name] = loadable[name] if name in loadable else instantiate_scripted(paths[name])
        except Exception as error:  # Slicer prints the traceback and leaves the module out
            logging.error("Fail to instantiate module %s\n%s", name, traceback.format_exc())
            record.failed[name] = f"{type(error).__name__}: {error}"
            continue
        record.instantiated.append(name)
    record.phase = "loading"
    if main_window:
        app.setMainWindowEnabled(True)
    for name in record.instantiated:
        _load(slicer, name, modules, record)
    record.phase, record.current = "started", ""
    return record


def _load(slicer: types.ModuleType, name: str, modules: dict[str, Any], record: StartupRecord) -> bool:
    """qSlicerModuleFactoryManager::loadModule: the dependencies, then the module; whether it is loaded."""
    if name in record.loaded:
        return True
    module = modules.get(name)
    if module is None:
        return False
    for dependency in getattr(module, "dependencies", []):
        if not _load(slicer, dependency, modules, record):
            record.failed[name] = f"the dependency {dependency} failed to be loaded"
            return False
    record.current = name
    try:
        load_module_object(slicer, name, module)
    except Exception as error:
        logging.error("Failed to load module %s\n%s", name, traceback.format_exc())
        record.failed[name] = f"{type(error).__name__}: {error}"
        return False
    record.loaded.append(name)
    return True


def load_module_object(slicer: types.ModuleType, name: str, module: Any) -> None:
    """One module's loadModule: its logic set in the application logic, ``setup()`` of a scripted module, the
    title check, then ``moduleLoaded`` (which sets ``slicer.modules.<name>``)."""
    from .modules import qSlicerScriptedLoadableModule, setup_scripted

    if isinstance(module, qSlicerScriptedLoadableModule):
        setup_scripted(module)
    else:
        slicer.app.applicationLogic().SetModuleLogic(name, module.logic())
    if not module.title:
        raise RuntimeError(f"Failed to retrieve module title corresponding to module name: {name}")
    slicer.app.moduleManager().registerModule(name, module)


def follow_loaded_modules(slicer: types.ModuleType) -> None:
    """slicerqt.py's setSlicerModules: each loaded module becomes ``slicer.modules.<name>``."""
    manager = slicer.app.moduleManager()
    manager.moduleLoaded.connect(lambda name: setattr(slicer.modules, name.lower(), manager.module(name)))


def main(argv: list[str]) -> int:
    """``python -m slicer_harness.startup [--show] MODULE.py ...``: start the application (in this fresh process)
    with those scripted modules and print the :class:`StartupRecord` as JSON; with ``--show``, each loaded scripted
    module is then selected (its panel made, ``setup()`` and ``enter()`` called) and listed under ``shown``."""
    import json

    from . import start_application
    from .modules import LoadedModule

    show = "--show" in argv
    files = [Path(arg) for arg in argv if arg != "--show"]
    record = start_application(files)
    outcome = record.as_dict()
    if show:
        slicer = sys.modules["slicer"]
        outcome["shown"] = []
        for path in files:
            module = getattr(slicer.modules, path.stem.lower(), None)
            if module is not None and module.widgetRepresentation() is not None:
                LoadedModule(module).enter()
                outcome["shown"].append(path.stem)
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
