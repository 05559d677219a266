"""Reading a short-axis stack or cine from a folder of DICOM files, on the geometry it was acquired on.

Scanners store a short-axis cine as one series (every slice and phase) or as one series per slice
position (common on Siemens), and a study folder may hold other series too (localisers, long-axis
views). The images that share one orientation (to within a scanner's float rounding, 0.1 degree) and
matrix form the stack; what is left out is said in one warning line. Series that image the same slice
positions again (a repeated or post-contrast acquisition) make the choice ambiguous, and the folder is
refused with the series it holds, rather than guessed. The stack's slice positions must form an image
grid (:mod:`.dicom_grid`): a missing slice, uneven spacing or a sheared stack is refused, naming the
slices. Multi-frame (enhanced) DICOM, one file holding every slice and phase with their positions in
per-frame sequences, is refused with what to do instead: GDCM reads such a file as one 3D block of
frames, which for a cine mixes positions and phases.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import InputError
from .dicom_grid import names, slice_grid
from .itk_messages import itk_warnings_off

POSITION_DECIMALS = 3  # mm: slice positions equal to this precision are one position
ORIENTATION_TOLERANCE_DEG = 0.1  # orientations closer than this are one (a scanner's float rounding)
LOGGER = logging.getLogger("gmmseg")


class NoDicomSeries(InputError):
    """The folder holds no DICOM series at all."""


@dataclass(eq=False)  # one image is one file: compared by identity
class _Slice:
    file: str
    series: str
    description: str
    position: tuple[float, ...]
    orientation: np.ndarray  # the row and column direction cosines (6,)
    matrix: tuple[int, int, float, float]  # columns, rows, and their pixel size in mm
    phase_order: tuple[float, int]  # trigger time (ms), then instance number: a cine's phases at one position


@dataclass
class _Group:
    """Images of one orientation (to within the tolerance of the first one's) and one matrix: a candidate stack."""

    orientation: np.ndarray
    matrix: tuple[int, int, float, float]
    slices: list[_Slice]

    @property
    def positions(self) -> set[tuple[float, ...]]:
        return {s.position for s in self.slices}

    @property
    def normal(self) -> np.ndarray:
        row, column = self.orientation[:3], self.orientation[3:]
        normal = np.cross(row, column)
        return normal / np.linalg.norm(normal)


def _tag(header: sitk.ImageFileReader, tag: str, default: str | None = None) -> str:
    """A header value; a missing tag without a ``default`` is an error (a file that cannot be placed)."""
    if header.HasMetaDataKey(tag):
        return header.GetMetaData(tag).strip()
    if default is None:
        raise InputError(
            f"{header.GetFileName()}: DICOM file without ({tag.replace('|', ',')}); it cannot be placed in a stack"
        )
    return default


def _numbers(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split("\\") if v.strip()])


def _slice(file_name: str, uid: str) -> _Slice:
    """The header of one DICOM file, as far as placing it in a stack needs."""
    header = sitk.ImageFileReader()
    header.SetFileName(file_name)
    header.LoadPrivateTagsOff()
    header.ReadImageInformation()
    frames = _tag(header, "0028|0008", "1")  # NumberOfFrames
    if frames.isdigit() and int(frames) > 1:
        raise InputError(
            f"{file_name}: a multi-frame (enhanced) DICOM file, whose slice positions and phases are "
            "stored per frame; export the series as classic single-frame DICOM, or convert it to "
            "NIfTI (for example with dcm2niix), and segment that"
        )
    try:
        orientation = _numbers(_tag(header, "0020|0037"))
        position = _numbers(_tag(header, "0020|0032"))
        order = (float(_tag(header, "0018|1060", "0") or 0), int(_tag(header, "0020|0013", "0") or 0))
        if orientation.shape != (6,) or position.shape != (3,) or not np.isfinite([*orientation, *position]).all():
            raise ValueError
    except ValueError:
        raise InputError(
            f"{file_name}: DICOM header with an unreadable position, orientation, trigger time or instance number"
        ) from None
    (columns, rows, *_), (width, height, *_) = header.GetSize(), header.GetSpacing()
    return _Slice(
        file_name,
        uid,
        _tag(header, "0008|103e", "no description"),
        tuple(np.round(position, POSITION_DECIMALS).tolist()),
        orientation,
        (columns, rows, round(width, POSITION_DECIMALS), round(height, POSITION_DECIMALS)),
        order,
    )


def _series_files(folder: Path, uid: str) -> list[str]:
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))


def _angle(first: np.ndarray, second: np.ndarray) -> float:
    """The larger of the angles (degrees) between two orientations' row directions and column directions."""
    cosines = [
        np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
        for a, b in ((first[:3], second[:3]), (first[3:], second[3:]))
    ]
    return float(np.degrees(np.arccos(np.clip(min(cosines), -1.0, 1.0))))


def _groups(slices: list[_Slice]) -> list[_Group]:
    groups: list[_Group] = []
    for item in slices:
        group = next(
            (
                g
                for g in groups
                if g.matrix == item.matrix and _angle(g.orientation, item.orientation) < ORIENTATION_TOLERANCE_DEG
            ),
            None,
        )
        if group is None:
            groups.append(_Group(item.orientation, item.matrix, [item]))
        else:
            group.slices.append(item)
    return groups


def _by_series(slices: list[_Slice]) -> dict[str, list[_Slice]]:
    series: dict[str, list[_Slice]] = {}
    for item in slices:
        series.setdefault(item.series, []).append(item)
    return series


def _matrix(matrix: tuple[int, int, float, float]) -> str:
    return f"{matrix[0]}x{matrix[1]} of {matrix[2]:g} x {matrix[3]:g} mm"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _describe(slices: list[_Slice]) -> str:
    """The series of ``slices`` for a message: description, images, positions."""
    return "; ".join(
        f"'{members[0].description}' ({_count(len(members), 'image')}, "
        f"{_count(len({s.position for s in members}), 'position')})"
        for members in _by_series(slices).values()
    )


def _short_axis_stack(folder: Path, slices: list[_Slice]) -> _Group:
    """The group with the most slice positions; refused when groups tie, when two series image the same
    positions, or when the stack's series hold images of another matrix; a warning line names what is left out."""
    groups = _groups(slices)
    most = max(len(g.positions) for g in groups)
    chosen = [g for g in groups if len(g.positions) == most]
    if len(chosen) > 1:
        raise InputError(
            f"{folder}: holds {len(_by_series(slices))} DICOM series and no single short-axis stack "
            f"among them: {_describe(slices)}; put the short-axis series in a folder of its own"
        )
    stack = chosen[0]
    series = _by_series(stack.slices)
    if sum(len({s.position for s in members}) for members in series.values()) != most:
        raise InputError(
            f"{folder}: several DICOM series image the same slice positions ({_describe(stack.slices)}); "
            "put the one to segment in a folder of its own"
        )
    kept = set(stack.slices)
    left_out = [s for s in slices if s not in kept]
    _check_one_matrix(folder, stack, [s for s in left_out if s.series in series])
    if left_out:
        LOGGER.warning(
            f"{folder}: read the short-axis stack of {most} positions and left "
            f"out {_count(len(left_out), 'image')} of another orientation or matrix: {_describe(left_out)}"
        )
    return stack


def _check_one_matrix(folder: Path, stack: _Group, left_out: list[_Slice]) -> None:
    """Refuse a stack whose own series hold images of its orientation in another matrix (they cannot share a grid)."""
    odd = [s for s in left_out if _angle(stack.orientation, s.orientation) < ORIENTATION_TOLERANCE_DEG]
    if odd:
        raise InputError(
            f"{folder}: series '{odd[0].description}' holds {_count(len(odd), 'image')} of another matrix "
            f"({names([s.file for s in odd])}: {_matrix(odd[0].matrix)}, the other {len(stack.slices)} "
            f"{_matrix(stack.matrix)}); one stack needs one matrix: move the odd images out of the folder"
        )


def _phases(folder: Path, stack: _Group) -> tuple[list[list[_Slice]], int]:
    """The stack's images per slice position, each position's phases in trigger-time order, positions sorted
    along the slice normal; refused, naming the position and its files, when positions hold different counts."""
    by_position: dict[tuple[float, ...], list[_Slice]] = {}
    for item in stack.slices:
        by_position.setdefault(item.position, []).append(item)
    phases = Counter(len(images) for images in by_position.values()).most_common(1)[0][0]
    odd = [position for position, images in by_position.items() if len(images) != phases]
    if odd:
        images = sorted(by_position[odd[0]], key=lambda s: s.phase_order)
        times = Counter(s.phase_order[0] for s in images)
        repeated = [s.file for s in images if times[s.phase_order[0]] > 1]
        shown = repeated if 1 < len(repeated) < len(images) else [s.file for s in images]
        more = f" (and {len(odd) - 1} more positions)" if len(odd) > 1 else ""
        raise InputError(
            f"{folder}: slice position ({', '.join(f'{v:.1f}' for v in odd[0])}) mm holds {len(images)} "
            f"images where the other positions hold {phases}{more}: a duplicated or missing image "
            f"({names(shown, 4)}{' share a trigger time' if shown is repeated else ''})"
        )
    ordered = sorted(by_position, key=lambda position: float(np.dot(position, stack.normal)))
    return [sorted(by_position[p], key=lambda s: s.phase_order) for p in ordered], phases


def read_dicom_folder(folder: Path) -> sitk.Image:
    """The short-axis stack (3D) or cine (4D: repeated slice positions, phases by trigger time) in ``folder``, on
    the grid its slice positions define; ``NoDicomSeries`` when the folder holds none."""
    with itk_warnings_off():  # ITK's "No Series were found" would bypass our one-line error
        uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    if not uids:
        raise NoDicomSeries(f"{folder}: no DICOM series found in this folder")
    slices = [_slice(file, uid) for uid in uids for file in _series_files(folder, uid)]
    stack = _short_axis_stack(folder, slices)
    positions, phases = _phases(folder, stack)
    grid = slice_grid(
        folder,
        np.array([images[0].position for images in positions]),
        [images[0].file for images in positions],
        stack.normal,
    )
    row, column = (axis / np.linalg.norm(axis) for axis in (stack.orientation[:3], stack.orientation[3:]))
    direction = tuple(np.column_stack([row, column, stack.normal]).ravel().tolist())
    reader = sitk.ImageSeriesReader()
    volumes = []
    for phase in range(phases):
        reader.SetFileNames([images[phase].file for images in positions])
        with itk_warnings_off():  # the positions were checked above; ITK's multi-line notes would repeat them raw
            volume = reader.Execute()
        spacing = volume.GetSpacing()
        volume.SetSpacing((spacing[0], spacing[1], grid.step or spacing[2]))
        volume.SetOrigin(grid.origin)
        volume.SetDirection(direction)
        volumes.append(volume)
    return volumes[0] if phases == 1 else sitk.JoinSeries(volumes)
