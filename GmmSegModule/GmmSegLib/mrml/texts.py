"""``_``: the translation of the texts this floor shows the clinician (its notes and refusals), by Slicer's own
``slicer.i18n.tr``, as Slicer's modules and the panel (GmmSegLib/gui) do.

``_`` is ``slicer.i18n.tr`` itself, so the translation context is the calling file's (``mrml.scene_outputs``,
``mrml.resume``, ...; slicer.i18n.getContext). Where this floor runs without Slicer's application it is the
English text unchanged: scripted_training/batch_segment.py runs it with ``PythonSlicer``, whose ``slicer`` has no
``app`` (Slicer 5.10's ``slicer.i18n.translate`` then raises ImportError; 5.12's returns the text), and with plain
``python`` and slicer-core, whose ``slicer`` has no ``i18n``.
"""

from __future__ import annotations

import slicer


def _english(text: str) -> str:
    return text


try:
    from slicer.i18n import tr
except ImportError:  # slicer-core's own ``slicer``: no Slicer Python layer, no translations
    tr = _english

_ = tr if hasattr(slicer, "app") else _english

__all__ = ["_"]
