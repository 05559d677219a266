"""Model registry: ``Models.json`` next to the weights, with sha256 and provenance of every model.

The shipped models live in ``Resources/Models`` of the source tree or the installed module (overridable
with ``$GMMSEG_MODELS_DIR``). A model file given by path is checked against the registry entry that names
it, or against its sidecar ``<file>.json`` written by ``gmmseg adapt``. Nothing is downloaded: the
shipped model segments offline.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.digest import sha256_of
from ..core.errors import ModelError
from ..core.paths import MODELS_ENV, REGISTRY_NAME, models_dir, user_models_dir

if TYPE_CHECKING:  # the registry itself is read without torch (the Slicer module lists models before install)
    from .bundle import GmmSegModel
    from .click_refiner import ClickRefiner


@dataclass
class ModelEntry:
    """One registered model: where it is, its expected hash, and everything recorded about it."""

    id: str
    path: Path
    sha256: str | None
    record: dict
    # False for a file named by path that no registry or sidecar describes: its sha256 is then the file's own,
    # taken when it was found, which records what was used but cannot tell a damaged file from a sound one
    verified: bool = True


def read_registry(folder: Path | None = None) -> dict:
    folder = folder or models_dir()
    registry = folder / REGISTRY_NAME
    if not registry.is_file():
        raise ModelError(f"{registry}: model registry not found (set {MODELS_ENV} or reinstall)")
    try:
        return json.loads(registry.read_text())
    except json.JSONDecodeError as error:
        raise ModelError(f"{registry}: corrupt model registry ({error.msg})") from None


def default_entry(folder: Path | None = None) -> ModelEntry:
    folder = folder or models_dir()
    registry = read_registry(folder)
    wanted = registry.get("default")
    for record in registry.get("models", []):
        if record["id"] == wanted:
            return ModelEntry(record["id"], folder / record["file"], record["sha256"], record)
    raise ModelError(f"{folder / REGISTRY_NAME}: default model {wanted!r} is not listed")


def entry_for_path(path: str | os.PathLike) -> ModelEntry:
    """Registry entry for a model file: from its folder's Models.json, its sidecar JSON, or unverified."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    registry_file = path.parent / REGISTRY_NAME
    if registry_file.is_file():
        for record in read_registry(path.parent).get("models", []):
            if record.get("file") == path.name:
                return ModelEntry(record["id"], path, record["sha256"], record)
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            record = json.loads(sidecar.read_text())
        except json.JSONDecodeError:
            raise ModelError(f"{sidecar}: corrupt model description") from None
        return ModelEntry(record.get("id", path.stem), path, record.get("sha256"), record)

    return ModelEntry(path.stem, path, sha256_of(path), {}, verified=False)


def unverified_warning(entry: ModelEntry) -> str | None:
    """What to tell the user when a model's integrity could not be checked, else None."""
    if entry.verified:
        return None
    return (
        f"{entry.path} is listed in no {REGISTRY_NAME} and has no description beside it, so whether it is "
        f"intact cannot be checked; its sha256 {entry.sha256[:12]}... is recorded with the results"
    )


def sidecar_path(model_path: str | os.PathLike) -> Path:
    return Path(str(model_path) + ".json")


def publish_adapted_model(model: Path, folder: Path | None = None) -> Path:
    """Copy a finished adaptation (``model`` and its sidecar description) into the user's models folder.

    Both are copied under temporary names first and then renamed into place, the description last, so that the
    folder never lists a model whose file is incomplete (:func:`available_models` lists described models only).
    """
    import shutil
    import tempfile

    from ..io.images import signals_held

    folder = user_models_dir() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = (model, sidecar_path(model))
    if any((folder / source.name).exists() for source in sources):
        raise ModelError(f"{folder / model.name} exists already; nothing was replaced")
    copies = []
    try:
        for source in sources:
            with signals_held():  # listed for removal before a stop can come in between
                handle, temporary = tempfile.mkstemp(prefix=".partial-", dir=folder)
                os.close(handle)
                copies.append(Path(temporary))
            shutil.copyfile(source, temporary)
        for source, temporary in zip(sources, copies, strict=True):
            os.replace(temporary, folder / source.name)
    finally:
        for temporary in copies:
            temporary.unlink(missing_ok=True)
    return folder / model.name


def available_models() -> list[ModelEntry]:
    """The shipped models, then the user's adapted ones (those with a sidecar description), newest first."""
    folder = models_dir()
    entries = [ModelEntry(r["id"], folder / r["file"], r["sha256"], r) for r in read_registry(folder).get("models", [])]
    user = user_models_dir()
    if user.is_dir():
        adapted = sorted(user.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
        entries += [entry_for_path(p) for p in adapted if sidecar_path(p).is_file()]
    return entries


def load_registered(model: str | os.PathLike | None = None) -> tuple[GmmSegModel, ModelEntry]:
    """Load the default shipped model, or the given file, after checking its sha256 where one is known."""
    from .bundle import load_model

    entry = default_entry() if not model else entry_for_path(model)
    network, _ = load_model(entry.path, entry.sha256)
    return network, entry


def entry_of_result(sha256: str | None) -> ModelEntry:
    """The available model with this sha256 (the model that made a result), else the default model (torch-free)."""
    return next((e for e in available_models() if sha256 and e.sha256 == sha256), None) or default_entry()


def has_click_refiner(sha256: str | None) -> bool:
    """Whether the model of a result (:func:`entry_of_result`) has a click refiner, as its registry entry or
    description says (``click_refiner``; for the module's panel)."""
    return bool(entry_of_result(sha256).record.get("click_refiner", False))


_loaded_refiners: dict[tuple[str, str], ClickRefiner] = {}  # by the model file's path and sha256


def click_refiner_of(sha256: str | None) -> ClickRefiner | None:
    """The click refiner of the available model with this sha256 (the model that made a result), else of the default
    model; None when it has none (it was trained before the refiner stage existed), without loading it when its
    registry entry or description says so (``"click_refiner": false``). A refiner is loaded (hash-checked) once per
    model file and process: the panel asks at every click, and loading took 0.1-0.2 s of each (BENCHMARKS.md, "The
    Slicer module's GUI")."""
    from .bundle import load_model

    entry = entry_of_result(sha256)
    if entry.record.get("click_refiner") is False:
        return None
    key = (str(entry.path), entry.sha256)
    if key not in _loaded_refiners:
        model, _ = load_model(entry.path, entry.sha256)
        _loaded_refiners[key] = model.refiner
    return _loaded_refiners[key]
