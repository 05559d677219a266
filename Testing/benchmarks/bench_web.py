"""What a reader waits for in the web app: ``gmmseg serve`` on the demo phantom cine, driven in Chromium.

    python Testing/benchmarks/bench_web.py --out runs/bench_web [--repeats 3] [--frames 20]

Per repeat, in a fresh launcher: the visit until the page's session is ready, Open until the image is shown, Segment
until the results are shown (the ``gmmseg segment`` job, reading its files, the scene's nodes, the review queue and
the indices), and the session process's peak memory (VmHWM, Linux). Needs the web extra, Playwright and Chromium,
as Testing/web does. Medians go to ``<out>/bench_web.json``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "Testing" / "web"))

from bench_report import write_report  # noqa: E402
from launcher import start_launcher  # noqa: E402

from GmmSegLib.io.images import to_sitk  # noqa: E402
from GmmSegLib.io.phantom import make_cine_phantom  # noqa: E402

DONE = "/^(Segmented|Review advised)/.test(document.querySelector('#status').innerText)"


def one_visit(served: Path, chromium: str) -> dict:
    """Start a launcher, visit it, open and segment; the seconds of each step and the session's peak memory."""
    temporary = Path(tempfile.mkdtemp(prefix="bench-web-"))
    launcher, address = start_launcher(served, temporary)
    if address is None:
        raise SystemExit("gmmseg serve printed no address")
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            start = time.perf_counter()
            page.goto(address)
            page.wait_for_selector("#open", timeout=300000)
            ready = time.perf_counter()
            page.click("#open")
            page.wait_for_function("document.querySelector('#status').innerText.includes('frame(s)')")
            opened = time.perf_counter()
            page.click("#segment")
            page.wait_for_function(DONE, timeout=600000)
            shown = time.perf_counter()
            peak = _session_peak_mb(temporary)
            browser.close()
    finally:
        launcher.terminate()
        launcher.wait(timeout=60)
        shutil.rmtree(temporary, ignore_errors=True)
    return {"session_ready_s": ready - start, "open_s": opened - ready, "segment_to_shown_s": shown - opened,
            "session_peak_mb": peak}  # fmt: skip


def _session_peak_mb(temporary: Path) -> float | None:
    """The peak resident memory of the session process (found by its TMPDIR, under the launcher's)."""
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"TMPDIR={temporary}/".encode() not in environ.read_bytes():
                continue
            if b"--session" not in (environ.parent / "cmdline").read_bytes():
                continue
            status = (environ.parent / "status").read_text()
        except OSError:
            continue
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        if found:
            return int(found.group(1)) / 1024
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    arguments = parser.parse_args()
    served = Path(tempfile.mkdtemp(prefix="bench-web-served-"))
    phantom = make_cine_phantom(frames=arguments.frames)
    sitk.WriteImage(to_sitk(phantom.image.frames, phantom.image.geometry), str(served / "phantom_cine.nii.gz"))
    try:
        runs = [one_visit(served, arguments.chromium) for _ in range(arguments.repeats)]
    finally:
        shutil.rmtree(served, ignore_errors=True)
    medians = {key: statistics.median(run[key] for run in runs if run[key] is not None) for key in runs[0]}
    write_report(arguments.out, "bench_web", {"frames": arguments.frames, "runs": runs, "medians": medians})
    return 0


if __name__ == "__main__":
    sys.exit(main())
