"""``gmmseg bench``: speed and memory of segmentation and training on this machine.

Medians over repeats in one warm process: end-to-end seconds for a 3D volume of 10 slices and for a
20-frame cine (from the in-memory image to native-grid outputs), and of each stage of their segmentation
(GmmSegLib.inference.stage_clock); for the same volume the seconds inside the
networks (all of them, and one pass of GmmSeg's own: feature U-Net, heads, registration) and the end to end's
ratio to each; the volume again while another process keeps one core busy, with torch's own thread count and
with the threads a job gets (GmmSegLib.core.cpu_threads); the process's peak resident memory, and seconds
per training step/epoch. Inputs are the generated phantom, so the numbers do not depend on the data present.
"""

from __future__ import annotations

import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

from .core.cpu_threads import CoreShare
from .core.device import resolve_device
from .inference.end_systole import lv_log_offset_of
from .inference.segmentation import segment
from .inference.stage_clock import STAGES
from .io.phantom import make_cine_phantom
from .model.registry import load_registered
from .training.losses import supervised_losses
from .training.sampling import Perturbation, Volume, draw_batch


def _median_seconds(action, repeats: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _stage_medians(timings: list[dict[str, float]]) -> dict[str, float]:
    """Median seconds of each stage of a segmentation (GmmSegLib.inference.stage_clock) over the timed runs."""
    return {stage: round(statistics.median(run[f"{stage}_s"] for run in timings), 4) for stage in STAGES}


class _NetworkClock:
    """Seconds spent inside the networks while in its ``with`` block: all of them (localiser, handedness net, GmmSeg)
    and GmmSeg's own passes (feature U-Net, heads, registration), counted by forward hooks on the modules that
    :func:`~GmmSegLib.inference.segmentation.segment` calls, so it is the work that segment() really did."""

    def __init__(self, model):
        self._modules = [m for m in (model, model.localiser, model.handedness) if m is not None]
        self._segmenter = model
        self._started: dict[int, float] = {}
        self._hooks = []
        self.all_s = self.segmentation_s = 0.0
        self.segmentation_passes = 0

    def __enter__(self) -> _NetworkClock:
        for module in self._modules:
            self._hooks.append(module.register_forward_pre_hook(self._start))
            self._hooks.append(module.register_forward_hook(self._stop))
        return self

    def __exit__(self, *_) -> None:
        for hook in self._hooks:
            hook.remove()

    def _start(self, module, _inputs) -> None:
        self._started[id(module)] = time.perf_counter()

    def _stop(self, module, _inputs, _output) -> None:
        seconds = time.perf_counter() - self._started.pop(id(module))
        self.all_s += seconds
        if module is self._segmenter:
            self.segmentation_s += seconds
            self.segmentation_passes += 1

    @property
    def one_segmentation_pass_s(self) -> float:
        return self.segmentation_s / max(1, self.segmentation_passes)


def _one_core_busy(action, repeats: int) -> dict[str, float]:
    """Median seconds of ``action`` while another process keeps one core busy: with torch's own thread count
    (``all_threads``) and with the threads the job process gets (``idle_cores``, GmmSegLib.core.cpu_threads)."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    threads = torch.get_num_threads()
    try:
        time.sleep(0.5)
        all_threads = _median_seconds(action, repeats)
        cores = CoreShare()
        time.sleep(0.5)

        def with_idle_cores() -> None:
            cores.give_torch_the_idle_cores()
            action()

        idle_cores = _median_seconds(with_idle_cores, repeats)
    finally:
        busy.kill()
        busy.wait()
        torch.set_num_threads(threads)
    return {"all_threads": all_threads, "idle_cores": idle_cores}


def run_benchmarks(
    repeats: int = 7, device_name: str = "cpu", model_path: str | None = None, train_steps: int = 5
) -> dict:
    device = resolve_device(device_name)
    model, entry = load_registered(model_path)
    model.prepared_for_inference(device)
    phantom = make_cine_phantom(frames=20, slices=10)
    cine = phantom.image
    volume = cine.frame_volume(0)
    volume_timings: list[dict[str, float]] = []
    volume_s = _median_seconds(lambda: volume_timings.append(segment(volume, model, device).timings), repeats)
    clocks = []
    for _ in range(repeats):
        with _NetworkClock(model) as clock:
            result = segment(volume, model, device)
        clocks.append(clock)
    forward_s = statistics.median(clock.all_s for clock in clocks)
    segmentation_pass_s = statistics.median(clock.one_segmentation_pass_s for clock in clocks)
    cine_timings: list[dict[str, float]] = []
    correction = lv_log_offset_of(entry.record)  # a cine is corrected at end-systole as `gmmseg segment` does
    cine_s = _median_seconds(
        lambda: cine_timings.append(segment(cine, model, device, end_systolic_lv_offset=correction).timings),
        max(1, repeats // 3),
    )
    loaded = _one_core_busy(lambda: segment(volume, model, device), repeats) if device.type == "cpu" else {}

    volumes = [Volume.from_image(cine, result.location, phantom.labels[0], frame=0)]
    model, _ = load_registered(model_path)  # as the trainer has it, not laid out for inference
    model.to(device).train()
    optimiser = torch.optim.Adam(model.features.parameters(), lr=1e-5)
    generator = torch.Generator().manual_seed(0)

    def train_step() -> None:
        batch = draw_batch(volumes, 16, Perturbation(), generator, context=model.context_slices)
        losses = supervised_losses(model, batch.to(device), 0.1)
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()

    step_s = _median_seconds(train_step, train_steps)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "device": str(device),
        },
        "model": entry.id,
        "volume_10_slices_end_to_end_s": round(volume_s, 4),
        "volume_10_slices_network_forward_s": round(forward_s, 4),
        "end_to_end_over_forward": round(volume_s / forward_s, 3),
        "volume_10_slices_segmentation_passes": clocks[-1].segmentation_passes,
        "volume_10_slices_one_segmentation_pass_s": round(segmentation_pass_s, 4),
        "end_to_end_over_one_segmentation_pass": round(volume_s / segmentation_pass_s, 3),
        "volume_10_slices_recentrings": result.location.recentrings,
        "volume_10_slices_stages_s": _stage_medians(volume_timings[1:]),
        "cine_20_frames_end_to_end_s": round(cine_s, 4),
        "cine_20_frames_stages_s": _stage_medians(cine_timings[1:]),
        **{f"volume_10_slices_one_core_busy_{name}_s": round(seconds, 4) for name, seconds in loaded.items()},
        **{f"one_core_busy_over_quiet_{name}": round(seconds / volume_s, 3) for name, seconds in loaded.items()},
        "peak_resident_memory_mb": round(peak_mb, 1),
        "train_step_batch16_s": round(step_s, 4),
        "train_epoch_40_steps_s": round(40 * step_s, 2),
        "repeats": repeats,
    }
