"""Reading a short-axis stack or cine from a folder of DICOM files.

Scanners store a short-axis cine as one series (every slice and phase) or as one series per slice
position (common on Siemens), and a study folder may hold other series too (localisers, long-axis
views). The slices that share one orientation and matrix form the stack; series that image the same
slice positions again (a repeated or post-contrast acquisition) make the choice ambiguous, and the
folder is refused with the series it holds, rather than guessed. Multi-frame (enhanced) DICOM, one file
holding every slice and phase with their positions in per-frame sequences, is refused with what to do
instead: GDCM reads such a file as one 3D block of frames, which for a cine mixes positions and phases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import InputError

POSITION_DECIMALS = 3  # mm: slice positions equal to this precision are one position


@dataclass
class _Slice:
    file: str
    position: tuple[float, ...]
    phase_order: tuple[float, int]  # trigger time (ms), then instance number: a cine's phases at one position


@dataclass
class _Series:
    uid: str
    description: str
    orientation: tuple[float, ...]
    matrix: tuple[int, int]
    slices: list[_Slice] = field(default_factory=list)

    @property
    def positions(self) -> set[tuple[float, ...]]:
        return {s.position for s in self.slices}


def _tag(header: sitk.ImageFileReader, tag: str, default: str | None = None) -> str:
    """A header value; a missing tag without a ``default`` is an error (a file that cannot be placed)."""
    if header.HasMetaDataKey(tag):
        return header.GetMetaData(tag).strip()
    if default is None:
        raise InputError(f"{header.GetFileName()}: DICOM file without ({tag.replace('|', ',')}); "
                         "it cannot be placed in a stack")
    return default


def _numbers(text: str, decimals: int) -> tuple[float, ...]:
    return tuple(round(float(v), decimals) for v in text.split("\\") if v.strip())


def _series(folder: Path, uid: str) -> _Series:
    series = None
    for file_name in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid):
        header = sitk.ImageFileReader()
        header.SetFileName(file_name)
        header.LoadPrivateTagsOff()
        header.ReadImageInformation()
        frames = _tag(header, "0028|0008", "1")  # NumberOfFrames
        if frames.isdigit() and int(frames) > 1:
            raise InputError(f"{file_name}: a multi-frame (enhanced) DICOM file, whose slice positions and phases are "
                             "stored per frame; export the series as classic single-frame DICOM, or convert it to "
                             "NIfTI (for example with dcm2niix), and segment that")
        try:
            if series is None:
                size = header.GetSize()
                series = _Series(uid, _tag(header, "0008|103e", "no description"),
                                 _numbers(_tag(header, "0020|0037"), 3), (size[0], size[1]))
            order = (float(_tag(header, "0018|1060", "0") or 0), int(_tag(header, "0020|0013", "0") or 0))
            series.slices.append(_Slice(file_name, _numbers(_tag(header, "0020|0032"), POSITION_DECIMALS), order))
        except ValueError:
            raise InputError(f"{file_name}: DICOM header with an unreadable position, orientation, trigger time "
                             "or instance number") from None
    return series


def _describe(series: list[_Series]) -> str:
    return "; ".join(f"'{s.description}' ({len(s.slices)} images, {len(s.positions)} positions)" for s in series)


def _short_axis_slices(folder: Path, uids: list[str]) -> tuple[list[_Slice], tuple[float, ...]]:
    """The slices of the stack in ``folder`` and their orientation: the series grouped by orientation and
    matrix, the group with the most slice positions chosen; refused when groups tie or two series image the
    same positions."""
    series = [_series(folder, uid) for uid in uids]
    groups: dict[tuple, list[_Series]] = {}
    for item in series:
        groups.setdefault((item.orientation, item.matrix), []).append(item)
    positions = {key: set().union(*(s.positions for s in members)) for key, members in groups.items()}
    most = max(len(p) for p in positions.values())
    chosen = [key for key, p in positions.items() if len(p) == most]
    if len(chosen) > 1:
        raise InputError(f"{folder}: holds {len(series)} DICOM series and no single short-axis stack among "
                         f"them: {_describe(series)}; put the short-axis series in a folder of its own")
    members = groups[chosen[0]]
    if sum(len(s.positions) for s in members) != most:
        raise InputError(f"{folder}: several DICOM series image the same slice positions ({_describe(members)}); "
                         "put the one to segment in a folder of its own")
    return [s for member in members for s in member.slices], chosen[0][0]


def read_dicom_folder(folder: Path) -> sitk.Image:
    """The short-axis stack (3D) or cine (4D: repeated slice positions, phases by trigger time) in ``folder``."""
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's "No Series were found" would bypass our one-line error
    try:
        uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    if not uids:
        raise InputError(f"{folder}: no DICOM series found in this folder")
    slices, orientation = _short_axis_slices(folder, uids)
    by_position: dict[tuple[float, ...], list[_Slice]] = {}
    for item in slices:
        by_position.setdefault(item.position, []).append(item)
    counts = {len(v) for v in by_position.values()}
    if len(counts) != 1:
        raise InputError(f"{folder}: DICOM cine has a different number of phases per slice position")
    phases = counts.pop()
    normal = np.cross(orientation[:3], orientation[3:])
    ordered = sorted(by_position, key=lambda position: float(np.dot(position, normal)))  # along the stack
    reader = sitk.ImageSeriesReader()
    volumes = []
    for phase in range(phases):  # each position's phases in trigger-time order
        reader.SetFileNames([sorted(by_position[p], key=lambda s: s.phase_order)[phase].file for p in ordered])
        volumes.append(reader.Execute())
    return volumes[0] if phases == 1 else sitk.JoinSeries(volumes)
