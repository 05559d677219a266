"""GUI responsiveness of the Slicer module, measured in the Slicer harness (Testing/slicer_harness).

    python Testing/bench_gui.py [--frames 20] [--repeats 3]

On a phantom cine (``--frames`` frames of 10 slices of 176 x 176 pixels), through the GUI's real route (the
Segment button, a separate process behind a PythonSlicer-like launcher, result files read back into the
scene), it measures:

- how long the Qt event loop is blocked at most: by the Segment click itself, while the job runs, while its
  results are read and put into the scene, and by the Cancel click;
- the time from Cancel to every process of the job gone;
- the scene's nodes before and after a whole segment-refine-accept-export cycle, by class.

Prints one JSON record (medians over ``--repeats``, and every run); results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "GmmSegModule"))

import slicer_harness  # noqa: E402

slicer = slicer_harness.install()

from launcher import alive, install_launcher  # noqa: E402
from panel_steps import click_background_in_the_lv  # noqa: E402
from slicer_harness import load_module, pump, wait_until  # noqa: E402

from GmmSegLib.io.phantom import make_cine_phantom  # noqa: E402
from GmmSegLib.mrml.inputs import add_volume_nodes  # noqa: E402
from GmmSegLib.mrml.process_tree import descendants  # noqa: E402


class _PyTorchUtilsLogic:
    """SlicerPyTorch's PyTorchUtilsLogic, as far as the module asks it (torch is installed here)."""

    @staticmethod
    def torchInstalled() -> bool:
        return True


def _classes(scene) -> collections.Counter:
    return collections.Counter(scene.GetNthNode(i).GetClassName() for i in range(scene.GetNumberOfNodes()))


def _segment(widget, browser) -> dict:
    widget.ui.inputSelector.setCurrentNode(browser)
    started = time.perf_counter()
    widget.ui.segmentButton.click()
    click_s = time.perf_counter() - started
    job = widget._jobs.job
    running_gap = wait_until(lambda: widget._jobs.job is not job or job.console.finished, timeout=600)
    import_gap = wait_until(lambda: widget._jobs.job is None, timeout=600)
    return {"segment_click_s": click_s, "blocked_while_running_s": running_gap,
            "blocked_while_importing_s": import_gap, "job_s": time.perf_counter() - started}


def _cancel(widget, browser) -> dict:
    widget.ui.inputSelector.setCurrentNode(browser)
    widget.ui.segmentButton.click()
    pid = widget._jobs.job.console.process.pid
    wait_until(lambda: descendants(pid), timeout=60)
    pump(2.0)  # the child loads the model and starts segmenting
    tree = [pid, *descendants(pid)]
    started = time.perf_counter()
    widget.ui.cancelButton.click()
    click_s = time.perf_counter() - started
    while any(alive(p) for p in tree):
        time.sleep(0.005)
    gone_s = time.perf_counter() - started
    gap = wait_until(lambda: widget._jobs.job is None, timeout=30)
    return {"cancel_click_s": click_s, "cancel_to_processes_gone_s": gone_s, "blocked_after_cancel_s": gap}


def _cycle(widget, browser, folder: Path) -> dict:
    """Segment, refine, accept, export on a cine: the nodes it adds, by class."""
    scene = slicer.mrmlScene
    before = _classes(scene)
    _segment(widget, browser)
    result = widget._results.outputs
    click_background_in_the_lv(widget, result)
    widget.ui.refineButton.click()
    widget.ui.acceptButton.click()
    widget._parameterNode.exportFolder = folder
    widget.ui.exportButton.click()
    added = _classes(scene) - before
    return {"nodes_before": scene.GetNumberOfNodes() - sum(added.values()), "nodes_added": dict(sorted(added.items()))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gmmseg-bench-gui-"))
    launcher = install_launcher(work / "bin")
    os.environ["PATH"] = f"{launcher.parent}{os.pathsep}{os.environ['PATH']}"
    os.environ["GMMSEG_USER_MODELS_DIR"] = str(work / "models")
    sys.modules["PyTorchUtils"] = types.SimpleNamespace(PyTorchUtilsLogic=_PyTorchUtilsLogic)
    phantom = make_cine_phantom(frames=arguments.frames, slices=10, es_frame=arguments.frames // 3, seed=1)
    loaded = load_module(HERE.parent / "GmmSegModule" / "GmmSegModule.py")
    widget = loaded.widget
    runs = []
    for repeat in range(arguments.repeats):
        slicer.mrmlScene.Clear()
        browser = add_volume_nodes(slicer.mrmlScene, phantom.image, f"cine {repeat}")
        run = _segment(widget, browser)
        run.update(_cancel(widget, browser))
        runs.append(run)
    slicer.mrmlScene.Clear()
    folder = work / "export"
    folder.mkdir()
    cycle = _cycle(widget, add_volume_nodes(slicer.mrmlScene, phantom.image, "cine"), folder)
    slicer.app.moduleManager().moduleAboutToBeUnloaded.emit(loaded.name)
    medians = {key: round(statistics.median(run[key] for run in runs), 4) for key in runs[0]}
    print(json.dumps({"frames": arguments.frames, "shape": list(phantom.image.frames.shape), "repeats": len(runs),
                      "median": medians, "runs": runs, "cycle": cycle}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
