"""Headless GmmSeg trainer.

Runs inside Slicer (``Slicer --no-main-window --python-script scripted_training/train.py -- ARGS``), with
Slicer's ``PythonSlicer``, with plain ``python scripted_training/train.py ARGS``, and data-parallel under
``torchrun --nproc_per_node N scripted_training/train.py ARGS``. It builds no GUI, prints progress as JSON
lines and ends with ``sys.exit(code)``: 0 done, 2 user error, 143 stopped by SIGTERM (state saved).
"""

import sys
from pathlib import Path

# The library sits next to the module file in the source tree and in the installed extension.
_HERE = Path(__file__).resolve().parent
for _candidate in (_HERE.parent / "GmmSegModule", _HERE.parent):
    if (_candidate / "GmmSegLib").is_dir() and str(_candidate) not in sys.path:
        sys.path.insert(0, str(_candidate))

from GmmSegLib.training.trainer import main  # noqa: E402

if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments and arguments[0] == "--":  # Slicer passes script arguments after "--"
        arguments = arguments[1:]
    sys.exit(main(arguments))
