"""Whether segmenting an image can fit in this computer's memory, decided before the work starts.

Segmenting holds, per voxel of the input, the image, the class probabilities, the registered prior, the three
uncertainty maps and the labels, plus what torch needs while mapping them back to the native grid. A fixed
0.6 GB (Python, torch, the model) and 100 bytes per voxel bound every peak measured (``/usr/bin/time -v gmmseg
segment`` from 6 M to 79 M voxels; BENCHMARKS.md, "Speed and memory"), by at most a quarter.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import InputError

BASE_BYTES = 600_000_000
BYTES_PER_VOXEL = 100
PROBABILITIES_BYTES_PER_VOXEL = 16  # --probabilities also writes (K = 4) float32 probabilities


def segmentation_bytes(voxels: int, probabilities: bool = False) -> int:
    """The estimated peak memory of segmenting an input of ``voxels`` voxels (all frames)."""
    per_voxel = BYTES_PER_VOXEL + (PROBABILITIES_BYTES_PER_VOXEL if probabilities else 0)
    return BASE_BYTES + per_voxel * voxels


def available_bytes() -> int | None:
    """The memory the system can give this process now (Linux MemAvailable, Windows' available physical
    memory), or None where it cannot be known (then nothing is refused)."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    if os.name == "nt":
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [
                ("length", ctypes.c_ulong),
                ("load", ctypes.c_ulong),
                ("total", ctypes.c_ulonglong),
                ("available", ctypes.c_ulonglong),
                ("total_page", ctypes.c_ulonglong),
                ("available_page", ctypes.c_ulonglong),
                ("total_virtual", ctypes.c_ulonglong),
                ("available_virtual", ctypes.c_ulonglong),
                ("available_extended", ctypes.c_ulonglong),
            ]

        status = MemoryStatus()
        status.length = ctypes.sizeof(MemoryStatus)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.available)
    return None


def check_fits(shape: tuple[int, ...], source: str, probabilities: bool = False) -> None:
    """Refuse an input whose segmentation cannot fit in the memory available now, saying what would help."""
    voxels = 1
    for size in shape:
        voxels *= int(size)
    needed, available = segmentation_bytes(voxels, probabilities), available_bytes()
    if available is not None and needed > available:
        raise InputError(
            f"{source}: segmenting {' x '.join(map(str, shape))} voxels needs about "
            f"{needed / 2**30:.1f} GB of memory and {available / 2**30:.1f} GB are free; segment fewer "
            "frames at once (split the cine), crop the image, or use a machine with more memory"
        )
