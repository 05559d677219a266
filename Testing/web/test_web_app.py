"""The web app end to end in a real browser: ``gmmseg serve`` on a folder with the demo phantom cine, Debian's
Chromium driven by Playwright, checks on the pixels the page shows.

Needs the web extra (``pip install -e '.[web]'`` and ``playwright``) and a Chromium (``/usr/bin/chromium``, or
``GMMSEG_CHROMIUM``); skipped, saying which is missing, without them. CI installs them (``.ci/run``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("trame_slicer", reason="the web app needs trame-slicer: pip install -e '.[web]'")
pytest.importorskip("torch", reason="segmenting needs torch")
playwright = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs playwright: pip install playwright"
)
CHROMIUM = os.environ.get("GMMSEG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set GMMSEG_CHROMIUM)", allow_module_level=True
    )

from launcher import start_launcher  # noqa: E402

from conftest import gmmseg  # noqa: E402
from GmmSegLib.core.labels import STRUCTURE_COLOURS  # noqa: E402
from GmmSegLib.io.images import to_sitk  # noqa: E402
from GmmSegLib.io.phantom import make_cine_phantom  # noqa: E402

pytestmark = pytest.mark.slow
FRAMES = 4  # a short cine keeps the job to seconds; its ES is frame 2
START_S = 120  # a session process starting beside others on two busy cores
STATUS_DONE = "/^(Segmented|Review advised)/.test(document.querySelector('#status').innerText)"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    phantom = make_cine_phantom(frames=FRAMES, es_frame=2)
    sitk.WriteImage(to_sitk(phantom.image.frames, phantom.image.geometry), str(folder / "phantom_cine.nii.gz"))
    return folder


@pytest.fixture(scope="module")
def temporary(tmp_path_factory):
    """The launcher's temporary folder (TMPDIR): where its sessions keep their copies of the patient's images."""
    return tmp_path_factory.mktemp("tmp")


@pytest.fixture(scope="module")
def server(served, temporary):
    process, address = start_launcher(served, temporary)
    if address is None:
        pytest.fail("gmmseg serve printed no address")
    yield address
    process.terminate()
    process.wait(timeout=30)
    assert list(temporary.iterdir()) == []  # no session's folder, no copy of an image, is left behind


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _views(page) -> np.ndarray:
    """The axial view's pixels (RGB) as the browser shows them."""
    from PIL import Image

    box = page.locator("#views").bounding_box()
    shot = page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["width"] / 2, "height": box["height"]})
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


def _tinted(view: np.ndarray, structure: str) -> np.ndarray:
    """Where the view is tinted with the structure's colour: its dominant channel clearly above the other two (the
    labels are blended over a grey image, so only the hue is kept)."""
    dominant = int(np.argmax(STRUCTURE_COLOURS[structure]))
    return (view[..., dominant] - np.delete(view, dominant, axis=-1).max(axis=-1)) > 40


def _pixels_of(view: np.ndarray, structure: str) -> int:
    return int(_tinted(view, structure).sum())


def _index(page, name: str) -> float:
    """An index as the page's table shows it."""
    row = page.locator("#indices tr", has_text=name).first
    return float(row.locator("td").nth(1).inner_text())


def _choose_structure(page, name: str) -> None:
    """Pick the structure that Refine, Paint and Erase act on."""
    page.click(f"#structure-{name}")
    page.wait_for_selector(f"#structure-{name}.v-btn--active")


def _status(page) -> str:
    return page.inner_text("#status")


def test_without_the_token_the_page_gets_nothing(server, browser):
    page = browser.new_page()
    refused = page.goto(server.split("?")[0])
    assert refused.status == 403 and "with its token" in page.inner_text("body")
    page.goto(server)  # a session of its own, whose address without its token gets no scene either
    page.wait_for_selector("#open", timeout=START_S * 1000)
    page.goto(page.url.split("?")[0])
    time.sleep(5)
    assert page.locator("#status").count() == 0  # the session's websocket refused: no state, no views
    page.close()


def test_each_browser_session_has_a_scene_of_its_own(server, browser):
    first, second = browser.new_page(), browser.new_page()
    for page in (first, second):
        page.goto(server)
        page.wait_for_selector("#open", timeout=START_S * 1000)
    assert first.url.split("?")[0] != second.url.split("?")[0]  # two processes, two scenes
    first.click("#open")
    first.wait_for_function("document.querySelector('#status').innerText.includes('frame(s)')", timeout=60000)
    time.sleep(1)
    assert _status(second).startswith("Choose an image")  # nothing of the first reader's patient
    first.close()
    second.close()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the session processes through /proc")
def test_a_session_that_crashes_leaves_no_folder_behind(server, browser, temporary):
    page = browser.new_page()
    page.goto(server)
    page.wait_for_selector("#open", timeout=START_S * 1000)
    folders = set(temporary.glob("gmmseg-sessions-*/session-*"))
    assert folders  # each session has one
    killed = 0
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            mine = f"TMPDIR={temporary}/".encode() in environ.read_bytes()
        except OSError:
            continue
        if mine:
            os.kill(int(environ.parent.name), signal.SIGKILL)  # every session: as a crash ends them
            killed += 1
    assert killed
    deadline = time.monotonic() + 30
    while any(folder.exists() for folder in folders) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(folder.exists() for folder in folders)
    page.close()


def test_the_clinicians_review_in_a_browser(server, browser, served, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    page.goto(server)
    page.wait_for_selector("#open", timeout=START_S * 1000)
    page.click("#open")
    page.wait_for_function("document.querySelector('#status').innerText.includes('frame(s)')", timeout=60000)
    time.sleep(2)
    opened = _views(page)
    assert all(_pixels_of(opened, structure) < 50 for structure in STRUCTURE_COLOURS)  # a grey image, no labels

    page.click("#segment")
    page.wait_for_function(STATUS_DONE, timeout=300000)
    time.sleep(3)
    segmented = _views(page)
    shown = {structure: _pixels_of(segmented, structure) for structure in STRUCTURE_COLOURS}
    assert all(count > 300 for count in shown.values()), shown  # each structure drawn in the slice view
    assert page.locator("#review tr").count() > 0 and "LVEF (%)" in page.inner_text("#indices")
    assert page.locator("#curve").get_attribute("src").startswith("data:image/png;base64,")  # the volume curve
    page.click("#undo")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Undo')")
    assert "nothing to undo" in _status(page)

    # the graded uncertainty overlay, off and then at full strength: it changes pixels where the heart is drawn only
    page.locator("#uncertainty-slider [role=slider]").focus()
    page.keyboard.press("Home")
    time.sleep(3)
    without = _views(page)
    page.keyboard.press("End")
    time.sleep(3)
    changed = np.abs(_views(page) - without).sum(axis=-1) > 40
    rows, columns = np.nonzero(np.any([_tinted(without, structure) for structure in STRUCTURE_COLOURS], axis=0))
    near_heart = np.zeros_like(changed)
    near_heart[rows.min() - 10 : rows.max() + 10, columns.min() - 10 : columns.max() + 10] = True
    assert changed.sum() > 100 and (changed & ~near_heart).sum() < 0.02 * changed.sum()
    page.click("#show-prior")  # the registered prior instead: another picture, spread wider than the borders
    time.sleep(3)
    prior = _views(page)
    assert (np.abs(prior - without).sum(axis=-1) > 40).sum() > changed.sum()
    page.click("#show-prior")
    time.sleep(2)

    # click refinement: a background click in the LV's middle, LV refined (the panel's Refine), then undone
    _choose_structure(page, "LV")
    page.click("#background-clicks")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Click in a slice view')")
    lv_rows, lv_columns = np.nonzero(_tinted(_views(page), "LV"))
    box = page.locator("#views").bounding_box()
    page.mouse.click(box["x"] + lv_columns.mean(), box["y"] + lv_rows.mean())
    page.wait_for_function("document.querySelector('#clicks-placed').innerText.startsWith('1 ')")
    page.click("#refine")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Refined')")
    changed_pixels = int(re.search(r"(\d+) pixels changed", _status(page)).group(1))
    assert "LV" in _status(page) and changed_pixels > 0
    time.sleep(2)
    assert _pixels_of(_views(page), "LV") < shown["LV"]  # the blood pool around the click is no longer LV
    page.click("#undo")
    page.wait_for_function("document.querySelector('#status').innerText == 'Undo: Refine LV'")
    assert _status(page) == "Undo: Refine LV"

    # a scribble (the panel's): points from the LV's middle out into its myocardium, joined into one LV stroke
    time.sleep(2)  # the views redrawn after the Undo
    lv_before = _views(page)
    lv_rows, lv_columns = np.nonzero(_tinted(lv_before, "LV"))
    centre = np.array([lv_rows.mean(), lv_columns.mean()])
    wall = np.argwhere(_tinted(lv_before, "MYO"))
    assert len(wall), "no myocardium drawn"
    nearest = wall[np.argmin(np.linalg.norm(wall - centre, axis=1))]  # the wall's pixel nearest the LV's middle
    outward = (nearest - centre) / max(np.linalg.norm(nearest - centre), 1.0)
    page.click("#scribble")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Click in a slice view')")
    for row, column in (centre, (centre + nearest) / 2, nearest + 2 * outward):
        page.mouse.click(box["x"] + float(column), box["y"] + float(row))
    page.wait_for_function("document.querySelector('#clicks-placed').innerText.startsWith('3 ')")
    page.click("#refine")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Refined')")
    assert "LV" in _status(page) and int(re.search(r"(\d+) pixels changed", _status(page)).group(1)) > 0
    time.sleep(2)
    assert _pixels_of(_views(page), "LV") > _pixels_of(lv_before, "LV")  # the stroke drew LV into the wall
    page.click("#undo")
    page.wait_for_function("document.querySelector('#status').innerText == 'Undo: Refine LV'")

    # a background scribble: across the LV's middle, where the LV should not be; the LV is taken away along it
    time.sleep(2)
    page.click("#background-scribble")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Click in a slice view')")
    for row, column in (centre - 3 * outward, centre, centre + 3 * outward):
        page.mouse.click(box["x"] + float(column), box["y"] + float(row))
    page.wait_for_function("document.querySelector('#clicks-placed').innerText.startsWith('3 ')")
    page.click("#refine")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Refined')")
    time.sleep(2)
    assert _pixels_of(_views(page), "LV") < _pixels_of(lv_before, "LV")
    page.click("#undo")
    page.wait_for_function("document.querySelector('#status').innerText == 'Undo: Refine LV'")

    # the Segment Editor's paint: MYO painted across the LV's middle; the indices follow the stroke
    mass_before, myo_before = _index(page, "LV mass (g)"), _pixels_of(_views(page), "MYO")
    _choose_structure(page, "MYO")
    page.click("#paint")  # the stroke goes through the view's own channel: only once the brush is on
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Drag in a slice view')")
    lv_rows, lv_columns = np.nonzero(_tinted(_views(page), "LV"))  # where the LV is drawn now
    x, y = box["x"] + lv_columns.mean(), box["y"] + lv_rows.mean()  # across the LV: MYO replaces LV there
    page.mouse.move(x - 15, y)
    page.mouse.down()
    for step in range(16):
        page.mouse.move(x - 15 + 2 * step, y)
        time.sleep(0.02)
    page.mouse.up()
    deadline = time.monotonic() + 60  # the stroke reaches the server through the view's own channel: wait for it
    while _pixels_of(_views(page), "MYO") <= myo_before and time.monotonic() < deadline:
        time.sleep(0.5)
    page.click("#stop-editing")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Editing stopped')")
    time.sleep(2)
    painted_mass = _index(page, "LV mass (g)")
    assert painted_mass > mass_before
    page.click("#undo")  # the stroke is one step
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Undo: Paint MYO')")
    assert _index(page, "LV mass (g)") == mass_before
    page.click("#redo")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Redo: Paint MYO')")
    assert _index(page, "LV mass (g)") == painted_mass

    # Confirm ED/ES and slices: the reader takes frame 1 as end-systole (the model's is 2): the LVEF follows, and
    # Undo brings the model's back
    page.click("#confirm-toggle")
    page.wait_for_selector("#es-frame", state="visible")
    assert page.input_value("#es-frame") == "2" and "model: 2" in page.inner_text("#confirm")
    ejection = _index(page, "LVEF (%)")
    page.fill("#es-frame", "1")
    page.click("#confirm-recompute")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Choices')")
    assert _status(page) == "Choices: indices recomputed with ES frame 1."
    assert _index(page, "LVEF (%)") < ejection and "ES frame 1" in page.inner_text("#confirm-note")
    page.click("#undo")
    page.wait_for_function("document.querySelector('#status').innerText == 'Undo: ES frame 1'")
    assert _index(page, "LVEF (%)") == ejection and page.input_value("#es-frame") == "2"
    page.fill("#exclude-slice", "0")  # the basal slice at ED (the phase chosen by default) left out of the indices
    page.click("#exclude-toggle")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Choices')")
    assert _status(page) == "Choices: indices recomputed with ED slice 0 excluded."
    assert _index(page, "LVEF (%)") != ejection and page.inner_text("#excluded-slices") == "Excluded slices: ED 0"
    page.click("#undo")
    page.wait_for_function("document.querySelector('#status').innerText == 'Undo: ED slice 0 excluded'")
    assert _index(page, "LVEF (%)") == ejection
    page.click("#confirm-toggle")  # folded again: the views as they were
    page.wait_for_selector("#es-frame", state="hidden")
    time.sleep(2)

    page.locator("#frame-slider [role=slider]").focus()  # the cine's frames: the slider, as the Sequences toolbar
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    time.sleep(3)
    systole = _views(page)
    assert _pixels_of(systole, "LV") < shown["LV"]  # frame 2 is the phantom's end-systole: a smaller LV

    page.click("#accept")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Accept')")
    page.click("#undo")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Undo: Accept')")
    page.click("#redo")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Redo')")

    page.click("#export")
    page.wait_for_function("document.querySelector('#status').innerText.startsWith('Export')")
    exported = served / "gmmseg_export"
    assert {"phantom_cine_seg.nii.gz", "phantom_cine_uncertainty.nii.gz", "phantom_cine_indices.json"} <= {
        p.name for p in exported.iterdir()
    }
    # gmmseg segment's labels for the same image, but for the stroke painted on frame 0 (MYO) that the export keeps
    run = gmmseg("segment", served / "phantom_cine.nii.gz", "--out", tmp_path / "cli", "--device", "cpu")
    assert run.returncode == 0, run.stderr
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(exported / "phantom_cine_seg.nii.gz")))
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "cli" / "phantom_cine_seg.nii.gz")))
    painted = labels != expected
    assert 0 < painted.sum() < 2000 and not painted[1:].any() and (labels[painted] == 2).all()
    # the maps as the command line wrote them: to float rounding, since each process gives torch one thread per idle
    # core (core.cpu_threads) and another thread count sums the convolutions in another order
    for maps in ("uncertainty", "aleatoric", "epistemic"):
        exported_map = sitk.ReadImage(str(exported / f"phantom_cine_{maps}.nii.gz"))
        written_map = sitk.ReadImage(str(tmp_path / "cli" / f"phantom_cine_{maps}.nii.gz"))
        assert exported_map.GetSpacing() == written_map.GetSpacing()
        exported_values, written_values = sitk.GetArrayFromImage(exported_map), sitk.GetArrayFromImage(written_map)
        assert np.allclose(exported_values, written_values, rtol=0, atol=1e-4), maps
    row = page.locator("#review tr").nth(0)  # a review row shows its frame
    wanted = int(re.search(r"frame (\d+)", row.inner_text()).group(1))
    page.locator("#frame-slider [role=slider]").focus()
    page.keyboard.press("End")  # away from it first
    row.click()
    page.wait_for_function(f"document.querySelector('#frame-slider input').value == '{wanted}'")
    page.close()
