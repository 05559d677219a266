"""Static checks of the Slicer module: the Qt widget cannot be built here (no Slicer application, no Qt),
so its wiring is checked from the source: .ui names, parameter-node bindings, CMake lists, no torch at load.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from conftest import ROOT

MODULE = ROOT / "GmmSegModule" / "GmmSegModule.py"
UI = ROOT / "Resources" / "UI" / "GmmSegModule.ui"


def _module_tree() -> ast.Module:
    return ast.parse(MODULE.read_text())


def _ui_widgets() -> dict[str, ElementTree.Element]:
    return {w.get("name"): w for w in ElementTree.parse(UI).iter("widget") if w.get("name")}


def _class(name: str) -> ast.ClassDef:
    return next(n for n in _module_tree().body if isinstance(n, ast.ClassDef) and n.name == name)


def test_every_ui_attribute_the_widget_uses_exists_in_the_ui_file():
    used = {node.attr for node in ast.walk(_module_tree())
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui" and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"}
    assert used, "the widget uses no ui elements?"
    missing = used - set(_ui_widgets())
    assert not missing, f"used in GmmSegModule.py but not in the .ui: {sorted(missing)}"


def test_every_parameter_node_field_is_bound_to_one_widget():
    fields = [node.target.id for node in _class("GmmSegParameterNode").body if isinstance(node, ast.AnnAssign)]
    bound = [prop.find("string").text for widget in _ui_widgets().values() for prop in widget.findall("property")
             if prop.get("name") == "SlicerParameterName"]
    assert sorted(fields) == sorted(bound), f"fields {sorted(fields)} vs bound {sorted(bound)}"


def test_mrml_widgets_receive_the_scene():
    widgets = _ui_widgets()
    needs_scene = {name for name, w in widgets.items()
                   if w.get("class") in ("qMRMLNodeComboBox", "qMRMLTableView", "qSlicerMarkupsPlaceWidget")}
    connected = {c.find("receiver").text for c in ElementTree.parse(UI).iter("connection")
                 if c.find("slot").text == "setMRMLScene(vtkMRMLScene*)"}
    assert needs_scene <= connected, f"not connected to the scene: {sorted(needs_scene - connected)}"


def test_cmake_lists_every_script_and_resource():
    cmake = (ROOT / "GmmSegModule" / "CMakeLists.txt").read_text()
    assert "${MODULE_NAME}.py" in cmake and "set(MODULE_NAME GmmSegModule)" in cmake
    for folder in ("UI", "Icons", "Terminology"):
        for path in (ROOT / "Resources" / folder).iterdir():
            assert f"{folder}/{path.name}" in cmake, f"Resources/{folder}/{path.name} is not installed"
    top = (ROOT / "CMakeLists.txt").read_text()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf'set\(EXTENSION_{key} "[^"]+"\)', top), f"EXTENSION_{key} is empty"


def test_module_loads_without_torch():
    """No torch import at module level or while the widget is built; GmmSegLib used at load is torch-free."""
    tree = _module_tree()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
            assert not any(n.split(".")[0] in ("torch", "GmmSegLib") for n in names), ast.unparse(node)
    widget = _class("GmmSegModuleWidget")
    at_load = {"__init__", "setup", "_fillModelCombo", "_loadTerminology", "initializeParameterNode",
               "setParameterNode", "_checkCanApply", "_setRunning"}
    imported = set()
    for function in widget.body:
        if isinstance(function, ast.FunctionDef) and function.name in at_load:
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom):
                    imported.add(node.module)
                assert not (isinstance(node, ast.Import) and any(a.name == "torch" for a in node.names))
    code = (f"import sys; import {', '.join(sorted(imported))}; "
            "assert 'torch' not in sys.modules, 'torch imported'") if imported else "pass"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "GmmSegModule", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_slicer_self_test_runs_the_pytest_body():
    test_class = ast.unparse(_class("GmmSegModuleTest"))
    assert "run_logic_self_test(slicer.mrmlScene" in test_class


def test_help_has_a_workflow_and_a_citation():
    module = ast.unparse(_class("GmmSegModule"))
    assert "Workflow" in module and "doi:" in module and "not a medical device" in module
