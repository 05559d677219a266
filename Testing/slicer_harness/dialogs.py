"""Answering the message boxes that Slicer shows outside testing mode, as a user at the screen does.

With ``slicer.app.testingEnabled()`` False and a main window, Slicer 5.12.3's ``slicer.util.errorDisplay``,
``warningDisplay``, ``infoDisplay``, ``confirmOkCancelDisplay`` and ``confirmYesNoDisplay`` build a
``ctk.ctkMessageBox`` and ``exec_()`` it (``messageBox`` in Base/Python/slicer/util.py): a modal box that blocks
until a button is pressed. :class:`answering` presses them: a QTimer, which the box's own event loop runs, finds
the active modal message box, records what it says and clicks the answer's button. ``slicer.util`` is not
patched: the code under test runs Slicer's functions as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

_Button = QtWidgets.QMessageBox.StandardButton


@dataclass(frozen=True)
class SeenDialog:
    """What a message box showed and which button answered it."""

    title: str
    text: str
    detailed_text: str
    icon: QtWidgets.QMessageBox.Icon
    buttons: tuple[str, ...]  # the standard buttons it offered ("Ok", "Cancel", "Yes", "No", ...)
    answer: str  # the button pressed, or "" when it offered none of the answer's


class answering:
    """``with answering("Cancel", "Ok") as seen:`` presses Cancel in the first message box shown, Ok in the second.

    ``seen`` lists a :class:`SeenDialog` per box. A box beyond the answers given, or one without the answer's button,
    is closed (``reject()``: nothing blocks) and recorded with answer "", and leaving the block then fails: a test
    that did not expect a dialog does not pass by accident.
    """

    def __init__(self, *answers: str, poll_ms: int = 5) -> None:
        self._answers = list(answers)
        self.seen: list[SeenDialog] = []
        self._timer = QtCore.QTimer()
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._answer_active_box)

    def __enter__(self) -> list[SeenDialog]:
        self._timer.start()
        return self.seen

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._timer.stop()
        unexpected = [dialog for dialog in self.seen if not dialog.answer]
        if kind is None and unexpected:
            raise AssertionError(f"unexpected message boxes: {unexpected}")

    def _answer_active_box(self) -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox) or not box.isVisible():
            return
        answer = self._answers.pop(0) if self._answers else ""
        button = None
        try:  # the box may be the ``qt`` adapter's, whose properties are attributes: read through Qt's class
            offered = tuple(_Button(button).name for button in _standard_buttons(box))
            button = QtWidgets.QMessageBox.button(box, getattr(_Button, answer)) if answer in offered else None
            self.seen.append(
                SeenDialog(
                    QtWidgets.QMessageBox.windowTitle(box),
                    QtWidgets.QMessageBox.text(box),
                    QtWidgets.QMessageBox.detailedText(box),
                    QtWidgets.QMessageBox.icon(box),
                    offered,
                    answer if button is not None else "",
                )
            )
        finally:  # whatever happens, the box is closed: a test never hangs on it
            if button is not None:
                button.click()
            else:
                box.reject()


def _standard_buttons(box: QtWidgets.QMessageBox) -> list[_Button]:
    standard = [QtWidgets.QMessageBox.standardButton(box, button) for button in QtWidgets.QMessageBox.buttons(box)]
    return [button for button in standard if button != _Button.NoButton]
