"""Reading cardiac short-axis images and writing results on the input's exact grid.

Inputs are 3D short-axis stacks (one cardiac phase) or 4D cines (stack x time) in NIfTI, NRRD or as a
DICOM series folder, read with SimpleITK. Every image becomes a :class:`CardiacImage` holding the
voxels as ``(frames, slices, rows, columns)`` float32 plus the exact geometry needed to write outputs
back onto the same grid (spacing, origin, direction, and for 4D files the time axis).

Writes are atomic: :class:`AtomicOutputs` writes a case's files under temporary names and renames them
into place only once all of them were written.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import InputError, OutputError
from ..core.processes import process_runs
from .dicom import NoDicomSeries, read_dicom_folder
from .dicom_grid import names
from .file_integrity import check_nifti_file, written_shortfall
from .itk_messages import itk_warnings_off
from .nifti_geometry import check_read_geometry, plan_reading

FORMATS = {
    ".nii.gz": "NIfTI",
    ".nii": "NIfTI",
    ".nrrd": "NRRD",
    ".nhdr": "NRRD",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
}
IMAGE_SUFFIXES = tuple(FORMATS)
SFORM_PERMISSIVE = "ITK_NIFTI_SFORM_PERMISSIVE"
PARTIAL_PREFIX = ".partial-"  # AtomicOutputs' temporary files
LOGGER = logging.getLogger("gmmseg")


@dataclass(frozen=True)
class Geometry:
    """Physical grid of an image as SimpleITK describes it (dimension 3 or 4)."""

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @property
    def dimension(self) -> int:
        return len(self.spacing)

    @classmethod
    def of(cls, image: sitk.Image) -> Geometry:
        return cls(tuple(image.GetSpacing()), tuple(image.GetOrigin()), tuple(image.GetDirection()))

    def apply(self, image: sitk.Image) -> None:
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)


@dataclass
class CardiacImage:
    """A short-axis stack or cine: ``frames`` is (T, Z, Y, X) float32; T == 1 for a 3D stack."""

    frames: np.ndarray
    geometry: Geometry
    source: str

    @property
    def is_cine(self) -> bool:
        return self.geometry.dimension == 4

    @property
    def spacing_xyz(self) -> tuple[float, float, float]:
        """Voxel size in mm along columns (x), rows (y) and slices (z)."""
        sx, sy, sz = self.geometry.spacing[:3]
        return float(sx), float(sy), float(sz)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def kept_slices(self, keep: np.ndarray) -> CardiacImage:
        """The slices marked in ``keep`` (Z,) as a stack of their own, for the networks.

        Only its arrays and spacing are meant to be read: its geometry is the input's, so it is never written.
        """
        if keep.all():
            return self
        return CardiacImage(np.ascontiguousarray(self.frames[:, keep]), self.geometry, self.source)

    def frame_volume(self, frame: int) -> CardiacImage:
        """One frame as a 3D stack with the spatial part of the geometry."""
        geometry = self.geometry
        if geometry.dimension == 4:
            direction = tuple(geometry.direction[row * 4 + column] for row in range(3) for column in range(3))
            geometry = Geometry(geometry.spacing[:3], geometry.origin[:3], direction)
        return CardiacImage(self.frames[frame : frame + 1], geometry, f"{self.source}[frame {frame}]")


def image_files(folder: Path) -> list[Path]:
    """The image files (by their suffix) in ``folder``, sorted, hidden files left out."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES) and not p.name.startswith("."))


def image_stem(path: str | os.PathLike) -> str:
    """File name without its image suffix (``patient001_frame01.nii.gz`` -> ``patient001_frame01``)."""
    name = Path(path).name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def distinct_stems(paths: list[str | os.PathLike]) -> list[str]:
    """The stems that name each input's outputs; ``InputError`` if two coincide, as their outputs would then
    overwrite each other (the same file name in two folders)."""
    stems = [image_stem(path) for path in paths]
    if len(set(stems)) != len(stems):
        twin = next(stem for stem in stems if stems.count(stem) > 1)
        raise InputError(f"two inputs have the same file name ({twin}); their outputs would overwrite each other")
    return stems


def read_sitk(path: str | os.PathLike) -> sitk.Image:
    """Read an image file or a DICOM series folder, turning every failure into an ``InputError``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            return _read_folder(path)
        header = check_nifti_file(path)
        if header is not None:
            return _read_nifti(path, header)
        return sitk.ReadImage(str(path))
    except InputError:
        raise
    except RuntimeError as error:  # SimpleITK reports unreadable / corrupt files this way
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
        raise InputError(f"{path}: not a readable image ({first_line[:160]})") from None


def _read_folder(folder: Path) -> sitk.Image:
    """A folder's DICOM series; a folder of image files instead is refused saying so, as each is an input of its own."""
    try:
        return read_dicom_folder(folder)
    except NoDicomSeries as error:
        files = image_files(folder)
        if not files:
            raise
        kinds = "/".join(sorted({FORMATS[_suffix(file)] for file in files}))
        raise InputError(
            f"{error}; it holds {len(files)} {kinds} files ({names([str(f) for f in files])}): pass them "
            f"as files, for example {folder / ('*' + _suffix(files[0]))}"
        ) from None


def _suffix(path: Path) -> str:
    return next(suffix for suffix in IMAGE_SUFFIXES if path.name.lower().endswith(suffix))


def _read_nifti(path: Path, header) -> sitk.Image:
    """Read a NIfTI file exactly as named, on the geometry its header defines (:mod:`.nifti_geometry`).

    ITK's NIfTI library looks for ``scan.nii`` and ``scan.nii.gz`` alike when given either name and may take the
    header of one and the voxels of the other; so the file is read through a link of its own name in a private
    folder, where it is the only candidate. ITK's own warnings give way to the one-line notes logged here. A file ITK
    reads only permissively is placed here, on the grid its sform defines.
    """
    plan = plan_reading(header, path)
    with tempfile.TemporaryDirectory(prefix="gmmseg-read-") as folder:
        alias = Path(folder) / path.name
        try:
            os.symlink(path.resolve(), alias)
        except OSError:  # no symbolic links here (Windows without the privilege): a copy is as exact
            import shutil

            shutil.copyfile(path, alias)
        previous = os.environ.get(SFORM_PERMISSIVE)
        if plan.permissive:  # read by NiftiImageIO's constructor (itkNiftiImageIO.cxx)
            os.environ[SFORM_PERMISSIVE] = "1"
        try:
            with itk_warnings_off():
                image = sitk.ReadImage(str(alias), imageIO="NiftiImageIO")
        except RuntimeError as error:  # ITK's message names the private link: name the user's file instead
            raise RuntimeError(str(error).replace(str(alias), str(path))) from None
        finally:
            if plan.permissive and previous is None:
                del os.environ[SFORM_PERMISSIVE]
            elif plan.permissive:
                os.environ[SFORM_PERMISSIVE] = previous
    if plan.sform_geometry is not None:
        _place_spatially(image, *plan.sform_geometry)
    if header.rank == 4 and image.GetDimension() == 3:  # ITK drops a time axis of one frame: a cine stays a cine
        frame_seconds = float(header.pixdim[4]) if math.isfinite(header.pixdim[4]) and header.pixdim[4] > 0 else 1.0
        image = sitk.JoinSeries([image], 0.0, frame_seconds)
    size = min(3, image.GetDimension())
    direction = np.reshape(image.GetDirection(), (image.GetDimension(),) * 2)[:size, :size]
    notes = plan.notes + check_read_geometry(
        header, image.GetSpacing()[:size], direction, image.GetOrigin()[:size], path
    )
    for note in notes:
        LOGGER.warning(note)
    return image


def _place_spatially(image: sitk.Image, spacing: np.ndarray, direction: np.ndarray, origin: np.ndarray) -> None:
    """Give ``image`` this spacing, direction and origin over its first (up to three) axes; a time axis keeps its
    own."""
    dimension = image.GetDimension()
    size = min(3, dimension)
    matrix = np.reshape(image.GetDirection(), (dimension, dimension))
    matrix[:size, :size] = direction[:size, :size]
    image.SetDirection(matrix.ravel().tolist())
    image.SetSpacing([*spacing[:size], *image.GetSpacing()[size:]])
    image.SetOrigin([*origin[:size], *image.GetOrigin()[size:]])


def read_cardiac_image(path: str | os.PathLike) -> CardiacImage:
    """Read a 3D stack or 4D cine as float32 (T, Z, Y, X) with its geometry (validation is separate)."""
    image = read_sitk(path)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{path}: has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
            "a greyscale MR image is required"
        )
    if image.GetPixelID() in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise InputError(f"{path}: has complex-valued voxels; a magnitude MR image is required")
    dimension = image.GetDimension()
    if dimension == 2:
        raise InputError(f"{path}: is a 2D image; a 3D short-axis stack or a 4D cine is required")
    if dimension not in (3, 4):
        raise InputError(f"{path}: has {dimension} dimensions; a 3D stack or a 4D cine is required")
    array = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    if dimension == 3:
        array = array[None]
    return CardiacImage(frames=array, geometry=Geometry.of(image), source=str(path))


def read_label_volume(path: str | os.PathLike) -> tuple[np.ndarray, Geometry]:
    """Read an integer label map as (Z, Y, X) with its geometry; 4D label maps give (T, Z, Y, X)."""
    image = read_sitk(path)
    if image.GetDimension() not in (3, 4):
        raise InputError(f"{path}: label maps must be 3D or 4D, got {image.GetDimension()}D")
    array = sitk.GetArrayFromImage(image)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise InputError(f"{path}: not a label map (non-integer values)")
    return array.astype(np.int64), Geometry.of(image)


def to_sitk(array: np.ndarray, geometry: Geometry, components: bool = False) -> sitk.Image:
    """Wrap a (Z, Y, X) or (T, Z, Y, X) array into an image on ``geometry``.

    With ``components`` the last axis holds the components of a vector image (e.g. class probabilities).
    """
    spatial = array.ndim - (1 if components else 0)
    if spatial == 4 and array.shape[0] == 1 and geometry.dimension == 3:
        array, spatial = array[0], 3
    if spatial != geometry.dimension:
        raise ValueError(f"array of shape {array.shape} does not fit a {geometry.dimension}D geometry")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=components)
    geometry.apply(image)
    return image


def ordinary_file_mode() -> int:
    """The permissions an ordinary new file gets here (0666 less the umask): ``mkstemp`` creates its files 0600, which
    would keep an output or a model from the other users of a shared machine or folder."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def writer_tag() -> str:
    """This process as its temporary files name it: ``<pid>.<host>``, the host as a short hash of its name, since
    a cohort's processes on several machines may write into one shared folder, where a pid says nothing."""
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    return f"{os.getpid()}.{host}"


def remove_abandoned_partials(folder: Path) -> None:
    """Remove the temporary files (``.partial-<pid>.<host>-...``) of writers on this machine that no longer run
    (POSIX; on Windows a process cannot be probed safely, and such files, hidden, are left). Another machine's
    writers are left alone: whether they run cannot be told from here."""
    if os.name == "nt":
        return
    this_host = writer_tag().split(".", 1)[1]
    for partial in folder.glob(f"{PARTIAL_PREFIX}*"):
        pid, _, host = partial.name[len(PARTIAL_PREFIX) :].split("-", 1)[0].partition(".")
        if pid.isdigit() and host in ("", this_host) and not process_runs(int(pid)):
            partial.unlink(missing_ok=True)


def check_output_folder(folder: str | os.PathLike) -> None:
    """Raise ``InputError`` unless ``folder`` is a writable folder or can be created as one (creates nothing).

    Called before the work that fills it, so that a wrong ``--out`` fails at once, not after the segmentation.
    """
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{existing}: is a file, not a folder; give another output folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{existing}: the output folder is not writable")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else "unknown error"


def _short_write_cause(path: Path) -> str:
    """Why a file ended up shorter than written: a file-size limit it reached, or (most often) a full disk."""
    size = path.stat().st_size
    if os.name != "nt":
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and size >= limit:
            return f"the file-size limit of {limit:,} bytes was reached (ulimit -f)"
    return f"only {size:,} bytes reached the disk: is it full?"


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block has run, then deliver them to the handlers they would have reached.

    Python runs signal handlers in the main thread whichever thread the system hands a signal to (torch's and Qt's
    threads do not mask them), so the handlers are swapped, not the thread's signal mask. Elsewhere than in the main
    thread no handler can be set, and none of ours would run there: the block runs as it is."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    # a handler set outside Python (an embedding application's, as Slicer's) reads as None and could not be put
    # back: such a signal is left alone
    held = [number for number in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(number) is not None]
    previous = {number: signal.signal(number, lambda number, _frame: arrived.append(number)) for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(arrived):
            signal.raise_signal(number)  # now the case is whole: Ctrl+C or the stop goes on as it would have


class AtomicOutputs:
    """Collects a case's output files and publishes them all together, or none of them.

    Each ``add_*`` writes to a hidden temporary file in the output folder, named after the writing process
    (``.partial-<pid>.<host>-...``, :func:`writer_tag`); ``commit`` renames them all to their final names. If the
    ``with`` block fails (an error, Ctrl+C, SIGTERM, a file not written whole: ``OutputError``, naming it), every
    temporary file is removed and no final file is created, so a failed case never leaves half of its outputs
    behind. Temporary
    files of a writer that was killed outright (SIGKILL, a power cut) are removed by the next writer into the
    same folder.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._pending: list[tuple[Path, Path]] = []
        self.paths: list[Path] = []  # final paths, in the order they were added

    def __enter__(self) -> AtomicOutputs:
        check_output_folder(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_abandoned_partials(self.folder)
        return self

    def _temporary(self, name: str) -> Path:
        """A new hidden file for ``name``, listed for removal before Ctrl+C or SIGTERM can come between its creation
        and its listing (which would leave it behind)."""
        with self._writing(name), signals_held():
            descriptor, temporary = tempfile.mkstemp(
                prefix=f"{PARTIAL_PREFIX}{writer_tag()}-", suffix=f"-{name}", dir=self.folder
            )
            os.close(descriptor)
            self._pending.append((Path(temporary), self.folder / name))
            self.paths.append(self.folder / name)
            os.chmod(temporary, ordinary_file_mode())
        return Path(temporary)

    def add_image(self, name: str, image: sitk.Image) -> Path:
        """Write ``image`` as ``name``; a NIfTI file is read back whole before it counts as written."""
        temporary = self._temporary(name)
        nifti = name.endswith((".nii", ".nii.gz"))
        writer = sitk.ImageFileWriter()
        writer.SetFileName(str(temporary))
        writer.SetUseCompression(True)
        if nifti:
            writer.SetImageIO("NiftiImageIO")
        with self._writing(name):
            try:
                writer.Execute(image)
            except RuntimeError as error:  # the other writers raise on a short write, with ITK's whole report
                raise OSError(_last_line(str(error))) from None
            shortfall = written_shortfall(temporary) if nifti else None
        if shortfall is not None:
            raise self._failure(name, f"{shortfall}, {_short_write_cause(temporary)}")
        return self.folder / name

    def add_bytes(self, name: str, data: bytes) -> Path:
        temporary = self._temporary(name)
        with self._writing(name):
            temporary.write_bytes(data)
        return self.folder / name

    def commit(self) -> list[Path]:
        """Rename every file to its final name. Ctrl+C and SIGTERM wait until the last rename is done (they take
        effect right after): a stop between two renames would publish half of the case."""
        published = []
        with signals_held():
            for temporary, final in self._pending:
                with self._writing(final.name):
                    os.replace(temporary, final)
                published.append(final)
            self._pending.clear()
        return published

    @contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        """Any ``OSError`` while ``name`` is written becomes an ``OutputError`` saying which output and why."""
        try:
            yield
        except OSError as error:
            raise self._failure(name, error.strerror or str(error)) from None

    def _failure(self, name: str, reason: str) -> OutputError:
        if not self.folder.is_dir():
            return OutputError(
                f"{self.folder}: the output folder was removed while {name} was being written; "
                "nothing of this case was published"
            )
        return OutputError(f"{self.folder / name}: could not be written: {reason}; nothing of this case was published")

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.commit()
        for temporary, _ in self._pending:
            temporary.unlink(missing_ok=True)
        self._pending.clear()
