"""Choosing the compute device: CUDA when available (MPS on macOS), CPU otherwise, or the user's choice."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .errors import GmmSegError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def offered_devices(platform: str = sys.platform) -> tuple[str, ...]:
    """The devices worth offering on ``platform`` (torch-free, for the module's device list): MPS only on macOS
    (Apple's GPUs), CUDA elsewhere (PyTorch's CUDA builds are for Linux and Windows); whether the GPU is there,
    torch says when a job is started (:func:`resolve_device`)."""
    return ("auto", "cpu", "mps") if platform == "darwin" else ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``; a clear error if it is unknown or not present on this machine."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GmmSegError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
        return torch.device(name)
    if name == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise GmmSegError("device 'mps' requested but Apple MPS is not available here; use --device cpu")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise GmmSegError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
