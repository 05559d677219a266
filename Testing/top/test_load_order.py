"""The module loaded where Slicer loads it: at application start, among Slicer's own modules (slicer_harness.startup).

Slicer imports a scripted module's file and makes its ``ScriptedLoadableModule`` when it instantiates the modules, in
name order, before the main window exists and before any module is loaded: no ``slicer.modules.<name>``, no layout
manager, no module logic yet. The rest of the suite loads the module into an application that has started already
(``slicer_harness.load_module``), where all of that exists and a load-order fault would not show. This test starts a
fresh application (a separate process: the suite's own has started) with the module among its modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import HARNESS_MISSING, ROOT

MODULE_FILE = ROOT / "GmmSegModule" / "GmmSegModule.py"


@pytest.mark.slow
def test_the_module_loads_at_application_start_asking_nothing_slicer_does_not_have_yet(tmp_path):
    """Its import and ``GmmSegModule(parent)`` run where Slicer instantiates it, ask nothing before Slicer has it,
    and its panel is then made and shown."""
    if HARNESS_MISSING:
        pytest.skip(f"the Slicer harness cannot run: {HARNESS_MISSING}")
    environment = {**os.environ, "GMMSEG_USER_MODELS_DIR": str(tmp_path / "user models")}
    started = subprocess.run(
        [sys.executable, "-m", "slicer_harness.startup", "--show", str(MODULE_FILE)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT / "Testing",
        env=environment,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    record = json.loads(started.stdout.splitlines()[-1])
    assert record["failed"] == {} and record["early"] == []
    assert record["instantiated"][0] == "GmmSegModule"  # before Markups, Sequences, Terminologies: none loaded
    assert "GmmSegModule" in record["loaded"] and record["shown"] == ["GmmSegModule"]
