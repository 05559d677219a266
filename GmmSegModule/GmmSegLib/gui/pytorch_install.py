"""torch for the jobs and for click refinement, installed on first use by the PyTorch extension."""

from __future__ import annotations

import slicer
from slicer.i18n import tr as _

TORCH_REQUIREMENT = ">=2.2,<3"  # the product's torch range (pyproject.toml's "torch>=2.2,<3")


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


def _usable(installed: str) -> bool:
    """Whether torch ``installed`` is within :data:`TORCH_REQUIREMENT`; if not, the user is told what to do."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    if Version(installed).public in SpecifierSet(TORCH_REQUIREMENT):
        return True
    slicer.util.errorDisplay(
        _(
            "GmmSeg needs PyTorch {required}; this Slicer has PyTorch {installed}. In the PyTorch Utils module, "
            "uninstall it and install it again with the version requirement '{required}', then restart Slicer."
        ).format(required=TORCH_REQUIREMENT, installed=installed)
    )
    return False
