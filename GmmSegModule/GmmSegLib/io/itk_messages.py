"""ITK's own warnings, which print several raw lines straight to stderr, held back while the io module reads.

What they would say is checked and reported by the readers themselves, as one ``gmmseg: warning:`` or
``gmmseg: error:`` line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import SimpleITK as sitk


@contextmanager
def itk_warnings_off() -> Iterator[None]:
    """Silence ITK's global warning display for the ``with`` block, then restore what it was."""
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
