"""The command lines of the module's jobs, ``gmmseg segment`` and ``gmmseg adapt``.

The Slicer panel (GmmSegLib.gui) and the web app (GmmSegLib.web) run the same jobs as separate processes, on a copy
of the input that the logic writes (:meth:`GmmSegLib.mrml.logic.GmmSegLogic.write_input`), and read their results
back into the scene alike (:class:`GmmSegLib.inference.case_result.CaseResult`).
"""

from __future__ import annotations

from pathlib import Path

JOB_OUTPUTS = "out"  # the folder beside the job's copy of the input that its results go to


def segment_arguments(
    input_copy: Path, device: str, model: str | None = None, phi: str | None = None, location: Path | None = None
) -> list[str]:
    """The panel's ``gmmseg segment``: results into ``out`` beside the job's copy of the input, with the class
    probabilities that click refinement needs and a progress line per frame; ``phi`` places the prior,
    ``location`` is an earlier result's JSON whose heart location a re-run keeps."""
    arguments = [
        "segment",
        str(input_copy),
        "--out",
        str(input_copy.parent / JOB_OUTPUTS),
        "--probabilities",
        "--progress",
        "--device",
        device,
    ]
    for option, value in (("--model", model), ("--phi", phi), ("--location", location)):
        if value:
            arguments += [option, str(value)]
    return arguments


def adapt_arguments(images: list[str], adapted_model: Path, device: str, model: str | None = None) -> list[str]:
    """The panel's ``gmmseg adapt`` of ``model`` (default: the shipped one) to ``images``, without labels."""
    return ["adapt", *images, "--out", str(adapted_model), "--device", device, *(["--model", model] if model else [])]
