"""The web app: one clinician's review on 3D Slicer's core in a browser page.

trame-slicer gives the page Slicer's MRML scene, its displayable managers (slice and 3D views rendered on the
server) and its application logic; on that scene the module's own logic (GmmSegLib.mrml.logic) does what the Slicer
panel does: the input is opened from the served folder, segmented by the same ``gmmseg segment`` job as the panel's
(a separate process, on a private copy of the input, removed afterwards), and the results are added, shown, reviewed,
undone, accepted and exported through the same calls, with the same names, colours and files.

One scene holds one patient: opening another image takes the previous one's nodes out of the scene first, and a job
whose input was replaced meanwhile has its results dropped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import sys
from pathlib import Path

import slicer
from trame.app import TrameApp
from trame.widgets import client, html
from trame.widgets import vuetify3 as v3
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories
from trame_vuetify.ui.vuetify3 import SinglePageLayout

from ..clinical.indices import index_label, scalar_indices
from ..clinical.reader_choices import PHASES, ReaderChoices
from ..clinical.report import volume_curve_png
from ..core.errors import GmmSegError
from ..core.labels import STRUCTURES
from ..inference.case_result import CaseResult
from ..io.images import image_stem, read_cardiac_image
from ..mrml.inputs import add_volume_nodes, shown_volume
from ..mrml.job_arguments import JOB_OUTPUTS, segment_arguments
from ..mrml.logic import GmmSegLogic
from ..mrml.scene_outputs import show_layers
from .click_prompts import ClickPrompts
from .reader_confirmation import (
    LIMIT_KEYS,
    PAGE_FIELDS,
    choices_from_page,
    confirmation_state,
    frame_field,
    limit_field,
    toggled_exclusion,
)
from .served_folder import ServedFolder

EXPORT_FOLDER = "gmmseg_export"  # under the served folder: where Export writes, as the panel's Export does
UNCERTAINTY_OPACITY = 0.6  # the panel's default (GmmSegModuleParameterNode.uncertaintyOpacity)
REVIEW_ROWS = 20


class GmmSegWebApp(TrameApp):
    """The page and its scene; ``folder`` is the only place images are opened from, ``device`` the jobs' device."""

    def __init__(self, folder: ServedFolder, device: str = "auto", server=None):
        super().__init__(server=server)
        self.folder, self.device = folder, device
        self.slicer_app = SlicerApp()
        self.scene = self.slicer_app.scene
        # the Sequences module's node classes and proxy updates, which a cine's frames need (the application
        # registers them at start-up; slicer-core's scene has them once the logic is set on it)
        self._sequences = slicer.vtkSlicerSequencesLogic()
        self._sequences.SetMRMLScene(self.scene)
        self.logic = GmmSegLogic(self.scene)
        self.clicks = ClickPrompts(self.scene, self.slicer_app.markups_logic, self._count_clicks)
        self._editing = None  # (frame, its labels before, "paint" or "erase") while the Segment Editor edits
        self.editor = self.slicer_app.segmentation_editor  # the Segment Editor's paint and erase
        self.editor.set_surface_representation_enabled(True)  # the 3D surfaces follow the strokes
        self.editor.segmentation_modified.connect(self._after_edit)
        self.input_node = None
        self.outputs = None
        self._job: asyncio.subprocess.Process | None = None

        register_rca_factories(self.slicer_app.view_manager, self.server)
        self.layout_manager = LayoutManager(self.scene, self.slicer_app.view_manager, self.server)
        self.layout_manager.register_layout_dict(LayoutManager.default_grid_configuration())
        self.layout_manager.set_layout("Axial Primary")

        images = folder.images()
        self.state.update(
            images=images,
            image=images[0] if images else None,
            status="Choose an image of the served folder, then Open.",
            busy=False,
            has_result=False,
            frames=1,
            frame=0,
            review=[],
            indices=[],
            volume_curve=None,
            show_prior=False,
            clicks_placed=0,
            uncertainty_opacity=UNCERTAINTY_OPACITY,
            structure="MYO",
            show_confirm=False,
            exclude_phase="ED",
            exclude_slice="",
            **confirmation_state({}, 1),
        )
        self.state.change("frame")(self._on_frame)
        self.state.change("uncertainty_opacity", "show_prior")(self._on_opacity)
        self._build_page()

    # ---- the page -----------------------------------------------------------------------------------------------
    def _build_page(self) -> None:
        with SinglePageLayout(self.server, full_height=True) as page:
            page.title.set_text("GmmSeg")
            with page.toolbar:
                v3.VSelect(
                    v_model=("image",),
                    items=("images",),
                    label="Image",
                    density="compact",
                    hide_details=True,
                    style="max-width: 28em",
                    id="image-select",
                )
                v3.VBtn("Open", click=self.open_image, disabled=("busy || !image",), id="open")
                v3.VBtn("Segment", click=self.segment, disabled=("busy || !image",), id="segment")
                v3.VBtn("Undo", click=self.undo, disabled=("busy || !has_result",), id="undo")
                v3.VBtn("Redo", click=self.redo, disabled=("busy || !has_result",), id="redo")
                v3.VBtn("Accept", click=self.accept, disabled=("busy || !has_result",), id="accept")
                v3.VBtn("Export", click=self.export, disabled=("busy || !has_result",), id="export")
            with page.content:
                client.Style("html { overflow-y: auto; }")
                # the views fit the window between the toolbar (64 px) and the footer (24 px), whatever the panel
                # holds: the panel scrolls
                with html.Div(style="display: flex; height: calc(100vh - 88px);"):
                    with html.Div(style="flex: 3; position: relative;", id="views"):
                        self.layout_manager.initialize_layout_grid(page)
                    with html.Div(style="flex: 1; padding: 0.5em; overflow-y: auto;", id="panel"):
                        html.Div("{{ status }}", id="status")
                        with html.Div(id="frame-slider"):
                            v3.VSlider(
                                v_model=("frame",),
                                label="Frame",
                                min=0,
                                max=("frames - 1",),
                                step=1,
                                v_show=("frames > 1",),
                                thumb_label=True,
                            )
                        with html.Div(id="uncertainty-slider"):
                            v3.VSlider(
                                v_model=("uncertainty_opacity",),
                                label="Uncertainty",
                                min=0,
                                max=1,
                                step=0.1,
                                v_show=("has_result",),
                            )
                        with html.Div(v_show=("has_result",), id="refinement"):
                            html.Span("Edit ")
                            with v3.VBtnToggle(v_model=("structure",), mandatory=True, density="compact"):
                                for name in STRUCTURES:
                                    v3.VBtn(name, value=name, id=f"structure-{name}")
                            v3.VBtn(
                                "Add clicks",
                                click=(self.place_clicks, "['foreground']"),
                                disabled=("busy",),
                                id="foreground-clicks",
                            )
                            v3.VBtn(
                                "Add background clicks",
                                click=(self.place_clicks, "['background']"),
                                disabled=("busy",),
                                id="background-clicks",
                            )
                            v3.VBtn(
                                "Add scribble",
                                click=(self.place_clicks, "['scribble']"),
                                disabled=("busy",),
                                id="scribble",
                            )
                            v3.VBtn(
                                "Add background scribble",
                                click=(self.place_clicks, "['background scribble']"),
                                disabled=("busy",),
                                id="background-scribble",
                            )
                            v3.VBtn("Refine", click=self.refine, disabled=("busy",), id="refine")
                            html.Span("{{ clicks_placed }} point(s) placed", id="clicks-placed")
                            v3.VBtn("Paint", click=(self.edit, "['paint']"), disabled=("busy",), id="paint")
                            v3.VBtn("Erase", click=(self.edit, "['erase']"), disabled=("busy",), id="erase")
                            v3.VBtn("Stop editing", click=self.stop_editing, id="stop-editing")
                        self._build_confirmation()
                        v3.VCheckbox(
                            v_model=("show_prior",),
                            label="Show the registered prior instead",
                            v_show=("has_result",),
                            density="compact",
                            hide_details=True,
                            id="show-prior",
                        )
                        html.Div("Review (most uncertain first)", v_show=("review.length",))
                        with html.Table(v_show=("review.length",), id="review"):
                            with html.Tr(
                                v_for="(row, i) in review",
                                key="i",
                                click=(self.go_to_review_item, "[i]"),
                                style="cursor: pointer",
                            ):
                                html.Td("{{ row.text }}")
                        html.Img(src=("volume_curve",), v_show=("volume_curve",), style="width: 100%", id="curve")
                        with html.Table(v_show=("indices.length",), id="indices"):
                            with html.Tr(v_for="(row, i) in indices", key="i"):
                                html.Td("{{ row.name }}")
                                html.Td("{{ row.value }}")

    def _build_confirmation(self) -> None:
        """The panel's "Confirm ED/ES and slices" (a cine): the frames and slice limits the indices count, each with
        the model's choice beside it, Recompute with the fields as edited, or the model's choices again."""

        def number(field: str) -> None:
            with html.Td():
                v3.VTextField(
                    v_model=(field,),
                    type="number",
                    density="compact",
                    hide_details=True,
                    disabled=("busy || !confirm_usable",),
                    id=field.replace("_", "-"),
                )

        v3.VBtn(
            "Confirm ED/ES and slices",
            click="show_confirm = !show_confirm",
            v_show=("has_result && frames > 1",),
            variant="text",
            id="confirm-toggle",
        )
        # folded until the reader opens it, so that the panel stays short
        with html.Div(v_show=("has_result && frames > 1 && show_confirm",), id="confirm"):
            html.Div("{{ confirm_note }}", id="confirm-note")
            with html.Table():
                for phase in PHASES:
                    with html.Tr():
                        html.Td(f"{phase} frame")
                        number(frame_field(phase))
                        html.Td()
                        html.Td(f"{{{{ model_{frame_field(phase)} }}}}")
                for key in LIMIT_KEYS:
                    with html.Tr():
                        html.Td(f"{key} slices")
                        number(limit_field(key, "first"))
                        number(limit_field(key, "last"))
                        html.Td(f"{{{{ model_{limit_field(key, 'first')} }}}}")
            v3.VBtn(
                "Recompute", click=self.confirm_choices, disabled=("busy || !confirm_usable",), id="confirm-recompute"
            )
            with html.Div(style="display: flex; align-items: center; gap: 0.5em;"):
                v3.VSelect(
                    v_model=("exclude_phase",),
                    items=(list(PHASES),),
                    density="compact",
                    hide_details=True,
                    style="max-width: 6em",
                    id="exclude-phase",
                )
                v3.VTextField(
                    v_model=("exclude_slice",),
                    type="number",
                    label="slice",
                    density="compact",
                    hide_details=True,
                    style="max-width: 6em",
                    id="exclude-slice",
                )
                v3.VBtn(
                    "Exclude / include",
                    click=self.toggle_exclusion,
                    disabled=("busy || !confirm_usable",),
                    id="exclude-toggle",
                )
            html.Div("{{ excluded_slices }}", id="excluded-slices")
            v3.VBtn("Model's choices", click=self.model_choices, disabled=("busy",), id="confirm-model")

    def _say(self, text: str) -> None:
        with self.state:
            self.state.status = text

    # ---- opening and segmenting -----------------------------------------------------------------------------
    def open_image(self) -> None:
        """Open the chosen image (another patient's nodes leave the scene first) and show it."""
        try:
            path = self.folder.resolve(self.state.image)
            image = read_cardiac_image(path)
        except (GmmSegError, OSError) as error:
            self._say(f"Cannot open this image: {error}")
            return
        self._close_patient()
        self.input_node = add_volume_nodes(self.scene, image, image_stem(path))
        self.slicer_app.display_manager.show_volume_in_slice_background(shown_volume(self.input_node))
        self.slicer_app.display_manager.reset_views()
        with self.state:
            self.state.frames, self.state.frame = image.num_frames, 0
        self._say(f"{self.state.image}: {image.num_frames} frame(s). Segment it when ready.")

    def _close_patient(self) -> None:
        self.clicks.remove()
        self.editor.deactivate_effect()
        self._editing = None
        if self.outputs is not None:
            self.logic.remove_outputs(self.outputs)
        if self.input_node is not None:
            for node in _input_nodes(self.input_node):
                self.scene.RemoveNode(node)
        self.input_node, self.outputs = None, None
        with self.state:
            self.state.has_result, self.state.review, self.state.indices = False, [], []
            self.state.volume_curve = None

    def segment(self) -> None:
        if self.input_node is None or self.input_node.GetName() != image_stem(Path(self.state.image)):
            self.open_image()
        if self.input_node is not None:
            asyncio.ensure_future(self._segment(self.input_node))

    async def _segment(self, input_node) -> None:
        """Run the panel's ``gmmseg segment`` job on a private copy of ``input_node`` and show its results."""
        try:
            copy = self.logic.write_input(input_node)
        except (GmmSegError, OSError) as error:  # a bad input, or no room for its copy
            self._say(f"Cannot segment this image: {error}")
            return
        with self.state:
            self.state.busy = True
        try:
            self._say(f"Segmenting {input_node.GetName()}...")
            code, last_error = await self._run_job(segment_arguments(copy, self.device))
            if code != 0:
                self._say(last_error or f"The segmentation failed (exit code {code}).")
                return
            if input_node is not self.input_node:
                self._say("The results were dropped: another image was opened meanwhile.")
                return
            result = CaseResult.read(copy.parent / JOB_OUTPUTS, image_stem(copy))
            if self.outputs is not None:
                self.logic.remove_outputs(self.outputs)
            self.outputs = self.logic.add_outputs(input_node, result)
            self._show_result()
            reasons = result.summary.review_reasons
            self._say("Review advised: " + "; ".join(reasons) if reasons else "Segmented. Review, edit, accept.")
        except (GmmSegError, OSError) as error:
            self._say(f"Could not show the results: {error}")
        finally:
            shutil.rmtree(copy.parent, ignore_errors=True)  # a copy of the patient's images is never kept
            with self.state:
                self.state.busy = False

    async def _run_job(self, arguments: list[str]) -> tuple[int, str]:
        """The job's exit code and its last error line; its progress lines become the status."""
        self._job = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "GmmSegLib.cli",
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        errors = asyncio.ensure_future(self._job.stderr.read())
        async for line in self._job.stdout:
            event = _json_line(line)
            if event.get("event") == "progress" and "frame" in event:
                self._say(f"Segmenting: frame {event['frame']} of {event.get('frames', '?')}")
        code = await self._job.wait()
        lines = [text for text in (await errors).decode(errors="replace").splitlines() if "error" in text]
        self._job = None
        return code, lines[-1].removeprefix("gmmseg: error: ") if lines else ""

    # ---- the result ---------------------------------------------------------------------------------------------
    def _show_result(self) -> None:
        self._show_layers()
        self.slicer_app.display_manager.reset_views()
        self._refresh_panel()

    def _show_layers(self) -> None:
        """The image with the total uncertainty (or the registered prior) added to it, graded, as the panel shows."""
        outputs = self.outputs
        added = outputs.prior if self.state.show_prior else outputs.uncertainty.get("total")
        show_layers(self.scene, outputs.shown_volume, added, self.state.uncertainty_opacity)
        self._render()

    def _render(self) -> None:
        """Render the views again: a change of a slice composite node or of the frame shown does not by itself make
        trame-slicer send new pictures."""
        for view in self.slicer_app.view_manager.get_views():
            view.schedule_render()

    def _refresh_panel(self) -> None:
        outputs = self.outputs
        items = self.logic.review_items(outputs, REVIEW_ROWS)
        indices = outputs.indices or {}
        shown = scalar_indices(indices) if "error" not in indices else {"error": indices["error"]}
        with self.state:
            self.state.has_result = True
            self.state.frames, self.state.frame = outputs.num_frames, outputs.current_frame
            self.state.review = [{"text": _review_text(item), **item} for item in items]
            self.state.indices = [{"name": index_label(key), "value": _shown(value)} for key, value in shown.items()]
            self.state.volume_curve = _volume_curve(indices, self.input_node.GetName())
            self.state.update(confirmation_state(indices, outputs.num_frames, outputs.reader_choices()))

    def _on_frame(self, frame, **_) -> None:
        if self.outputs is not None and int(frame) != self.outputs.current_frame:
            self.logic.show_frame(self.outputs, int(frame))
            self._render()

    def _on_opacity(self, **_) -> None:
        if self.outputs is not None:
            self._show_layers()

    def go_to_review_item(self, index: int) -> None:
        """Show the row's frame and centre the views on its place."""
        item = self.state.review[index]
        self.logic.show_frame(self.outputs, item["frame"])
        x0, y0, x1, y1 = item["bbox"]
        world = self.logic.world_position(self.outputs, ((x0 + x1) / 2, (y0 + y1) / 2, item["slice"]), item["frame"])
        slicer.vtkMRMLSliceNode.JumpAllSlices(self.scene, *world, slicer.vtkMRMLSliceNode.CenteredJumpSlice)
        self._render()
        with self.state:
            self.state.frame = item["frame"]

    def _act(self, name: str, action) -> None:
        try:
            done = action(self.outputs)
        except (GmmSegError, OSError) as error:  # a refused step, or an export that could not be written
            self._say(f"{name}: {error}")
            return
        self._refresh_panel()
        self._render()
        self._say(f"{name}: {done}" if isinstance(done, str) else f"{name}: done.")

    def place_clicks(self, kind: str) -> None:
        """Each click in a slice view now adds a ``kind`` (foreground, background, scribble or background
        scribble) point for the refinement."""
        self.clicks.place(kind)
        self._say(f"Click in a slice view to add {kind} points, then Refine.")

    def _count_clicks(self) -> None:
        with self.state:
            self.state.clicks_placed = self.clicks.count()

    def refine(self) -> None:
        """Refinement of the chosen structure from the points and the scribbles placed, which are then cleared (the
        panel's Refine)."""
        self.clicks.stop_placing()
        structure = self.state.structure
        foreground, background = self.clicks.positions("foreground"), self.clicks.positions("background")
        strokes = ((self.clicks.positions("scribble"), True), (self.clicks.positions("background scribble"), False))
        scribbles = [(stroke, along) for stroke, along in strokes if stroke]

        def refined(outputs) -> str:
            changed = self.logic.refine(outputs, structure, foreground, background, scribbles=scribbles)
            return f"{structure}, {changed} pixels changed."

        self._act("Refined", refined)
        self.clicks.clear()

    def confirm_choices(self) -> None:
        """Recompute the indices with the frames and slice limits as the reader left them (one step for Undo)."""

        def recompute(outputs) -> str:
            page = {field: self.state[field] for field in PAGE_FIELDS}
            choices, description = choices_from_page(page, outputs.indices, outputs.reader_choices())
            self.logic.set_reader_choices(outputs, choices, description)
            return f"indices recomputed with {description}."

        self._act("Choices", recompute)

    def toggle_exclusion(self) -> None:
        """Leave the slice typed out of the indices at the phase chosen, or count it again (one step for Undo)."""

        def recompute(outputs) -> str:
            choices, description = toggled_exclusion(
                outputs.reader_choices(), self.state.exclude_phase, self.state.exclude_slice
            )
            self.logic.set_reader_choices(outputs, choices, description)
            return f"indices recomputed with {description}."

        self._act("Choices", recompute)

    def model_choices(self) -> None:
        """The model's frames and slice limits again (one step for Undo)."""

        def recompute(outputs) -> str:
            self.logic.set_reader_choices(outputs, ReaderChoices(), "the model's choices")
            return "indices recomputed with the model's choices."

        self._act("Choices", recompute)

    def edit(self, effect: str) -> None:
        """Paint or erase the chosen structure by dragging in a slice view (the Segment Editor's effects)."""
        from trame_slicer.segmentation import (
            SegmentationEffectErase,
            SegmentationEffectPaint,
            SegmentationOverwriteMode,
        )

        self.stop_editing()
        self.clicks.stop_placing()
        self._editing = (self.outputs.current_frame, self.logic.current_labels(self.outputs), effect)
        self.editor.set_active_segmentation(self.outputs.segmentation, self.outputs.shown_volume)
        # a painted structure replaces the others under the brush: one label per voxel, as the results have
        self.editor.set_overwrite_mode(SegmentationOverwriteMode.OVERWRITE_ALL)
        self.editor.set_active_segment_id(self.state.structure)
        self.editor.set_active_effect_type(SegmentationEffectPaint if effect == "paint" else SegmentationEffectErase)
        self._say(f"Drag in a slice view to {effect} {self.state.structure}; Stop editing when done.")

    def stop_editing(self) -> None:
        """End painting or erasing; what it changed becomes one step that Undo takes back."""
        self.editor.deactivate_effect()
        if self._editing is None or self.outputs is None:
            return
        frame, before, effect = self._editing
        self._editing = None
        changed = self.logic.record_edit(self.outputs, frame, before, f"{effect.capitalize()} {self.state.structure}")
        self._after_edit()
        self._say(f"Editing stopped: {changed} voxels changed.")

    def _after_edit(self, *_) -> None:
        """The indices follow a paint or erase stroke, as the panel's follow a Segment Editor edit."""
        if self.outputs is not None:
            self.logic.update_indices(self.outputs)
            self._refresh_panel()

    def undo(self) -> None:
        self._act("Undo", self.logic.undo)

    def redo(self) -> None:
        self._act("Redo", self.logic.redo)

    def accept(self) -> None:
        self._act("Accept", self.logic.accept)

    def export(self) -> None:
        folder = self.folder.root / EXPORT_FOLDER
        self._act(
            "Export",
            lambda outputs: (
                f"written to {folder}: " + ", ".join(path.name for path in self.logic.export(outputs, folder))
            ),
        )


def _input_nodes(node) -> list:
    """The nodes an input brought into the scene: a volume, or a cine's browser, its sequence and its proxy."""
    nodes = [node]
    if node.IsA("vtkMRMLSequenceBrowserNode"):
        for index in range(node.GetNumberOfSynchronizedSequenceNodes(True)):
            sequence = node.GetNthSynchronizedSequenceNode(index)
            nodes += [sequence, node.GetProxyNode(sequence)]
    return [n for n in nodes if n is not None]


def _volume_curve(indices: dict, name: str) -> str | None:
    """A cine's volume curve (the report's picture) as a data address for the page; None for a volume."""
    if "volumes_ml" not in indices or "ed_frame" not in indices:
        return None
    return "data:image/png;base64," + base64.b64encode(volume_curve_png(indices, name)).decode()


def _json_line(line: bytes) -> dict:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _review_text(item: dict) -> str:
    estimate = item.get("estimated_dice")
    guess = f", estimated Dice {estimate:.2f}" if estimate is not None else ""
    return f"frame {item['frame']}, slice {item['slice']}: {item['structure']}{guess}"


def _shown(value) -> str:
    return "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
