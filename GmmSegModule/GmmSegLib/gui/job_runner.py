"""The panel's one job at a time: a ``gmmseg`` command in a separate process, its progress, and its end.

A job belongs to the scene and the input it started from. Whatever ends it (success, failure, Cancel, a closed
scene, a deleted input, the module closed), its private folder (the patient's images, the results, a model) is
removed, and its results reach the panel only if their scene and input are still there. A segmentation's files
and review queue are read off the GUI thread (a cine's take a second or more).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import slicer
from slicer.i18n import tr as _

from ..inference.case_result import CaseResult
from ..io.images import image_stem
from ..mrml.job_arguments import JOB_OUTPUTS
from ..mrml.logic import review_items
from .jobs import BackgroundTask, ConsoleJob
from .user_action import user_action

ERROR_PREFIX = "gmmseg: error:"


@dataclass
class Job:
    """A job in flight and what its results belong to."""

    kind: str  # "segment" or "adapt"
    work_folder: Path  # the job's private folder; always removed
    input_node: object = None  # the input a segmentation belongs to
    input_copy: Path | None = None  # the job's copy of the input's images, in work_folder
    adapted_model: Path | None = None  # where an adaptation writes its model, in work_folder
    scene_generation: int = 0  # scene closes so far when the job started
    console: ConsoleJob | None = None
    last_error: str = ""


def progress_display(event: dict) -> tuple[int, int, str]:
    """What the progress bar shows of a job's progress event: steps done, steps in all, and the step's name with
    the time left ("Segmenting: frame 7 of 20, about 12 s left"; "adapt epoch 2/5, about 80 s left")."""
    left = _("about {seconds} s left").format(seconds=int(event.get("eta_s", 0)))
    if "frame" in event:
        return (
            event["frame"],
            event["frames"],
            _("{stage}: frame {frame} of {frames}, {left}").format(
                stage=event["stage"], frame=event["frame"], frames=event["frames"], left=left
            ),
        )
    return (
        (event["epoch"] - 1) * event["steps"] + event["step"],
        event["epochs"] * event["steps"],
        _("{stage} epoch {epoch}/{epochs}, {left}").format(
            stage=event["stage"], epoch=event["epoch"], epochs=event["epochs"], left=left
        ),
    )


class JobRunner:
    """Starts, follows and ends the panel's job; ``on_done(job, value)`` gets a finished job's results.

    ``value`` is ``(CaseResult, review items)`` for a segmentation and the adapted model's path for an
    adaptation. ``on_state()`` is called whenever a job starts or ends (the panel enables its buttons).
    """

    def __init__(
        self,
        progress_bar,
        log: Callable[[str], None],
        on_state: Callable[[], None],
        on_done: Callable[[Job, object], None],
    ):
        self.progress_bar, self.log, self.on_state, self.on_done = progress_bar, log, on_state, on_done
        self.job: Job | None = None
        self.scene_generation = 0

    @property
    def idle(self) -> bool:
        return self.job is None

    def start(self, job: Job, arguments: list[str], message: str) -> None:
        """Run ``gmmseg <arguments>`` for ``job``; refused while another job runs."""
        if self.job is not None:
            raise RuntimeError("a job is running already")
        job.scene_generation = self.scene_generation
        self.job = job
        try:
            job.console = ConsoleJob(
                arguments,
                lambda line: self._on_line(job, line),
                lambda code, cancelled: self._on_finished(job, code, cancelled),
            )
        except Exception:
            self.job = None
            shutil.rmtree(job.work_folder, ignore_errors=True)
            raise
        self.progress_bar.setRange(0, 0)  # busy until the job reports progress
        self._show_running(True, message)

    def cancel(self) -> None:
        """Cancel at the user's request; the end arrives as a cancelled finish."""
        if self.job is not None:
            self.job.console.cancel()
            self.log(_("Cancelling..."))

    def stop(self, reason: str) -> None:
        """Cancel the job for ``reason`` and forget it at once: its end and its results are ignored."""
        job, self.job = self.job, None
        if job is None:
            return
        if job.console is not None:
            job.console.cancel()
        shutil.rmtree(job.work_folder, ignore_errors=True)
        self.log(_("The job was cancelled: {reason}.").format(reason=reason))
        self._show_running(False)

    def scene_closed(self) -> None:
        """A closed scene takes the patient with it: a job started in it is stopped and never delivered."""
        self.scene_generation += 1
        self.stop(_("the scene was closed"))

    def _show_running(self, running: bool, message: str = "") -> None:
        self.progress_bar.visible = running
        if message:
            self.log(message)
        self.on_state()

    def _on_line(self, job: Job, line: str) -> None:
        if job is not self.job:
            return  # a stopped job's last words
        try:
            event = json.loads(line)
        except ValueError:
            if line.startswith(ERROR_PREFIX):
                job.last_error = line[len(ERROR_PREFIX) :].strip()
            self.log(line)
            return
        if isinstance(event, dict) and event.get("event") == "progress":
            done, total, text = progress_display(event)
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            self.progress_bar.setFormat(text)
        elif not (isinstance(event, dict) and "outputs" in event):  # the list of written files is not news
            self.log(line)

    def _on_finished(self, job: Job, code: int, cancelled: bool) -> None:
        if job is not self.job:
            shutil.rmtree(job.work_folder, ignore_errors=True)  # stopped before it ended: its results are no one's
            return
        if cancelled or code != 0 or job.kind == "adapt":
            self._finish(job, code, cancelled, job.adapted_model)
            return

        def read() -> tuple[CaseResult, list[dict]]:
            result = CaseResult.read(job.work_folder / JOB_OUTPUTS, image_stem(job.input_copy))
            result.kept_probabilities  # noqa: B018 (computed here, off the GUI thread, for the scene's result record)
            return result, review_items(result)

        self.log(_("Reading the results..."))
        BackgroundTask(read, lambda value, error: self._finish(job, code, False, value, error))

    def _finish(
        self, job: Job, code: int, cancelled: bool, value: object = None, error: BaseException | None = None
    ) -> None:
        try:
            if job is not self.job:
                return  # stopped while its results were read
            self.job = None
            self._show_running(False)
            if cancelled:
                self.log(_("Cancelled; nothing was written."))
            elif code != 0:
                slicer.util.errorDisplay(
                    job.last_error or _("The job failed (exit code {code}); see the log.").format(code=code)
                )
            elif job.scene_generation != self.scene_generation or (
                job.input_node is not None and not slicer.mrmlScene.IsNodePresent(job.input_node)
            ):
                self.log(_("The results were dropped: their scene or input is gone."))
            else:
                with user_action(_("Could not show the results."), self.log):
                    if error is not None:
                        raise error
                    self.on_done(job, value)
        finally:
            shutil.rmtree(job.work_folder, ignore_errors=True)  # a copy of the patient's images is never kept
