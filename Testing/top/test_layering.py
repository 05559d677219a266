"""The library's floors (README, "Architecture"): each imports only from its own floor and those below it, no
module takes part in a circle of imports, and nothing below the MRML floor imports Slicer, VTK or Qt.

Every import counts, also those inside functions (the lazy ones that keep torch out of Slicer's process)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from conftest import ROOT

LIBRARY = ROOT / "GmmSegModule" / "GmmSegLib"
# "": cli, demo and bench, on top
FLOORS = ("core", "io", "model", "clinical", "inference", "evaluation", "training", "mrml", "gui", "web", "")
BESIDE = {"gui", "web"}  # the Slicer panel and the web app: both on the MRML logic, neither on the other
APPLICATION = {"slicer", "vtk", "qt", "ctk", "PythonQt", "vtkmodules"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else ""


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """The GmmSegLib modules ``path`` imports, and the other top-level packages it imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    inner, outer = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("GmmSegLib"):
                    inner.add(alias.name)
                else:
                    outer.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("GmmSegLib"):
                outer.add(target.split(".")[0])
            elif _is_module_file(target):
                inner.add(target)
            else:  # a package: its submodules, or names of its __init__
                inner.update(f"{target}.{a.name}" if _exists(f"{target}.{a.name}") else target for a in node.names)
    return inner, outer


def _is_module_file(module: str) -> bool:
    return LIBRARY.parent.joinpath(*module.split(".")).with_suffix(".py").is_file()


def _exists(module: str) -> bool:
    path = LIBRARY.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@functools.cache
def _graph() -> dict[str, tuple[set[str], set[str]]]:
    return {_module_name(path): _imports(path) for path in sorted(LIBRARY.rglob("*.py"))}


def test_every_module_sits_on_a_floor_with_its_description():
    for path in LIBRARY.iterdir():
        if path.is_dir() and not path.name.startswith("__"):
            assert path.name in FLOORS, f"{path.name}: not a floor of the README's architecture"
            assert ast.get_docstring(ast.parse((path / "__init__.py").read_text())), f"{path.name} says not what it is"
    for path in LIBRARY.glob("*.py"):
        assert path.stem in ("__init__", "cli", "demo", "bench"), f"{path.name}: outside the floors"


def test_no_floor_imports_from_a_floor_above_it():
    wrong = []
    for module, (inner, _) in _graph().items():
        for target in inner:
            if FLOORS.index(_floor(target)) > FLOORS.index(_floor(module)):
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_the_slicer_panel_and_the_web_app_stand_beside_each_other():
    crossing = [
        f"{module} -> {target}"
        for module, (inner, outer) in _graph().items()
        for target in inner
        if _floor(module) in BESIDE and _floor(target) in BESIDE and _floor(target) != _floor(module)
    ]
    assert not crossing, crossing
    web_qt = {m: sorted(o & {"qt", "ctk", "PythonQt"}) for m, (_, o) in _graph().items() if _floor(m) == "web"}
    assert not any(web_qt.values()), web_qt


def test_no_module_takes_part_in_a_circle_of_imports():
    graph = {module: {t for t in inner if t in _graph()} for module, (inner, _) in _graph().items()}
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in graph.get(module, ()):
            if state.get(target) == 1:
                raise AssertionError(" -> ".join([*trail[trail.index(target) :], target]))
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_nothing_below_the_mrml_floor_imports_slicer_vtk_or_qt():
    below = {floor for floor in FLOORS[: FLOORS.index("mrml")]}
    offenders = {
        module: sorted(outer & APPLICATION)
        for module, (_, outer) in _graph().items()
        if _floor(module) in below and outer & APPLICATION
    }
    assert not offenders, offenders
    mrml_qt = {
        module: sorted(outer & {"qt", "ctk", "PythonQt"})
        for module, (_, outer) in _graph().items()
        if _floor(module) == "mrml" and outer & {"qt", "ctk", "PythonQt"}
    }
    assert not mrml_qt, mrml_qt  # the MRML logic runs on a bare scene (the jobs and their Qt clock are the gui's)
