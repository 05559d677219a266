"""``qt.QUiLoader``: builds a Qt Designer .ui file from the harness's classes, as Slicer's loader does.

In Slicer, ``slicer.util.loadUI`` runs PythonQt's QUiLoader, which creates each widget the .ui names (Qt's, CTK's,
Slicer's qMRML/qSlicer) as the application's real class. Here every class name is looked up in the installed
``qt``, ``ctk`` and ``slicer`` modules, so a ``QComboBox`` of the .ui is a ``qt.QComboBox`` (the exact class
Slicer's parameterNodeWrapper compares against) and a ``qMRMLNodeComboBox`` is the harness's stand-in.

Two parts of a .ui are done here in Python instead of by Qt's form builder, which works on C++ signatures:

* ``<connections>``: the stand-ins declare their signals and slots in Python, where a ``vtkMRMLScene*`` argument
  is a ``PyObject``; the builder's connect by the .ui's C++ signature (``mrmlSceneChanged(vtkMRMLScene*)``) finds
  no such signal and the connection would be silently missing. They are made after loading, by PythonQt-style
  signature (see :func:`.qt_adapter.connect_signature`).
* ``<enum>``/``<set>`` values of properties that a stand-in declares in Python (``ctkPathLineEdit::Files``): the
  builder only reads them for properties of a registered C++ enum type. They are set from the stand-in's own
  constants after loading.

A .ui naming a class with no stand-in, or setting a property a stand-in does not have (which the builder would
silently turn into a dynamic property), is an error here, so a gap in the harness cannot pass unnoticed.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtUiTools, QtWidgets

from .qt_adapter import adapt, as_text, connect_signature, qt

_STANDIN_MODULES = ("ctk", "slicer")


def _standin_class(class_name: str) -> type | None:
    """The ctk or slicer stand-in of that name (from the installed modules), if any."""
    for module_name in _STANDIN_MODULES:
        module = sys.modules.get(module_name)
        value = getattr(module, class_name, None) if module is not None else None
        if isinstance(value, type) and issubclass(value, QtCore.QObject):
            return value
    return None


def _widget_class(class_name: str) -> type | None:
    """The class to create for a .ui class name: a stand-in, or the qt adapter of a Qt class."""
    standin = _standin_class(class_name)
    if standin is not None:
        return standin
    qt_class = getattr(QtWidgets, class_name, None)
    if isinstance(qt_class, type) and issubclass(qt_class, QtCore.QObject):
        return adapt(qt_class)
    return None


def _cpp_property_names(cls: type) -> set[str]:
    """Names of the properties that the nearest C++ (PySide6) base of ``cls`` declares."""
    cpp_base = next(base for base in cls.__mro__ if base.__module__.startswith("PySide6."))
    meta = cpp_base.staticMetaObject
    return {as_text(meta.property(i).name()) for i in range(meta.propertyCount())}


def _has_property(cls: type, name: str) -> bool:
    return cls.staticMetaObject.indexOfProperty(name) >= 0


def _enum_value(cls: type, text: str) -> int:
    """``ctkPathLineEdit::Files|ctkPathLineEdit::Dirs`` as the stand-in's constants OR-ed together."""
    value = 0
    for token in text.split("|"):
        value |= int(getattr(cls, token.strip().rpartition("::")[2]))
    return value


class _Preparation:
    """What is taken out of the .ui before Qt's builder sees it, to be done after it has built the widgets."""

    def __init__(self, root: ElementTree.Element, source: str) -> None:
        self.connections: list[tuple[str, str, str, str]] = []
        self.enum_properties: list[tuple[str, type, str, str]] = []
        self._take_connections(root)
        self._check_widgets_and_take_enums(root, source)

    def _take_connections(self, root: ElementTree.Element) -> None:
        block = root.find("connections")
        if block is None:
            return
        for connection in block.findall("connection"):
            self.connections.append(
                tuple(connection.findtext(tag, "").strip() for tag in ("sender", "signal", "receiver", "slot"))
            )
        root.remove(block)

    def _check_widgets_and_take_enums(self, root: ElementTree.Element, source: str) -> None:
        for widget in root.iter("widget"):
            class_name, name = widget.get("class", ""), widget.get("name", "")
            cls = _widget_class(class_name)
            if cls is None:
                raise LookupError(
                    f"{source}: no class for <widget class={class_name!r} name={name!r}> (the harness "
                    "has no stand-in for it)"
                )
            if _standin_class(class_name) is None:
                continue
            cpp_properties = _cpp_property_names(cls)
            for prop in list(widget.findall("property")):
                prop_name = prop.get("name", "")
                if prop.get("stdset") == "0":
                    continue  # a dynamic property (SlicerParameterName): the builder sets it on any object
                if not _has_property(cls, prop_name):
                    raise LookupError(
                        f"{source}: the {class_name} stand-in has no property {prop_name!r} that widget {name!r} sets"
                    )
                value = prop.find("enum")
                value = prop.find("set") if value is None else value
                if value is not None and prop_name not in cpp_properties:
                    self.enum_properties.append((name, cls, prop_name, value.text or ""))
                    widget.remove(prop)


def _objects_by_name(top: QtCore.QObject) -> dict[str, QtCore.QObject]:
    objects = {QtCore.QObject.objectName(top): top}
    for child in top.findChildren(QtCore.QObject):
        objects.setdefault(QtCore.QObject.objectName(child), child)
    return objects


def _slot(receiver: QtCore.QObject, slot_signature: str) -> Any:
    """The receiver's method named by a slot signature (the method itself where a property has that name)."""
    name = slot_signature.partition("(")[0]
    attribute = getattr(type(receiver), name, None)
    shadowed = getattr(attribute, "shadowed", None)
    if shadowed is not None:
        return shadowed.__get__(receiver, type(receiver))
    return getattr(receiver, name)


def _read(source: Any) -> tuple[bytes, str]:
    """The .ui bytes and a name for messages, from an open QIODevice (as loadUI passes) or a path."""
    if isinstance(source, QtCore.QIODevice):
        name = source.fileName() if isinstance(source, QtCore.QFile) else type(source).__name__
        return bytes(source.readAll().data()), name
    return Path(source).read_bytes(), str(source)


class QUiLoader(adapt(QtUiTools.QUiLoader)):
    """PythonQt's QUiLoader as Slicer uses it: ``qt.QUiLoader().load(qfile)`` (mirrors QtUiTools' QUiLoader)."""

    def load(self, source: Any, parentWidget: QtWidgets.QWidget | None = None) -> QtWidgets.QWidget | None:
        data, name = _read(source)
        root = ElementTree.fromstring(data)
        prepared = _Preparation(root, name)
        buffer = QtCore.QBuffer()
        buffer.setData(ElementTree.tostring(root, encoding="utf-8"))
        buffer.open(QtCore.QIODevice.OpenModeFlag.ReadOnly)
        top = QtUiTools.QUiLoader.load(self, buffer, parentWidget)
        if top is None:
            return None
        objects = _objects_by_name(top)
        for widget_name, cls, prop_name, text in prepared.enum_properties:
            setattr(objects[widget_name], prop_name, _enum_value(cls, text))
        for sender, signal, receiver, slot in prepared.connections:
            if not connect_signature(objects[sender], signal, _slot(objects[receiver], slot)):
                raise RuntimeError(f"{name}: could not connect {sender}.{signal} to {receiver}.{slot}")
        return top

    def createWidget(
        self, className: str, parent: QtWidgets.QWidget | None = None, name: str = ""
    ) -> QtWidgets.QWidget:
        cls = _widget_class(className)
        if cls is None:
            return QtUiTools.QUiLoader.createWidget(self, className, parent, name)
        widget = cls(parent)
        widget.setObjectName(name)
        return widget

    def createLayout(self, className: str, parent: QtCore.QObject | None = None, name: str = "") -> QtWidgets.QLayout:
        qt_class = getattr(QtWidgets, className, None)
        if not (isinstance(qt_class, type) and issubclass(qt_class, QtWidgets.QLayout)):
            return QtUiTools.QUiLoader.createLayout(self, className, parent, name)
        cls = adapt(qt_class)
        # as Qt's form builder does: a nested layout is made without parent, a widget's layout with it
        layout = cls(parent) if isinstance(parent, QtWidgets.QWidget) else cls()
        layout.setObjectName(name)
        return layout


qt.QUiLoader = QUiLoader
