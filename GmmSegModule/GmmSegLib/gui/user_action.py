"""How the panel reports a failed user action: a user's mistake as a message, anything else with its details."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import slicer

from ..core.errors import GmmSegError


@contextlib.contextmanager
def user_action(what: str, log: Callable[[str], None]) -> Iterator[None]:
    """``with user_action("Cannot segment this input.", log):`` around what a button does.

    A :class:`GmmSegError` (a bad input, a click outside the image...) is logged and shown as a message and goes no
    further: no traceback for a user's mistake. Anything else goes to ``slicer.util.tryWithErrorDisplay``
    (``Base/Python/slicer/util.py``, 5.10 and 5.12), which shows it with its traceback and raises it again.
    """
    with slicer.util.tryWithErrorDisplay(what):
        try:
            yield
        except GmmSegError as error:
            log(f"{what} {error}")
            slicer.util.errorDisplay(f"{what}\n\n{error}")


def confirmed(question: str) -> bool:
    """The user's yes to ``question`` (OK / Cancel). In testing mode no dialog is shown and the answer is yes, as
    ``confirmOkCancelDisplay``'s docstring promises: 5.12.3's compares the True it gets then with QMessageBox.Ok,
    which gives no (Base/Python/slicer/util.py)."""
    return bool(slicer.app.testingEnabled()) or slicer.util.confirmOkCancelDisplay(question)
