"""User-facing errors.

A ``GmmSegError`` is raised for anything a user can cause (a missing file, a 2D image, NaNs, a tampered
model file, ...). Command-line entry points print its message on one line and exit non-zero; they never
show a traceback for it. Programming errors stay ordinary exceptions.
"""

import math


class GmmSegError(Exception):
    """A problem with the user's input, files or settings, explained in one line."""


class InputError(GmmSegError):
    """The input image or label file cannot be used (unreadable, wrong shape, not cardiac SAX, ...)."""


class ModelError(GmmSegError):
    """The model file is missing, corrupt, tampered with (sha256 mismatch) or incompatible."""


def described_number(value: object, name: str) -> float:
    """A number that a model's description holds at ``name``, as a float; anything else (text, null, a boolean, NaN or
    an infinity) is a damaged or tampered description: the model's error."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{name}: a finite number expected, got {value!r}")
    return float(value)


class OutputError(OSError):
    """An output file could not be written whole (a full disk, a file-size limit, its folder removed), explained in
    one line; nothing of the case it belongs to was published. Not the user's mistake: exit code 1, as for any
    ``OSError``."""
