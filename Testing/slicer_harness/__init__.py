"""A 3D Slicer stand-in for testing scripted modules in plain Python, with real Qt (PySide6, offscreen).

What Slicer's Python code needs comes from three places:

* MRML, VTK and the module logics are real: the PyPI package ``slicer-core``;
* Slicer's own Python layer is real: ``Base/Python/slicer`` of Slicer 5.12.3, unmodified (``util``,
  ``parameterNodeWrapper``, ``ScriptedLoadableModule``, ``i18n``), in ``../shared/slicer-5.12.3-python`` next to
  the repository or where ``GMMSEG_SLICER_PYTHON`` points (the folder holding ``slicer/``);
* what exists only inside the application is supplied here: the ``qt`` module (PythonQt, :mod:`.qt_adapter` and
  :mod:`.loader`), the ``ctk`` module (:mod:`.ctk_standins`), the qMRML/qSlicer widgets (:mod:`.qmrml_standins`),
  ``slicer.app`` and the start-up scene (:mod:`.application`), and the module objects with :func:`load_module`
  (:mod:`.modules`).

Call :func:`install` before importing the module under test (then :func:`load_module` loads it into the running
application), or :func:`start_application` in a fresh process to start the application with the module among its
modules, imported and loaded where Slicer does it (:mod:`.startup`). :func:`pump` / :func:`wait_until` run the event
loop, :func:`from_event_loop` calls a slot from it as the application does, and :class:`answering` answers message
boxes. :func:`.releases.slicer_release` makes the installed harness behave as Slicer 5.10.0 where its Python layer
differs from 5.12.3's in what the module uses. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .startup import StartupRecord

__all__ = [
    "LoadedModule",
    "answering",
    "from_event_loop",
    "install",
    "load_module",
    "pump",
    "slicer_python_dir",
    "start_application",
    "wait_until",
]

ENVIRONMENT_VARIABLE = "GMMSEG_SLICER_PYTHON"
_REPOSITORY = Path(__file__).resolve().parents[2]

_LAZY = {
    "pump": "events",
    "wait_until": "events",
    "from_event_loop": "events",
    "answering": "dialogs",
    "load_module": "modules",
    "LoadedModule": "modules",
}

_installed: dict[str, types.ModuleType] = {}
_keep_alive: list[object] = []


def slicer_python_dir() -> Path:
    """The folder holding Slicer 5.12.3's ``slicer`` package: ``$GMMSEG_SLICER_PYTHON``, else
    ``<repository>/../shared/slicer-5.12.3-python``."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(configured) if configured else _REPOSITORY.parent / "shared" / "slicer-5.12.3-python"


def install() -> types.ModuleType:
    """Put ``qt``, ``ctk`` and ``slicer`` into ``sys.modules`` (once; later calls put the same objects back) and
    return ``slicer``: the application started with its own loadable modules (Markups, Sequences, Terminologies).
    Creates the QApplication (offscreen) if there is none, and points default QSettings to a temporary folder.
    Raises FileNotFoundError if Slicer's Python folder is missing."""
    _check_slicer_python()
    if _installed:
        _put_back()
        return _installed["slicer"]
    _start(())
    return _installed["slicer"]


def start_application(scripted_modules: Sequence[str | Path], main_window: bool = True) -> StartupRecord:
    """Start the application with the scripted module files ``scripted_modules`` among its modules, in Slicer's
    order (:mod:`.startup`: each file is imported and its module made where Slicer instantiates it, before any
    module is loaded and before the main window exists), and return what happened. Only in a process where the
    harness is not installed yet (a fresh one: the conftest of the test suite installs it)."""
    _check_slicer_python()
    if _installed:
        raise RuntimeError(
            "the harness's application has started already: start_application() needs a fresh "
            "process (load_module() loads a module into a running application)"
        )
    return _start(scripted_modules, main_window)


def _check_slicer_python() -> None:
    package_dir = slicer_python_dir() / "slicer"
    if not (package_dir / "util.py").is_file():
        raise FileNotFoundError(
            f"Slicer 5.12.3's Python layer not found at {package_dir} (set {ENVIRONMENT_VARIABLE} "
            "to the folder that holds slicer/)"
        )


def _start(scripted_modules: Sequence[str | Path], main_window: bool = False) -> StartupRecord:
    from . import application
    from .ctk_standins import make_ctk_module
    from .loader import qt
    from .modules import qSlicerLoadableModule
    from .slicer_module import make_slicer_module, register
    from .startup import follow_loaded_modules, start

    qapp = application.ensure_qapplication()
    settings_folder = application.use_temporary_settings()
    sys.modules["qt"] = qt
    sys.modules["ctk"] = make_ctk_module()
    slicer = make_slicer_module(slicer_python_dir() / "slicer")
    startup = application.create_application_scene()
    slicer.mrmlScene = startup.scene
    slicer.app = application.qSlicerApplication(qapp, startup, settings_folder)
    _keep_alive.append(qapp)
    _installed.update(qt=qt, ctk=sys.modules["ctk"], slicer=slicer)
    register(slicer)
    follow_loaded_modules(slicer)
    loadable = {name: qSlicerLoadableModule(name, logic, slicer.app) for name, logic in startup.module_logics.items()}
    return start(slicer, loadable, [Path(path) for path in scripted_modules], main_window)


def _put_back() -> None:
    from .slicer_module import register

    sys.modules["qt"] = _installed["qt"]
    sys.modules["ctk"] = _installed["ctk"]
    register(_installed["slicer"])


def __getattr__(name: str) -> Any:
    """``pump``, ``wait_until``, ``from_event_loop``, ``answering``, ``load_module``, ``LoadedModule``: imported on
    first use, so that this package (and :func:`slicer_python_dir`) can be imported where PySide6 or slicer-core is
    missing."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
