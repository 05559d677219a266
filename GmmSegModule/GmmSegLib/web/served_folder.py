"""The folder ``gmmseg serve`` was started on: the only place its users may open images from.

A path a page sends is taken relative to that folder and refused when it leaves it (``..``, an absolute path, a
symbolic link pointing out), so that a browser can never make the server read another file of the machine.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputError
from ..io.images import IMAGE_SUFFIXES


class ServedFolder:
    """The images under ``root`` (recursively, hidden files and folders left out), each named by its path relative
    to ``root`` with forward slashes."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise InputError(f"{root}: not a folder; give the folder whose images the web app may open")

    def images(self) -> list[str]:
        """Every image file under the folder, as relative names, sorted."""
        found = []
        for path in self.root.rglob("*"):
            relative = path.relative_to(self.root)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            if path.name.lower().endswith(IMAGE_SUFFIXES) and self._inside(path):
                found.append(relative.as_posix())
        return sorted(found)

    def resolve(self, name: str) -> Path:
        """The file ``name`` (relative to the folder) names; ``InputError`` if it leaves the folder or is not a file."""
        if not name or Path(name).is_absolute() or "\\" in name:
            raise InputError(f"{name!r}: give a path inside the served folder")
        path = self.root / name
        if not self._inside(path):
            raise InputError(f"{name!r}: outside the served folder")
        if not path.is_file():
            raise InputError(f"{name!r}: no such image in the served folder")
        return path.resolve()

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)
