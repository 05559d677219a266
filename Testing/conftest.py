"""Shared fixtures: small phantoms, an ACDC-layout folder made of phantoms, the shipped model, ACDC data."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from GmmSegLib import acdc  # noqa: E402
from GmmSegLib.io import CardiacImage, to_sitk  # noqa: E402
from GmmSegLib.labels import CONVENTIONS  # noqa: E402
from GmmSegLib.phantom import Phantom, make_cine_phantom  # noqa: E402


@pytest.fixture(scope="session")
def small_phantom() -> Phantom:
    """A 4-frame, 8-slice cine phantom (ES at frame 2)."""
    return make_cine_phantom(frames=4, slices=8, es_frame=2, seed=1)


@pytest.fixture(scope="session")
def phantom_volume(small_phantom: Phantom) -> CardiacImage:
    """Frame 0 of the small phantom as a 3D stack."""
    return small_phantom.image.frame_volume(0)


def write_image(path: Path, array: np.ndarray, spacing=(1.5, 1.5, 8.0), origin=None, direction=None) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    if origin is not None:
        image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="session")
def phantom_files(tmp_path_factory, small_phantom: Phantom) -> dict[str, Path]:
    """The small phantom on disk: a 3D frame, its labels, and the 4D cine."""
    folder = tmp_path_factory.mktemp("phantom_files")
    image = small_phantom.image
    volume = image.frame_volume(0)
    paths = {"volume": folder / "phantom_ed.nii.gz", "labels": folder / "phantom_ed_gt.nii.gz",
             "cine": folder / "phantom_cine.nii.gz"}
    sitk.WriteImage(to_sitk(volume.frames, volume.geometry), str(paths["volume"]))
    sitk.WriteImage(to_sitk(small_phantom.labels[0], volume.geometry), str(paths["labels"]))
    sitk.WriteImage(to_sitk(image.frames, image.geometry), str(paths["cine"]))
    return paths


@pytest.fixture(scope="session")
def phantom_acdc_dir(tmp_path_factory) -> Path:
    """Phantoms written in the ACDC layout (ACDC label values, manifest): a stand-in data set for the trainer."""
    root = tmp_path_factory.mktemp("phantom_acdc")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    to_acdc = {product: source for source, product in CONVENTIONS["acdc"].items()}
    rows = []
    for number, seed in ((1, 3), (2, 4)):
        phantom = make_cine_phantom(frames=3, slices=6, es_frame=2, seed=seed)
        for frame, phase in ((0, "ED"), (2, "ES")):
            case = f"patient{number:03d}_frame{frame + 1:02d}"
            volume = phantom.image.frame_volume(frame)
            sitk.WriteImage(to_sitk(volume.frames, volume.geometry), str(root / "images" / f"{case}.nii.gz"))
            labels = np.vectorize(to_acdc.get)(phantom.labels[frame]).astype(np.uint8)
            sitk.WriteImage(to_sitk(labels, volume.geometry), str(root / "labels" / f"{case}_gt.nii.gz"))
            rows.append({"case": case, "patient": f"patient{number:03d}", "phase": phase, "group": "NOR"})
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["case", "patient", "phase", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="session")
def shipped_model():
    """The shipped model and its registry entry (loaded through the hash check)."""
    from GmmSegLib.registry import load_registered

    return load_registered()


@pytest.fixture(scope="session")
def automatic(shipped_model, phantom_volume):
    """The shipped model's automatic segmentation of the phantom volume (registration net's phi)."""
    from GmmSegLib.inference import segment

    model, _ = shipped_model
    return segment(phantom_volume, model, "cpu")


@pytest.fixture(scope="session")
def acdc_dir() -> Path:
    """The real ACDC subset; skips the test with the reason when it is not there."""
    root = acdc.default_acdc_dir()
    if not (root / "manifest.csv").is_file():
        pytest.skip(f"ACDC data not found at {root} (set {acdc.DATA_ENV} to its folder)")
    return root
