"""The ``slicer`` module: slicer-core's classes, Slicer 5.12.3's own Python files, and the harness's stand-ins.

Inside the application ``slicer`` is Slicer's ``Base/Python/slicer`` package, whose ``__init__.py`` imports the
application's wrapped kits (MRML, logics, qMRML widgets, ...) into its namespace and makes ``slicer.modules``
and ``slicer.moduleNames``; the application then sets ``slicer.app`` and ``slicer.mrmlScene``.

Here that ``__init__.py`` is not run (the kits it imports do not exist). The module object is made instead, in
the two steps in which Slicer fills it:

* :func:`make_slicer_module`, what ``__init__.py`` imports (its ``kits``: MRML, vtkAddon, vtkSegmentationCore, the
  base logic, the qMRML widgets and the qSlicer base classes): the public names of slicer-core's kits that are not
  a module's (the real vtkMRML*, vtkSlicerApplicationLogic, vtkSegmentation* classes), the qMRML and qSlicer
  stand-ins, ``modules`` and ``moduleNames`` (empty, as ``__init__.py`` makes them);
* :func:`import_module_classes`, what the module factories add when the first of Slicer's loadable modules is
  instantiated (``qSlicerScriptedUtils::importModulePythonExtensions`` imports every
  ``vtkSlicer*Module{Logic,MRML,MRMLDisplayableManager,VTKWidgets}Python`` library of Slicer's
  ``qt-loadable-modules`` folder into ``slicer``): the loadable modules' own classes (vtkSlicerSegmentationsModuleLogic,
  vtkSlicerMarkupsLogic, vtkMRMLSequenceBrowserNode, ...).

``app`` and ``mrmlScene`` are set by the application (slicerqt.py). The package's ``__path__`` is the 5.12.3 folder,
so ``slicer.util``, ``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule`` and ``slicer.i18n`` are
Slicer's unmodified files.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import pkgutil
import re
import sys
import types
from pathlib import Path

import slicer_core

from . import modules, qmrml_standins

SLICER_SUBMODULES = ("i18n", "util", "parameterNodeWrapper", "ScriptedLoadableModule")
"""Slicer's own files imported at install (``slicer.packaging``, ``slicer.testing`` and ``slicer.cli`` can be
imported too; ``slicer.logic`` needs a kit the application has and cannot)."""

_PACKAGE_DOC = (sys.modules[__name__].__doc__ or "").split("\n\n")[0]


def make_slicer_module(package_dir: Path) -> types.ModuleType:
    """A new ``slicer`` package object whose submodules come from ``package_dir`` (the 5.12.3 ``slicer`` folder)."""
    module = types.ModuleType("slicer", _PACKAGE_DOC)
    spec = importlib.machinery.ModuleSpec("slicer", None, is_package=True)
    spec.submodule_search_locations = [str(package_dir)]
    module.__spec__ = spec
    module.__path__ = [str(package_dir)]
    module.__package__ = "slicer"
    module_classes = _module_class_names()
    for name in dir(slicer_core):
        if not name.startswith("_") and name not in module_classes:
            setattr(module, name, getattr(slicer_core, name))
    for cls in (
        *qmrml_standins.STANDINS,
        modules.qSlicerScriptedLoadableModule,
        modules.qSlicerScriptedLoadableModuleWidget,
        modules.qSlicerLoadableModule,
    ):
        setattr(module, cls.__name__, cls)
    for name, doc in (
        ("modules", "This object provides an access to all instantiated Slicer modules."),
        ("moduleNames", "This object provides an access to all instantiated Slicer module names."),
    ):
        submodule = types.ModuleType(name, doc)
        setattr(module, name, submodule)
    return module


MODULE_LIBRARY = re.compile(r"vtkSlicer\w+Module(Logic|MRML|MRMLDisplayableManager|VTKWidgets)")
"""The libraries of the loadable modules (the ``filematch`` patterns of importModulePythonExtensions)."""


def _module_class_names() -> set[str]:
    """The names slicer-core has from the loadable modules' libraries (the libraries themselves included)."""
    names: set[str] = set()
    for library in pkgutil.iter_modules(slicer_core.__path__):
        if MODULE_LIBRARY.fullmatch(library.name):
            names.add(library.name)
            library_names = dir(importlib.import_module(f"slicer_core.{library.name}"))
            names.update(name for name in library_names if not name.startswith("_"))
    return names


def import_module_classes(module: types.ModuleType) -> None:
    """Add the loadable modules' classes to ``module`` (a ``slicer`` made by :func:`make_slicer_module`), as the
    factory does when it instantiates the first of Slicer's loadable modules; nothing is replaced."""
    for name in sorted(_module_class_names()):
        if not hasattr(module, name) and hasattr(slicer_core, name):
            setattr(module, name, getattr(slicer_core, name))


_registered: dict[str, types.ModuleType] = {}  # the sys.modules entries of the registered slicer (slicer.util...)


def register(module: types.ModuleType) -> None:
    """Make ``module`` the process's ``slicer`` and import Slicer's files into it.

    Any other ``slicer`` or ``slicer.*`` entry of sys.modules (slicer-core's own ``slicer`` meta-package, its
    ``slicer.util``) is dropped, and those of an earlier registration of ``module`` are put back, so that
    ``import slicer.util`` gives Slicer's file, imported once.
    """
    if _registered.get("slicer") is not module:
        _registered.clear()
    for key in [k for k in sys.modules if k == "slicer" or k.startswith("slicer.")]:
        if _registered.get(key) is not sys.modules[key]:
            del sys.modules[key]
    sys.modules.update(_registered)
    sys.modules["slicer"] = module
    sys.modules["slicer.modules"] = module.modules
    sys.modules["slicer.moduleNames"] = module.moduleNames
    for name in SLICER_SUBMODULES:
        __import__(f"slicer.{name}")
    _registered.update({k: v for k, v in sys.modules.items() if k == "slicer" or k.startswith("slicer.")})
