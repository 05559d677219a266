"""torch for the jobs and for click refinement, installed on first use by the PyTorch extension, and imported
ahead of the first click."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading

import slicer
from slicer.i18n import tr as _

TORCH_REQUIREMENT = ">=2.2,<3"  # the product's torch range (pyproject.toml's "torch>=2.2,<3")
REFINEMENT_MODULE = f"{__package__.rpartition('.')[0]}.clinical.refinement"  # what Refine runs, torch with it

_import_ahead: threading.Thread | None = None


def ensure_pytorch() -> bool:
    """Whether a usable torch is there, installing it (with the user's consent) through the PyTorch extension's
    ``PyTorchUtilsLogic``, which picks the build for this computer's GPU, within :data:`TORCH_REQUIREMENT`
    (``installTorch(torchVersionRequirement=...)``, as SlicerMONAIAuto3DSeg asks for its range). A torch outside the
    range is not used: the user is told which release is needed. numpy, scipy and SimpleITK come with Slicer
    (``SuperBuild/External_python-scipy.cmake`` and others)."""
    try:
        import PyTorchUtils
    except ImportError:
        slicer.util.errorDisplay(
            _(
                "GmmSeg needs the PyTorch extension. Install 'PyTorch' from the Extensions "
                "Manager, restart Slicer and try again."
            )
        )
        return False
    torch_logic = PyTorchUtils.PyTorchUtilsLogic()
    if torch_logic.torchInstalled():
        return _usable(installed_torch_version())
    if not slicer.util.confirmOkCancelDisplay(
        _(
            "GmmSeg needs PyTorch, which is not installed yet. Download and "
            "install it now (about 1-3 GB; a restart may be needed)?"
        )
    ):
        return False
    try:
        if torch_logic.installTorch(askConfirmation=False, torchVersionRequirement=TORCH_REQUIREMENT) is None:
            raise RuntimeError("PyTorch installation did not complete")
    except Exception as error:  # the installer reports network / pip failures this way
        slicer.util.errorDisplay(
            _(
                "Installing PyTorch failed: {error}\nRestart Slicer and try again, or install it "
                "from the PyTorch Utils module."
            ).format(error=error)
        )
        return False
    return True


def installed_torch_version() -> str:
    """The version of the torch distribution installed in this Python."""
    from importlib.metadata import version

    return version("torch")


def _within_requirement(installed: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    return Version(installed).public in SpecifierSet(TORCH_REQUIREMENT)


def _usable(installed: str) -> bool:
    """Whether torch ``installed`` is within :data:`TORCH_REQUIREMENT`; if not, the user is told what to do."""
    if _within_requirement(installed):
        return True
    slicer.util.errorDisplay(
        _(
            "GmmSeg needs PyTorch {required}; this Slicer has PyTorch {installed}. In the PyTorch Utils module, "
            "uninstall it and install it again with the version requirement '{required}', then restart Slicer."
        ).format(required=TORCH_REQUIREMENT, installed=installed)
    )
    return False


def import_refinement_ahead() -> threading.Thread | None:
    """Import torch and the refinement code on a worker thread, once per session, when a torch within
    :data:`TORCH_REQUIREMENT` is installed; the thread, or None when nothing is to be done.

    The module's own process imports torch only when the clinician first refines (the jobs segment in processes of
    their own), and that import froze the panel for 2 to 4 s at the first Refine click (BENCHMARKS.md, "The Slicer
    module's GUI"); the panel calls this when it starts a segmentation and when it shows a result, so that the
    import is done by the time the first click is placed. Loading torch's libraries holds Python's lock, so the GUI
    thread waits on it for a fifth of a second or so: better while the clinician waits for the job than when its result
    arrives. Says nothing when torch is absent, outside the range or broken: the Refine click says that
    (:func:`ensure_pytorch`), importing again.
    """
    global _import_ahead
    if _import_ahead is not None or importlib.util.find_spec("torch") is None:
        return None
    try:
        if not _within_requirement(installed_torch_version()):
            return None
    except Exception:  # no distribution metadata, or a version packaging cannot read: leave it to the click
        return None
    _import_ahead = threading.Thread(target=_import_refinement, name="GmmSeg: importing torch", daemon=True)
    _import_ahead.start()
    return _import_ahead


def _import_refinement() -> None:
    try:
        importlib.import_module(REFINEMENT_MODULE)
    except Exception as error:  # the Refine click imports it again and reports what is wrong
        logging.getLogger("gmmseg").debug("importing %s ahead failed: %s", REFINEMENT_MODULE, error)
