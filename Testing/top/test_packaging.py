"""Static checks of the packaging: CMake installs every file, the registry is consistent, the Extensions Index
entry is what the index accepts."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, requires_torch
from GmmSegLib.model.registry import sha256_of


def test_cmake_lists_every_library_file():
    cmake = (ROOT / "GmmSegModule" / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"GmmSegLib/(?:\w+/)*\w+\.py", cmake))
    present = {str(p.relative_to(ROOT / "GmmSegModule")) for p in (ROOT / "GmmSegModule" / "GmmSegLib").rglob("*.py")}
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


def test_the_registry_follows_its_schema_and_the_schema_holds_it_to_it():
    """Models.json against Models.schema.json (JSON Schema 2020-12): what the module shows a user is there, hashes
    and commits are well-formed, Dice lies in 0..1; an entry without a title is refused, so the schema is no
    formality."""
    import jsonschema

    folder = ROOT / "Resources" / "Models"
    schema = json.loads((folder / "Models.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    registry = json.loads((folder / "Models.json").read_text())
    assert not [error.message for error in validator.iter_errors(registry)]
    untitled = json.loads(json.dumps(registry))
    del untitled["models"][0]["title"]
    untitled["models"][0]["validation_metrics"]["gmmseg"]["MYO_dice"] = 1.2
    problems = sorted(error.message for error in validator.iter_errors(untitled))
    assert problems == ["'title' is a required property", "1.2 is greater than the maximum of 1"]


def test_registry_entries_are_complete_and_match_the_files():
    registry = json.loads((ROOT / "Resources" / "Models" / "Models.json").read_text())
    assert registry["default"] in {m["id"] for m in registry["models"]}
    for entry in registry["models"]:
        for key in ("sha256", "command", "split", "git_commit", "validation_metrics"):
            assert entry.get(key), f"{entry['id']} lacks {key}"
        path = ROOT / "Resources" / "Models" / entry["file"]
        assert path.stat().st_size < 20_000_000
        assert sha256_of(path) == entry["sha256"]


@requires_torch
@pytest.mark.slow
def test_library_imports_without_slicer_or_qt():
    import subprocess
    import sys

    code = (
        "import sys, GmmSegLib.cli, GmmSegLib.inference.segmentation, GmmSegLib.training.trainer; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('slicer', 'qt', 'ctk', 'PythonQt')]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "GmmSegModule", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cmake_installs_every_resource_and_the_extension_has_its_metadata():
    cmake = (ROOT / "GmmSegModule" / "CMakeLists.txt").read_text()
    assert "${MODULE_NAME}.py" in cmake and "set(MODULE_NAME GmmSegModule)" in cmake
    for folder in ("UI", "Icons", "Terminology"):
        for path in (ROOT / "Resources" / folder).iterdir():
            assert f"{folder}/{path.name}" in cmake, f"Resources/{folder}/{path.name} is not installed"
    top = (ROOT / "CMakeLists.txt").read_text()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf'set\(EXTENSION_{key} "[^"]+"\)', top), f"EXTENSION_{key} is empty"


def test_extensions_index_entry_passes_the_index_checks():
    """What ExtensionsIndex/scripts/check_description_files.py checks without a network: the catalogue entry
    follows slicer-extension-catalog-entry-schema-v1.0.1 (Slicer's Schemas/), its file name is the CMake project
    name, the repository name starts with 'Slicer', the icon is in the repository, a licence file is at the root."""
    entry_path = ROOT / "GmmSegExtension" / "GmmSegExtension.json"
    entry = json.loads(entry_path.read_text())
    allowed = {
        "$schema",
        "category",
        "scm_url",
        "scm_revision",
        "scm_type",
        "build_dependencies",
        "build_subdirectory",
        "enabled",
        "tier",
    }
    assert {"$schema", "category", "scm_url"} <= set(entry) <= allowed
    assert entry["$schema"].split("/")[-1].startswith("slicer-extension-catalog-entry-schema-v1.0.1.json")
    assert isinstance(entry["tier"], int) and 1 <= entry["tier"] <= 5
    top = (ROOT / "CMakeLists.txt").read_text()
    assert re.search(r"project\(\s*([^\s)]+)", top).group(1) == entry_path.stem
    assert 'set(EXTENSION_DEPENDS "' + " ".join(entry["build_dependencies"]) + '")' in top
    assert urlsplit(entry["scm_url"]).path.split("/")[-1].removesuffix(".git").startswith("Slicer")
    icon = re.search(r'set\(EXTENSION_ICONURL "([^"]+)"\)', top).group(1)
    assert (ROOT / icon.split("/main/", 1)[1]).is_file()
    licence = (ROOT / "LICENSE").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'license = { text = "Apache-2.0" }' in pyproject and "Apache License" in licence


def test_whether_a_model_refines_from_boxes_is_read_from_its_registry_entry(tmp_path, monkeypatch):
    from GmmSegLib.model.registry import MODELS_ENV, has_click_refiner

    folder = tmp_path / "models"
    folder.mkdir()
    registry = json.loads((ROOT / "Resources" / "Models" / "Models.json").read_text())
    shipped = registry["models"][0]
    assert shipped["click_refiner"] is False and not has_click_refiner(shipped["sha256"])
    with_refiner = {**shipped, "id": "with-refiner", "sha256": "a" * 64, "click_refiner": True}
    (folder / "Models.json").write_text(json.dumps({**registry, "models": [shipped, with_refiner]}))
    monkeypatch.setenv(MODELS_ENV, str(folder))
    assert has_click_refiner("a" * 64) and not has_click_refiner(shipped["sha256"])
    assert not has_click_refiner(None)  # no model named: the default's
