"""``gmmseg bench``: speed and memory of segmentation and training on this machine.

Medians over repeats in one warm process: end-to-end seconds for a 3D volume of 10 slices and for a
20-frame cine (from the in-memory image to native-grid outputs), the bare network forward passes for
the same volume, their ratio, the process's peak resident memory, and seconds per training step/epoch.
Inputs are the generated phantom, so the numbers do not depend on the data present.
"""

from __future__ import annotations

import platform
import resource
import statistics
import time

import torch

from .core.device import resolve_device
from .inference.localisation import localiser_view, quarter_turn_probabilities
from .inference.segmentation import network_input, segment
from .io.phantom import make_cine_phantom
from .model.atlas import prior_at
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


def run_benchmarks(repeats: int = 7, device_name: str = "cpu", model_path: str | None = None,
                   train_steps: int = 5) -> dict:
    device = resolve_device(device_name)
    model, entry = load_registered(model_path)
    model = model.to(device).eval()
    phantom = make_cine_phantom(frames=20, slices=10)
    cine = phantom.image
    volume = cine.frame_volume(0)
    location = segment(volume, model, device).location
    crop = location.canonical_crop(*volume.spacing_xyz[:2], *volume.frames.shape[-2:])
    native = torch.from_numpy(volume.frames[0]).to(device)
    prior = prior_at(model.atlas, location.positions).to(device)

    @torch.no_grad()
    def bare_forward() -> None:
        """The networks segment() runs: localiser (on four quarter turns) and handedness net, each twice (as stored
        and reversed), then GmmSeg once per crop the centring tried (GmmSegLib.inference.centring) and once more
        for the quality check's second pass of the stack (GmmSegLib.clinical.quality)."""
        slices_in_context = network_input(model, native, crop, location)
        canonical = slices_in_context[:, :1]  # channel 0: each slice itself
        view = localiser_view(native, *volume.spacing_xyz[:2])
        quarter_turn_probabilities(model.localiser, view)
        if model.handedness is not None:
            quarter_turn_probabilities(model.localiser, view.flip(-1))
            model.handedness(canonical)
            model.handedness(canonical.flip(-2))
        for _ in range(1 + location.recentrings):
            phi = model(slices_in_context, prior).phi
        model(slices_in_context, prior, phi[0])  # the second pass keeps the first one's registration

    volume_s = _median_seconds(lambda: segment(volume, model, device), repeats)
    forward_s = _median_seconds(bare_forward, repeats)
    cine_s = _median_seconds(lambda: segment(cine, model, device), max(1, repeats // 3))

    volumes = [Volume.from_image(cine, location, phantom.labels[0], frame=0)]
    model.train()
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
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "device": str(device)},
        "model": entry.id,
        "volume_10_slices_end_to_end_s": round(volume_s, 4),
        "volume_10_slices_network_forward_s": round(forward_s, 4),
        "end_to_end_over_forward": round(volume_s / forward_s, 3),
        "volume_10_slices_recentrings": location.recentrings,
        "cine_20_frames_end_to_end_s": round(cine_s, 4),
        "peak_resident_memory_mb": round(peak_mb, 1),
        "train_step_batch16_s": round(step_s, 4),
        "train_epoch_40_steps_s": round(40 * step_s, 2),
        "repeats": repeats,
    }
