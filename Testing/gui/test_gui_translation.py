"""Every text the panel shows goes through Slicer's translation (slicer.i18n), so that a translated Slicer shows it.

Slicer's translators extract the texts with Qt's lupdate from calls of ``_("...")`` (``slicer.i18n.tr``) and
``translate(context, "...")``; the texts must be literals (no f-string: lupdate and the run-time lookup need the
fixed English text; values go in through ``.format()``, whose named placeholders ``slicer.i18n.tr`` checks).

The check reads the panel's code (GmmSegLib/gui and the widget in GmmSegModule.py): a text is user-visible when it
reaches a message box, a label, a tool tip, a table cell, the panel's log, a user action's title, or an error the
panel shows, directly or through a local variable assigned in the same function. It reads the MRML floor
(GmmSegLib/mrml) too, whose texts the panel shows: its refusals (GmmSegError, InputError) and its notes (the lines a
function named ``...notes`` makes). The MRML floor translates with ``slicer.i18n.tr`` itself (GmmSegLib/mrml/texts.py),
so a text's context is its file's (``mrml.inputs``, ``mrml.resume``, ...).

The floors below (core, io, model, clinical, inference, ...) stay English, and so do their texts where the panel shows
them (an io error about a file; a clinical review reason inside a translated note): they are shared with the command
line and the headless scripts, which run without Slicer's application and its translations.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import HARNESS_MISSING, ROOT

MODULE = ROOT / "GmmSegModule"
PANEL_FILES = sorted((MODULE / "GmmSegLib" / "gui").glob("*.py")) + [MODULE / "GmmSegModule.py"]
MRML_FILES = sorted((MODULE / "GmmSegLib" / "mrml").glob("*.py"))
TRANSLATORS = {"_", "translate"}
SHOWN_BY_CALL = {  # functions and methods whose text arguments the user reads
    "errorDisplay",
    "warningDisplay",
    "infoDisplay",
    "confirmOkCancelDisplay",
    "confirmYesNoDisplay",
    "messageBox",
    "QLabel",
    "QTableWidgetItem",
    "setText",
    "setToolTip",
    "setFormat",
    "setWindowTitle",
    "setPlaceholderText",
    "appendPlainText",
    "log",
    "_log",
    "user_action",
    "_userAction",
    "confirmed",
    "GmmSegError",
    "InputError",
    "stop",
    "start",
}
NOTES_SUFFIX = "notes"  # a function whose name ends so returns lines the panel shows: each one it makes is checked
SHOWN_BY_ATTRIBUTE = {"text", "toolTip", "windowTitle", "placeholderText"}  # PythonQt property assignments
NOT_SCANNED_CLASSES = {"GmmSegModuleTest"}  # the self-test's progress notes are for developers


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _has_words(text: str) -> bool:
    return re.search(r"[A-Za-z]{2}", text) is not None


class _Finder(ast.NodeVisitor):
    """Collects the untranslated texts that reach the user in one function (or module body)."""

    def __init__(self, scope: ast.AST, path: Path, found: list[str]) -> None:
        self.path, self.found = path, found
        self.assigned: dict[str, list[ast.AST]] = {}
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)

    def check(self, value: ast.AST, seen: frozenset = frozenset()) -> None:
        """Report texts in ``value`` that are not inside a translator call (following local variables)."""
        if isinstance(value, ast.Call) and _name(value.func) in TRANSLATORS:
            text = value.args[-1] if value.args else None
            if not (isinstance(text, ast.Constant) and isinstance(text.value, str)):
                self._report(value, "a translated text must be a literal (values go in through .format())")
            return
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and _has_words(value.value):
            self._report(value, repr(value.value))
            return
        if isinstance(value, ast.JoinedStr) and any(
            isinstance(part, ast.Constant) and _has_words(str(part.value)) for part in value.values
        ):
            self._report(value, "an f-string")
            return
        if isinstance(value, ast.Name) and value.id in self.assigned and value.id not in seen:
            for assigned in self.assigned[value.id]:
                self.check(assigned, seen | {value.id})
            return
        if isinstance(value, ast.Call):
            if _name(value.func) in ("format", "join"):  # "{n} done".format(n=...), "\n- ".join(...): all of it
                for child in ast.iter_child_nodes(value):
                    self.check(child, seen)
            return  # another call makes its own text (a node's name, a path): not this function's literal
        for child in ast.iter_child_nodes(value):  # "a" + b, "a" if c else "b", (..., ...)
            self.check(child, seen)

    def _report(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.path.name}:{node.lineno}: {what}")


def _scopes(tree: ast.Module):
    """Each function of the file, outside the classes not scanned."""
    skipped = {
        id(node)
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef) and cls.name in NOT_SCANNED_CLASSES
        for node in ast.walk(cls)
    }
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) not in skipped:
            yield node


def _note_values(scope: ast.AST) -> list[ast.AST]:
    """In a notes function: what it appends, assigns, adds and returns (the lines it makes)."""
    if not scope.name.endswith(NOTES_SUFFIX):
        return []
    values: list[ast.AST] = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Call) and _name(node.func) == "append":
            values += node.args
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Return)) and node.value is not None:
            values.append(node.value)
    return values


def untranslated_texts(path: Path) -> list[str]:
    found: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for scope in _scopes(tree):
        finder = _Finder(scope, path, found)
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and _name(node.func) in SHOWN_BY_CALL:
                for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
                    finder.check(argument)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr in SHOWN_BY_ATTRIBUTE for t in node.targets
            ):
                finder.check(node.value)
        for value in _note_values(scope):
            finder.check(value)
    return sorted(set(found), key=lambda line: (line.split(":")[0], int(line.split(":")[1])))


@pytest.mark.parametrize("path", PANEL_FILES + MRML_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_text_the_panel_shows_is_marked_for_translation(path):
    assert untranslated_texts(path) == []


def test_the_check_finds_an_untranslated_text_however_it_reaches_the_user(tmp_path):
    """The check itself: each way a text reaches the user is caught, and a translated one passes."""
    sample = tmp_path / "sample.py"
    sample.write_text("""
def panel(self, name, log):
    slicer.util.errorDisplay("Cannot do it.")
    self.ui.label.text = f"Shown: {name}"
    note = "A note for the log"
    log(note)
    log(_("Done: {name}").format(name=name))
    self.ui.button.toolTip = _(f"Run {name}")
    slicer.util.warningDisplay(_("Careful.") + "\\n- " + "\\n- ".join(["a"]), windowTitle="GmmSeg: note")
""")
    assert [line.split(": ", 1)[1] for line in untranslated_texts(sample)] == [
        "'Cannot do it.'",
        "an f-string",
        "'A note for the log'",
        "a translated text must be a literal (values go in through .format())",
        "'GmmSeg: note'",
    ]


def test_the_check_finds_an_untranslated_refusal_or_note_of_the_mrml_floor(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("""
def frame_volumes(node):
    raise InputError(f"{node.GetName()}: is a label map")


def taken_up_notes(outputs, reasons):
    notes = ["Reviewing it.", _("Undo starts here.")]
    notes.append(_("Accepted {when}.").format(when=outputs.when))
    notes += [f"Review advised: {reason}." for reason in reasons]
    return notes + ["The end"]


def export_names(outputs):
    names = ["segmentation"]
    names.append("uncertainty")
    return names
""")
    assert [line.split(": ", 1)[1] for line in untranslated_texts(sample)] == [
        "an f-string",
        "'Reviewing it.'",
        "an f-string",
        "'The end'",
    ]


def test_the_mrml_floor_speaks_the_translation_of_its_files_context(harness):
    """A translation installed in the application (as a language pack's) reaches the MRML floor's refusals, by the
    context of the file that makes them, with the values put into the translated text."""
    from PySide6 import QtCore

    from GmmSegLib.core.errors import InputError
    from GmmSegLib.mrml.inputs import frame_volumes

    french = {
        (
            "mrml.inputs",
            "no input selected: choose a volume or a cine (volume sequence)",
        ): "aucune entrée choisie : choisissez un volume ou un ciné",
        (
            "mrml.inputs",
            "{name}: is a label map; choose the MR image",
        ): "{name} : est une carte d'étiquettes ; choisissez l'image IRM",
    }

    class French(QtCore.QTranslator):
        def translate(self, context, sourceText, disambiguation=None, n=-1):
            return french.get((context, sourceText), "")

    translator = French()
    QtCore.QCoreApplication.installTranslator(translator)
    labels = harness.vtkMRMLLabelMapVolumeNode()
    labels.SetName("contours")
    try:
        with pytest.raises(InputError, match="^aucune entrée choisie"):
            frame_volumes(None)
        with pytest.raises(InputError, match="^contours : est une carte d'étiquettes"):
            frame_volumes(labels)
    finally:
        QtCore.QCoreApplication.removeTranslator(translator)
    with pytest.raises(InputError, match="^contours: is a label map; choose the MR image$"):
        frame_volumes(labels)


ENGLISH_WITHOUT_THE_APPLICATION = {
    "plain python with slicer-core (no slicer.i18n)": "",
    "PythonSlicer of Slicer 5.10 (slicer.i18n, no slicer.app)": (
        "import slicer_harness; slicer_harness.install(); from slicer_harness.releases import slicer_release; "
        "slicer_release('5.10.0').__enter__(); import slicer; del slicer.app\n"
    ),
}


@pytest.mark.parametrize("setting", ENGLISH_WITHOUT_THE_APPLICATION.values(), ids=ENGLISH_WITHOUT_THE_APPLICATION)
@pytest.mark.slow
def test_the_mrml_floor_speaks_english_where_slicer_has_no_application(setting):
    """scripted_training/batch_segment.py runs the MRML floor under PythonSlicer and plain python: its refusals are
    the English text there, not an ImportError (Slicer 5.10's translate needs slicer.app) nor a missing module."""
    if "slicer_harness" in setting and HARNESS_MISSING:
        pytest.skip(f"the Slicer harness cannot run: {HARNESS_MISSING}")
    import subprocess
    import sys

    code = (
        setting + "from GmmSegLib.core.errors import InputError\n"
        "from GmmSegLib.mrml.inputs import frame_volumes\n"
        "try:\n    frame_volumes(None)\nexcept InputError as error:\n    print(error)\n"
    )
    import os

    path = os.pathsep.join(p for p in (str(MODULE), os.environ.get("PYTHONPATH")) if p)  # GmmSegLib, installed or not
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT / "Testing",
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "no input selected: choose a volume or a cine (volume sequence)"
