"""GUI responsiveness of the Slicer module, measured in the Slicer harness (Testing/slicer_harness).

    python Testing/benchmarks/bench_gui.py [--frames 20] [--repeats 3]

On a phantom cine (``--frames`` frames of 10 slices of 176 x 176 pixels), through the GUI's real route (the
Segment button, a separate process behind a PythonSlicer-like launcher, result files read back into the
scene; the scene saved and opened by Slicer's own ``saveScene`` / ``loadScene``), it measures:

- the time from the Segment click to the result's labels shown (its segmentation node in the scene, holding the
  labels the job wrote);
- how long the Qt event loop is blocked at most: by the Segment click itself, while the job runs, while its
  results are read and put into the scene, by the Cancel click, and by saving, closing and opening the scene;
- how long a click refinement blocks the GUI (a background click in the LV, the Refine button) and its Undo, the
  first of the session (3 s after the result is shown) and a second;
- the time from Cancel to every process of the job gone;
- the time from opening the saved scene (a .mrb bundle) to the result taken up again in the panel as it was
  saved (review queue, clinical indices, labels);
- the scene's nodes before and after a whole segment-refine-accept-export cycle, by class.

Every run checks what it timed (the labels shown are the job's, the result opened again is the one saved) and
stops with an error otherwise. Prints one JSON record (medians over ``--repeats``, and every run); results go to
BENCHMARKS.md.
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

import numpy as np

TESTING = Path(__file__).resolve().parents[1]  # the Slicer harness and the tests' helpers (launcher, panel_steps)
sys.path.insert(0, str(TESTING))
sys.path.insert(0, str(TESTING.parent / "GmmSegModule"))

import slicer_harness  # noqa: E402

slicer = slicer_harness.install()

from launcher import alive, install_launcher  # noqa: E402
from panel_steps import click_background_in_the_lv, panel_state, same_state  # noqa: E402
from slicer_harness import load_module, pump, wait_until  # noqa: E402

from GmmSegLib.gui.process_tree import descendants  # noqa: E402
from GmmSegLib.io.phantom import make_cine_phantom  # noqa: E402
from GmmSegLib.mrml.inputs import add_volume_nodes  # noqa: E402

READING_S = 3.0  # from the result shown to the first Refine: the clinician looks at it and places a click


class _PyTorchUtilsLogic:
    """SlicerPyTorch's PyTorchUtilsLogic, as far as the module asks it (torch is installed here)."""

    @staticmethod
    def torchInstalled() -> bool:
        return True


def _classes(scene) -> collections.Counter:
    return collections.Counter(scene.GetNthNode(i).GetClassName() for i in range(scene.GetNumberOfNodes()))


def _segment(widget, browser) -> dict:
    """Segment ``browser`` by the Segment button: the GUI thread's longest blocks, and the time until the result's
    labels are shown (the job runner ends the job and puts its result into the scene in the same slot)."""
    previous = widget._results.outputs
    widget.ui.inputSelector.setCurrentNode(browser)
    started = time.perf_counter()
    widget.ui.segmentButton.click()
    click_s = time.perf_counter() - started
    job = widget._jobs.job
    running_gap = wait_until(lambda: widget._jobs.job is not job or job.console.finished, timeout=600)
    import_gap = wait_until(lambda: widget._jobs.job is None, timeout=600)
    shown_s = time.perf_counter() - started
    _check_labels_shown(widget, previous)
    return {
        "segment_to_labels_shown_s": shown_s,
        "segment_click_s": click_s,
        "blocked_while_running_s": running_gap,
        "blocked_while_importing_s": import_gap,
    }


def _check_labels_shown(widget, previous) -> None:
    """Stop the benchmark unless a new result is shown whose segmentation holds the labels the job wrote."""
    outputs = widget._results.outputs
    if outputs is None or outputs is previous or not slicer.mrmlScene.IsNodePresent(outputs.segmentation):
        raise RuntimeError(
            "the Segment click showed no new result; the panel's log:\n" + widget.ui.logTextEdit.toPlainText()
        )
    if not np.array_equal(widget.logic.sceneLogic().all_labels(outputs), outputs.result.labels):
        raise RuntimeError("the segmentation shown does not hold the labels the job wrote")


def _refine_and_undo(widget) -> dict:
    """On the result just shown: the clinician reads it for ``READING_S``, then twice a background click in the LV,
    Refine, Undo. How long each button blocks the GUI thread (the labels rewritten, the shown frame's 3D surface and
    the indices table brought up to date; the first Refine of a session also whatever import of torch is left), the
    longest block while reading and in the half second after each button (work left to the event loop)."""
    outputs = widget._results.outputs
    logic = widget.logic.sceneLogic()
    record = {"blocked_while_reading_s": pump(READING_S)}
    for click in ("first", "second"):
        before = click_background_in_the_lv(widget, outputs)
        started = time.perf_counter()
        widget.ui.refineButton.click()
        record[f"{click}_refine_click_s"] = time.perf_counter() - started
        record[f"blocked_after_{click}_refine_s"] = pump(0.5)
        if np.array_equal(logic.current_labels(outputs), before):
            raise RuntimeError("Refine changed nothing; the panel's log:\n" + widget.ui.logTextEdit.toPlainText())
        started = time.perf_counter()
        widget.ui.undoButton.click()
        record[f"{click}_undo_click_s"] = time.perf_counter() - started
        record[f"blocked_after_{click}_undo_s"] = pump(0.5)
        if not np.array_equal(logic.current_labels(outputs), before):
            raise RuntimeError("Undo did not bring back the labels from before the click")
    return record


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


def _save_and_reopen(widget, bundle: Path) -> dict:
    """Save the scene as a bundle, close it, open the bundle (File > Add data) as Slicer's ``saveScene`` and
    ``loadScene`` do: how long each blocks the GUI thread, and the time from opening to the result taken up in the
    panel again as it was saved."""
    saved = panel_state(widget)
    started = time.perf_counter()
    slicer.util.saveScene(str(bundle))
    save_s = time.perf_counter() - started
    started = time.perf_counter()
    slicer.mrmlScene.Clear(0)
    close_s = time.perf_counter() - started
    started = time.perf_counter()
    slicer.util.loadScene(str(bundle))
    load_s = time.perf_counter() - started
    gap = wait_until(lambda: widget._results.outputs is not None, timeout=60)
    resumed_s = time.perf_counter() - started
    if not same_state(panel_state(widget), saved):
        raise RuntimeError("the scene opened again does not show the result as it was saved")
    bundle.unlink()
    return {
        "reopen_to_resumed_s": resumed_s,
        "blocked_saving_s": save_s,
        "blocked_closing_s": close_s,
        "blocked_reopening_s": max(load_s, gap),
    }


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
    loaded = load_module(TESTING.parent / "GmmSegModule" / "GmmSegModule.py")
    widget = loaded.widget
    runs = []
    for repeat in range(arguments.repeats):
        slicer.mrmlScene.Clear()
        browser = add_volume_nodes(slicer.mrmlScene, phantom.image, f"cine {repeat}")
        run = _segment(widget, browser)
        run.update(_refine_and_undo(widget))
        run.update(_cancel(widget, browser))
        run.update(_save_and_reopen(widget, work / f"patient {repeat}.mrb"))
        runs.append(run)
    slicer.mrmlScene.Clear()
    folder = work / "export"
    folder.mkdir()
    cycle = _cycle(widget, add_volume_nodes(slicer.mrmlScene, phantom.image, "cine"), folder)
    slicer.app.moduleManager().moduleAboutToBeUnloaded.emit(loaded.name)
    medians = {key: round(statistics.median(run[key] for run in runs), 4) for key in runs[0]}
    print(
        json.dumps(
            {
                "frames": arguments.frames,
                "shape": list(phantom.image.frames.shape),
                "repeats": len(runs),
                "median": medians,
                "runs": runs,
                "cycle": cycle,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
