"""Every location the product uses, resolved here and nowhere else.

The library sits in ``GmmSegLib/`` inside the module folder, both in a checkout (``<repository>/GmmSegModule``)
and in an installed extension (``<extension>/lib/Slicer-5.x/qt-scripted-modules``). The resources the module
installs beside it (``Resources/Models``, the .ui, icons, terminology) are found there in an installed extension
and at the top of the repository in a checkout (the product layout keeps ``Resources/`` at the top). The user's
adapted models live outside the install, in ``~/.GmmSeg/models``. Data for training and tests is read in place
from ``../shared/data/acdc`` beside a checkout. Each location can be overridden by an environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1]  # GmmSegLib/
MODULE_DIR = LIBRARY.parent  # the folder Slicer loads the module from; on the jobs' PYTHONPATH
MODELS_ENV = "GMMSEG_MODELS_DIR"
USER_MODELS_ENV = "GMMSEG_USER_MODELS_DIR"
ACDC_ENV = "GMMSEG_ACDC_DIR"
REGISTRY_NAME = "Models.json"


def resources_dir() -> Path:
    """``Resources/`` installed beside the module, or at the top of a checkout."""
    for candidate in (MODULE_DIR / "Resources", MODULE_DIR.parent / "Resources"):
        if candidate.is_dir():
            return candidate
    return MODULE_DIR / "Resources"


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def models_dir() -> Path:
    """The shipped models and their ``Models.json``: ``$GMMSEG_MODELS_DIR``, else ``Resources/Models``."""
    configured = os.environ.get(MODELS_ENV)
    return Path(configured) if configured else resource("Models")


def user_models_dir() -> Path:
    """Where adapted models go, outside the Slicer install: ``$GMMSEG_USER_MODELS_DIR`` or ``~/.GmmSeg/models``."""
    return Path(os.environ.get(USER_MODELS_ENV) or Path.home() / ".GmmSeg" / "models")


def acdc_dir() -> Path:
    """The ACDC data: ``$GMMSEG_ACDC_DIR``, else ``../shared/data/acdc`` beside the repository."""
    configured = os.environ.get(ACDC_ENV)
    return Path(configured) if configured else MODULE_DIR.parent.parent / "shared" / "data" / "acdc"
