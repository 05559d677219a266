"""Shared fixtures: small phantoms, an ACDC-layout folder made of phantoms, the shipped model, ACDC data.

The tests sit in one folder per floor of the library (Testing/core, io, model, ... top); pytest puts this folder on
``sys.path``, so the tests of every floor import this file (``conftest``), the Slicer harness (``slicer_harness``) and
the test helpers beside it (``launcher``, ``panel_steps``) by name. The library (GmmSegModule) and the research
benchmarks (Testing/benchmarks), whose code some tests check, are put on ``sys.path`` here, once for all tests.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
import subprocess
import sys
import types
from pathlib import Path

MOST_WORKERS = 4  # pytest -n auto: each worker holds its own torch, Qt and scenes (about 1.5 GB at its peak)


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _share_the_cpus_among_workers() -> None:
    """Under pytest-xdist (``-n``), give each worker, and every process its tests start, an equal share of the CPUs
    through ``OMP_NUM_THREADS``, unless the user fixed the count. Left to itself each worker's torch takes every
    core, and two workers on two cores then slow each other's trainings two- to threefold (BENCHMARKS.md, "Test
    suite"). Runs before numpy and torch are imported, which read the variable once."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers > 1 and not (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
        os.environ["OMP_NUM_THREADS"] = str(max(1, _usable_cpus() // workers))


_share_the_cpus_among_workers()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import SimpleITK as sitk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = ROOT / "GmmSegModule" / "GmmSegModule.py"  # the module the GUI tests load into the harness
sys.path.insert(0, str(ROOT / "GmmSegModule"))
sys.path.insert(0, str(ROOT / "Testing" / "benchmarks"))  # readouts, simulated_sites, ... and the bench_* scripts


def _install_slicer_harness() -> str | None:
    """Make ``slicer`` what it is inside the application (slicer-core's MRML, Slicer 5.12.3's own Python layer, the
    harness's Qt/CTK/qMRML stand-ins) before anything imports it; the reason when that cannot be done."""
    import slicer_harness

    try:
        slicer_harness.install()
    except ImportError as missing:
        return f"{missing.name} is not installed (pip install -e '.[test]')"
    except FileNotFoundError as missing:
        return str(missing)
    return None


HARNESS_MISSING = _install_slicer_harness()  # None when the module's GUI can be run
# the model, the command line and click refinement run torch; the harness, the MRML glue and packaging do not
# (Slicer's own Python 3.12 has no torch until the PyTorch extension installs it)
requires_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")

from GmmSegLib.core import paths  # noqa: E402
from GmmSegLib.core.labels import CONVENTIONS  # noqa: E402
from GmmSegLib.io.images import CardiacImage, to_sitk  # noqa: E402
from GmmSegLib.io.phantom import Phantom, make_cine_phantom  # noqa: E402


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``pytest -n auto``: one worker per usable CPU, at most :data:`MOST_WORKERS`."""
    return max(1, min(MOST_WORKERS, _usable_cpus()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the real ACDC data are ``acdc`` and ``slow`` (``pytest -m "not slow"`` is the quick loop)."""
    for item in items:
        if "acdc_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.acdc)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def library_logger_as_found():
    """Give each test the ``gmmseg`` logger as it found it: ``cli.main`` run in-process routes the library's warnings
    to stderr lines and stops their propagation (right for the command line's process, wrong for pytest's caplog)."""
    logger = logging.getLogger("gmmseg")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate


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


# A GE scanner's NIfTI export as found at a hospital: no qform, an sform whose directions are orthonormal only to about
# 1e-4 (the scanner's direction cosines rounded), which ITK refuses by default; the header's values exactly as read
GE_PIXDIM = (1.0, 1.4844, 1.4844, 10.0, 1.0, 1.0, 1.0, 1.0)
GE_SROW = (
    -0.55267179,
    1.04542279,
    6.04373026,
    -150.75,
    -1.25592411,
    0.01504009,
    -5.32976246,
    216.12199,
    -0.56626147,
    -1.05371177,
    5.92173576,
    203.75101,
)


def write_ge_sform_nifti(path: Path, array: np.ndarray) -> Path:
    """``array`` (Z, Y, X) or a cine (T, Z, Y, X) as an uncompressed NIfTI-1 file (written by ITK) whose header is then
    made the GE one: pixdim, qform_code 0, sform_code 2 and the srow above (field offsets of nifti1.h, little-endian
    as ITK writes)."""
    import struct

    frames = [sitk.GetImageFromArray(frame) for frame in array] if array.ndim == 4 else []
    sitk.WriteImage(sitk.JoinSeries(frames) if frames else sitk.GetImageFromArray(array), str(path))
    data = bytearray(path.read_bytes())
    struct.pack_into("<8f", data, 76, *GE_PIXDIM)
    struct.pack_into("<hh", data, 252, 0, 2)  # qform_code, sform_code
    struct.pack_into("<12f", data, 280, *GE_SROW)
    path.write_bytes(bytes(data))
    return path


def gmmseg(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``gmmseg`` run as a user runs it, in a process of its own (Testing/top/test_cli.py and the tests of the other
    floors that go through the command line)."""
    import os

    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "GmmSegLib.cli", *map(str, arguments)],
        capture_output=True,
        text=True,
        cwd=ROOT / "GmmSegModule",
        env=environment,
        timeout=900,
    )


AXIAL = "1\\0\\0\\0\\1\\0"  # ImageOrientationPatient: rows along x, columns along y, slices along z


def write_dicom_series(
    folder: Path,
    array: np.ndarray,
    spacing=(1.4, 1.4, 8.0),
    phases: int = 1,
    series=lambda z: "1.2.826.0.1.3680043.2.1125.1",
    orientation=lambda z: AXIAL,
    position=None,
    description: str = "sa cine",
    prefix: str = "im",
) -> list[Path]:
    """A minimal DICOM series, one file per slice and phase, from ``array`` (phases, slices, rows, columns).

    Per slice index z: ``series`` gives the series UID (one for all, or one per position as some scanners store a
    cine), ``orientation`` the ImageOrientationPatient text, ``position`` the ImagePositionPatient (mm; by default
    ``z * spacing[2]`` along z). Phases get trigger times 0, 40, 80 ... ms. Returns the files, phase by phase.
    """
    position = position or (lambda z: (0.0, 0.0, z * spacing[2]))
    folder.mkdir(exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    files = []
    for phase in range(phases):
        for z in range(array.shape[1]):
            slice_image = sitk.GetImageFromArray(array[phase, z][None])
            slice_image.SetSpacing(spacing)
            for tag, value in (
                ("0020|000e", series(z)),
                ("0020|0032", "\\".join(f"{p:.6f}" for p in position(z))),
                ("0020|0037", orientation(z)),
                ("0018|0050", f"{spacing[2]:g}"),
                ("0018|1060", str(40.0 * phase)),
                ("0020|0013", str(len(files) + 1)),
                ("0008|0060", "MR"),
                ("0008|103e", description),
            ):
                slice_image.SetMetaData(tag, value)
            files.append(folder / f"{prefix}{len(files):04d}.dcm")
            writer.SetFileName(str(files[-1]))
            writer.Execute(slice_image)
    return files


@pytest.fixture(scope="session")
def phantom_files(tmp_path_factory, small_phantom: Phantom) -> dict[str, Path]:
    """The small phantom on disk: a 3D frame, its labels, and the 4D cine."""
    folder = tmp_path_factory.mktemp("phantom_files")
    image = small_phantom.image
    volume = image.frame_volume(0)
    paths = {
        "volume": folder / "phantom_ed.nii.gz",
        "labels": folder / "phantom_ed_gt.nii.gz",
        "cine": folder / "phantom_cine.nii.gz",
    }
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


def known_result(phantom: Phantom, frames: list[int] | None = None):
    """What a perfect model would hand the scene for ``phantom`` (its own labels, uncertainty on the structures'
    borders, the prior as blurred labels), built without torch: for tests of the MRML glue and the GUI, where the
    model is not the point."""
    from scipy import ndimage

    from GmmSegLib.clinical.case_summary import CaseSummary, ModelUsed
    from GmmSegLib.clinical.indices import clinical_indices
    from GmmSegLib.core.file_names import UNCERTAINTY_FILES
    from GmmSegLib.inference.case_result import CaseResult
    from GmmSegLib.model.canonical_crop import CanonicalCrop
    from GmmSegLib.model.phi import Phi

    frames = list(range(phantom.image.num_frames)) if frames is None else frames
    labels = phantom.labels[frames]
    one_hot = np.stack([labels == k for k in range(4)], axis=1).astype(np.float32)  # (T, K, Z, Y, X)
    probabilities = ndimage.gaussian_filter(one_hot, (0, 0, 0, 1.5, 1.5))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    border = 1.0 - probabilities.max(axis=1)
    uncertainty = {kind: border * share for kind, share in zip(UNCERTAINTY_FILES, (1.0, 0.6, 0.4), strict=True)}
    sx, sy, _ = phantom.image.spacing_xyz
    rows, columns = labels.shape[-2:]
    crop = CanonicalCrop((columns - 1) / 2, (rows - 1) / 2, 0.0, sx, sy, rows, columns)
    summary = CaseSummary(
        "phantom",
        len(frames),
        phantom.image.spacing_xyz,
        ModelUsed("known answer", "0" * 64, "none", True),
        canonical_crop=crop,
        phi=[Phi()] * len(frames),
    )
    if len(frames) >= 2:
        summary.clinical_indices = clinical_indices(labels, phantom.image.spacing_xyz).to_dict()
    return CaseResult(labels.astype(np.uint8), uncertainty, probabilities, summary, probabilities)


@pytest.fixture(scope="session")
def shipped_model():
    """The shipped model and its registry entry (loaded through the hash check)."""
    pytest.importorskip("torch", reason="the model needs torch")
    from GmmSegLib.model.registry import load_registered

    return load_registered()


@pytest.fixture(scope="session")
def automatic(shipped_model, phantom_volume):
    """The shipped model's automatic segmentation of the phantom volume (registration net's phi)."""
    from GmmSegLib.inference.segmentation import segment

    model, _ = shipped_model
    return segment(phantom_volume, model, "cpu")


@pytest.fixture(scope="session")
def acdc_dir() -> Path:
    """The real ACDC subset; skips the test with the reason when it is not there."""
    root = paths.acdc_dir()
    if not (root / "manifest.csv").is_file():
        pytest.skip(f"ACDC data not found at {root} (set {paths.ACDC_ENV} to its folder)")
    return root


@pytest.fixture(scope="session")
def harness():
    """The Slicer application stand-in (Testing/slicer_harness); skips with the reason when it cannot run."""
    if HARNESS_MISSING:
        pytest.skip(f"the Slicer harness cannot run: {HARNESS_MISSING}")
    import slicer

    return slicer


@pytest.fixture
def pythonslicer(tmp_path_factory, monkeypatch):
    """A ``PythonSlicer`` launcher on PATH that, like Slicer's, runs the interpreter as its child and forwards no
    signal (Testing/launcher.py)."""
    import os

    from launcher import install_launcher

    launcher = install_launcher(tmp_path_factory.mktemp("slicer_bin"))
    monkeypatch.setenv("PATH", f"{launcher.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return launcher


class PyTorchUtilsStandIn:
    """Stands for SlicerPyTorch's PyTorchUtils.PyTorchUtilsLogic (PyTorchUtils/PyTorchUtils.py): torchInstalled()
    tells whether torch can be imported; installTorch() would download it, which a test must not do."""

    @staticmethod
    def torchInstalled() -> bool:
        return importlib.util.find_spec("torch") is not None

    def installTorch(self, askConfirmation=False, **_options):
        raise AssertionError("a test must not install PyTorch")


@pytest.fixture
def module(harness, pythonslicer, monkeypatch, tmp_path):
    """The module loaded and shown in an empty scene, with the PyTorch extension present and the user's models
    folder in tmp_path; unloaded afterwards as at Slicer exit."""
    from slicer_harness import load_module

    harness.mrmlScene.Clear()
    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=PyTorchUtilsStandIn))
    monkeypatch.setenv("GMMSEG_USER_MODELS_DIR", str(tmp_path / "user models"))
    loaded = load_module(MODULE_FILE)
    yield loaded
    harness.app.moduleManager().moduleAboutToBeUnloaded.emit(loaded.name)
    harness.mrmlScene.Clear()


@pytest.fixture(params=["5.12.3", "5.10.0"])
def slicer_release(request, harness, pythonslicer, tmp_path_factory, monkeypatch):
    """Slicer 5.12.3, then 5.10.0: the harness's Python layer (slicer_harness.releases) and the ``PythonSlicer``
    launcher on PATH (Testing/launcher.py) as that release has them."""
    import os

    from launcher import install_launcher
    from slicer_harness.releases import slicer_release

    launcher = install_launcher(tmp_path_factory.mktemp("slicer_bin"), request.param)
    monkeypatch.setenv("PATH", f"{launcher.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with slicer_release(request.param) as release:
        yield release
