"""Static checks of the packaging: CMake installs every library file, the registry is consistent."""

from __future__ import annotations

import json
import re

from conftest import ROOT
from GmmSegLib.registry import sha256_of


def test_cmake_lists_every_library_file():
    cmake = (ROOT / "GmmSegModule" / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"GmmSegLib/\w+\.py", cmake))
    present = {f"GmmSegLib/{p.name}" for p in (ROOT / "GmmSegModule" / "GmmSegLib").glob("*.py")}
    assert listed == present


def test_cmake_installs_the_models_and_the_trainer():
    cmake = (ROOT / "GmmSegModule" / "CMakeLists.txt").read_text()
    registry = json.loads((ROOT / "Resources" / "Models" / "Models.json").read_text())
    for entry in registry["models"]:
        assert f"Resources/Models/{entry['file']}" in cmake
    assert "scripted_training/train.py" in cmake
    top = (ROOT / "CMakeLists.txt").read_text()
    assert "project(GmmSegExtension)" in top and 'set(EXTENSION_DEPENDS "PyTorch")' in top
    assert "add_subdirectory(GmmSegModule)" in top


def test_registry_entries_are_complete_and_match_the_files():
    registry = json.loads((ROOT / "Resources" / "Models" / "Models.json").read_text())
    assert registry["default"] in {m["id"] for m in registry["models"]}
    for entry in registry["models"]:
        for key in ("sha256", "command", "split", "git_commit", "validation_metrics"):
            assert entry.get(key), f"{entry['id']} lacks {key}"
        path = ROOT / "Resources" / "Models" / entry["file"]
        assert path.stat().st_size < 20_000_000
        assert sha256_of(path) == entry["sha256"]


def test_library_imports_without_slicer_or_qt():
    import subprocess
    import sys

    code = ("import sys, GmmSegLib.cli, GmmSegLib.inference, GmmSegLib.trainer; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('slicer', 'qt', 'ctk', 'PythonQt')]; "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "GmmSegModule", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
