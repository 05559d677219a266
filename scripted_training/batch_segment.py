"""Batch segmentation with Slicer's Python, through the module's MRML logic (no GUI).

    Slicer --no-main-window --python-script scripted_training/batch_segment.py -- IMAGE... --out DIR [--device cpu]

Also runs with plain ``python`` where ``slicer-core`` is installed. Each image (NIfTI/NRRD 3D stack or 4D
cine) is read with the product's reader, put into a scene as a volume (or a sequence in a browser for a
cine), segmented by :class:`GmmSegLib.mrml.logic.GmmSegLogic`, and its segmentation, uncertainty maps and
indices are exported to ``DIR`` (written atomically per image). Exit code 0 when all succeeded, 2 on a user
error (nothing written for that image), 1 if some images failed.
"""

import argparse
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _candidate in (_HERE.parent / "GmmSegModule", _HERE.parent):
    if (_candidate / "GmmSegLib").is_dir() and str(_candidate) not in sys.path:
        sys.path.insert(0, str(_candidate))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="batch_segment.py", description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="NIfTI / NRRD 3D stacks or 4D cines")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default=None, help="model file (default: the shipped model)")
    arguments = parser.parse_args(argv)

    import slicer

    from GmmSegLib.cli import show_warnings_on_stderr
    from GmmSegLib.core.errors import GmmSegError
    from GmmSegLib.io.images import check_output_folder, distinct_stems
    from GmmSegLib.mrml.logic import GmmSegLogic

    show_warnings_on_stderr()
    try:
        distinct_stems(arguments.images)
        check_output_folder(arguments.out)
    except GmmSegError as error:
        print(f"batch_segment: error: {error}", file=sys.stderr, flush=True)
        return 2
    scene = getattr(slicer, "mrmlScene", None) or slicer.vtkMRMLScene()
    if not hasattr(slicer, "app"):  # bare MRML (slicer-core): register what the Sequences module would
        slicer.vtkSlicerSequencesLogic().SetMRMLScene(scene)
    logic = GmmSegLogic(scene)
    failures = 0
    user_errors = 0
    for path in arguments.images:
        try:
            written = logic.segment_file(path, arguments.out, model=arguments.model, device=arguments.device)
            print(f"{path}: " + ", ".join(p.name for p in written), flush=True)
        except GmmSegError as error:
            print(f"batch_segment: error: {error}", file=sys.stderr, flush=True)
            user_errors += 1
        except Exception as error:  # keep going with the other images; report at the end
            print(f"batch_segment: failed on {path}: {error!r}", file=sys.stderr, flush=True)
            failures += 1
    return 1 if failures else 2 if user_errors else 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments and arguments[0] == "--":  # Slicer passes script arguments after "--"
        arguments = arguments[1:]
    sys.exit(main(arguments))
