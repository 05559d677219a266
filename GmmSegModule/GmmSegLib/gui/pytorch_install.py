"""torch for the jobs and for click refinement, installed on first use by the PyTorch extension."""

from __future__ import annotations

import slicer


def ensure_pytorch() -> bool:
    """Whether torch is there, installing it (with the user's consent) through the PyTorch extension's
    ``PyTorchUtilsLogic``, which picks the build for this computer's GPU. numpy, scipy and SimpleITK come with
    Slicer (``SuperBuild/External_python-scipy.cmake`` and others)."""
    try:
        import PyTorchUtils
    except ImportError:
        slicer.util.errorDisplay("GmmSeg needs the PyTorch extension. Install 'PyTorch' from the Extensions "
                                 "Manager, restart Slicer and try again.")
        return False
    torch_logic = PyTorchUtils.PyTorchUtilsLogic()
    if torch_logic.torchInstalled():
        return True
    if not slicer.util.confirmOkCancelDisplay("GmmSeg needs PyTorch, which is not installed yet. Download and "
                                              "install it now (about 1-3 GB; a restart may be needed)?"):
        return False
    try:
        if torch_logic.installTorch(askConfirmation=False) is None:
            raise RuntimeError("PyTorch installation did not complete")
    except Exception as error:  # the installer reports network / pip failures this way
        slicer.util.errorDisplay(f"Installing PyTorch failed: {error}\nRestart Slicer and try again, or install it "
                                 "from the PyTorch Utils module.")
        return False
    return True
