"""The ``qt`` module: PySide6 (QtCore, QtGui, QtWidgets) with the idioms of PythonQt, Slicer's Qt binding.

Slicer's Python code (its own ``slicer`` package and every scripted module) is written against PythonQt, which

* exposes every Qt property as a Python attribute, read and write, even where a getter method of the same name
  exists (``label.text`` is the string, ``button.enabled = False``, ``combo.currentIndex``, ``timer.singleShot``);
* gives every QObject ``name`` as an alias of ``objectName``;
* connects by C++ signature strings: ``button.connect("clicked(bool)", slot)``, ``obj.disconnect(...)``.

Here each PySide6 class derived from QObject is wrapped once, on first use, in an adapter class of the same name
(``qt.QPushButton``), a direct subclass of the PySide6 class. ``isinstance`` and ``issubclass`` with an adapter
follow the Qt class, as in PythonQt (``isinstance(qt.QLabel(), qt.QWidget)``), and ``findChildren(qt.QWidget)``
finds by Qt class. Slicer's parameterNodeWrapper compares ``type(widget) == qt.QComboBox`` exactly, so widgets
meant for it must be created from these classes (the harness's ``qt.QUiLoader`` does that for .ui files).
Objects that Qt creates internally (a combo box's view, a table's header) are plain PySide6 objects and keep
PySide6's method-style API.
Every other name of QtCore, QtGui and QtWidgets (enums, ``Qt``, value classes such as QColor, QIcon, QUrl,
QTableWidgetItem) is the PySide6 object itself.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

_QT_MODULES = (QtCore, QtGui, QtWidgets)

# Qt properties whose READ accessor is a virtual method. Shiboken finds a Python override of a virtual method with
# getattr(self, name) each time C++ calls it (a layout asking a widget for its sizeHint), so a Python attribute
# of that name would be read there, and reading it calls the virtual again. These stay methods (as in PySide6,
# unlike PythonQt, where ``progressBar.text`` is the string). The list is what probing every QObject class of
# PySide6 6.12's QtCore/QtGui/QtWidgets found; the guard in _QtProperty.__get__ keeps a property missed here
# from recursing.
_VIRTUAL_GETTERS: dict[str, type] = {
    "sizeHint": QtWidgets.QWidget,
    "minimumSizeHint": QtWidgets.QWidget,
    "spacing": QtWidgets.QLayout,
    "duration": QtCore.QAbstractAnimation,
    "text": QtWidgets.QProgressBar,
}


def as_text(value: Any) -> str:
    """A str from what PySide6 returns for names and signatures (bytes, QByteArray or str)."""
    if isinstance(value, QtCore.QByteArray):
        value = value.data()
    return value.decode() if isinstance(value, bytes) else str(value)


class _QtProperty:
    """A Qt property as a Python attribute, as PythonQt exposes it.

    On an instance it reads and writes the property through QObject.property/setProperty (so the C++ READ and
    WRITE functions run). On the class it gives what the PySide6 class has under that name, so static methods
    of the same name keep working (``qt.QTimer.singleShot(0, f)`` while ``timer.singleShot = True`` sets the
    property, as in Slicer).
    """

    _reading = threading.local()

    def __init__(self, name: str, shadowed: Any, writable: bool) -> None:
        self.name = name
        self.shadowed = shadowed
        self.writable = writable

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self.shadowed if self.shadowed is not None else self
        key = (id(obj), self.name)
        active = self._reading.__dict__.setdefault("keys", set())
        if key in active:  # re-entered from Shiboken's lookup of a virtual override: "no override"
            return None
        active.add(key)
        try:
            return QtCore.QObject.property(obj, self.name)
        finally:
            active.discard(key)

    def __set__(self, obj: Any, value: Any) -> None:
        if not self.writable:
            raise AttributeError(f"property {self.name!r} of {type(obj).__name__} is read-only")
        if not QtCore.QObject.setProperty(obj, self.name, value):
            raise TypeError(f"{type(obj).__name__}.{self.name} cannot be set to {value!r}")


def _signal_signature(sender: QtCore.QObject, signature: str) -> str:
    """The sender's own signature for a PythonQt-style signature string.

    An exact (normalized) match is used when there is one (Qt's own signals, ``clicked()`` versus
    ``clicked(bool)``). Signals declared in Python carry C++ pointer types as ``PyObject``
    (``mrmlSceneChanged(PyObject)`` for the ``mrmlSceneChanged(vtkMRMLScene*)`` that .ui files and Slicer code
    name), so otherwise the one signal of that name and number of arguments is taken.
    """
    wanted = as_text(QtCore.QMetaObject.normalizedSignature(signature))
    name, _, arguments = wanted.partition("(")
    arity = 0 if arguments in ("", ")") else arguments.count(",") + 1
    meta = sender.metaObject()
    same_name = []
    for index in range(meta.methodCount()):
        method = meta.method(index)
        if method.methodType() != QtCore.QMetaMethod.MethodType.Signal:
            continue
        own = as_text(method.methodSignature())
        if own == wanted:
            return own
        if as_text(method.name()) == name and method.parameterCount() == arity:
            same_name.append(own)
    if len(same_name) == 1:
        return same_name[0]
    raise AttributeError(f"{type(sender).__name__} has no signal {signature!r}")


def connect_signature(sender: QtCore.QObject, signature: str, slot: Callable) -> bool:
    """Connect ``slot`` to the signal of ``sender`` named by a C++ signature string (PythonQt's ``connect``)."""
    signal = QtCore.SIGNAL(_signal_signature(sender, signature))
    return bool(QtCore.QObject.connect(sender, signal, slot))


def disconnect_signature(sender: QtCore.QObject, signature: str, slot: Callable) -> bool:
    """Undo :func:`connect_signature` (PythonQt's ``disconnect``)."""
    signal = QtCore.SIGNAL(_signal_signature(sender, signature))
    return bool(QtCore.QObject.disconnect(sender, signal, slot))


def _is_signature(value: Any) -> bool:
    """A PythonQt signature string, as opposed to PySide6's SIGNAL()-coded one ("2clicked()")."""
    return isinstance(value, str) and not value[:1].isdigit()


def _get_name(self: QtCore.QObject) -> str:
    return QtCore.QObject.objectName(self)


def _set_name(self: QtCore.QObject, value: str) -> None:
    QtCore.QObject.setObjectName(self, value)


def _connect(self: QtCore.QObject, *args: Any) -> Any:
    """PythonQt's ``obj.connect("clicked(bool)", slot)``; anything else is PySide6's QObject.connect."""
    if len(args) == 2 and _is_signature(args[0]) and callable(args[1]):
        return connect_signature(self, args[0], args[1])
    return QtCore.QObject.connect(self, *args)


def _disconnect(self: QtCore.QObject, *args: Any) -> Any:
    """PythonQt's ``obj.disconnect("clicked(bool)", slot)``; anything else is PySide6's QObject.disconnect."""
    if len(args) == 2 and _is_signature(args[0]) and callable(args[1]):
        return disconnect_signature(self, args[0], args[1])
    return QtCore.QObject.disconnect(self, *args)


def _findChildren(self: QtCore.QObject, *args: Any, **kwargs: Any) -> list:
    return QtCore.QObject.findChildren(self, *map(_qt_type, args), **kwargs)


def _findChild(self: QtCore.QObject, *args: Any, **kwargs: Any) -> Any:
    return QtCore.QObject.findChild(self, *map(_qt_type, args), **kwargs)


def _init_subclass(cls: type, **kwargs: Any) -> None:
    """Give a Python subclass of an adapter (a stand-in) PythonQt's connect/disconnect in its own namespace."""
    object.__init_subclass__(**kwargs)  # PySide6's classes define no __init_subclass__ of their own
    for name in ("connect", "disconnect"):
        if name not in cls.__dict__:
            setattr(cls, name, _PYTHONQT_QOBJECT[name])


# What PythonQt adds to every QObject. connect and disconnect must be in the namespace of the object's own class:
# for names that QObject has both as static and as instance method, PySide6's attribute lookup only looks at the
# exact type's dict and otherwise returns its own method.
_PYTHONQT_QOBJECT = {
    "name": property(_get_name, _set_name),
    "connect": _connect,
    "disconnect": _disconnect,
    "findChildren": _findChildren,
    "findChild": _findChild,
    "__init_subclass__": classmethod(_init_subclass),
}


class _AdapterType(type(QtCore.QObject)):
    """Metaclass of the adapters: ``isinstance``/``issubclass`` with an adapter test its Qt class.

    The adapters derive from their PySide6 class only: a Python class with two PySide6 bases (the adapter of
    the Qt base as a second base) is taken by Shiboken for a C++ multiple inheritance, and converting such an
    object to another of its C++ bases (a QWidget to the QPaintDevice of a QPainter) gives a wrong pointer.
    Subclasses of adapters (the stand-ins) keep the usual checks.
    """

    def __instancecheck__(cls, obj: Any) -> bool:
        qt_class = cls.__dict__.get("_qt_class")
        return isinstance(obj, qt_class) if qt_class is not None else super().__instancecheck__(obj)

    def __subclasscheck__(cls, subclass: type) -> bool:
        qt_class = cls.__dict__.get("_qt_class")
        return issubclass(subclass, qt_class) if qt_class is not None else super().__subclasscheck__(subclass)


def _qt_type(value: Any) -> Any:
    """The PySide6 class of an adapter (PySide6's findChildren tests Python subclassing, not Qt's)."""
    return value.__dict__.get("_qt_class", value) if isinstance(value, _AdapterType) else value


_adapters: dict[type, type] = {}


def adapt(qt_class: type) -> type:
    """The adapter class of a PySide6 QObject class (made once)."""
    if qt_class in _adapters:
        return _adapters[qt_class]
    namespace: dict[str, Any] = {
        "_qt_class": qt_class,
        "__module__": "qt",
        "__qualname__": qt_class.__name__,
        "__doc__": f"{qt_class.__name__} with PythonQt's attribute properties (adapter of PySide6's class).",
    }
    meta = qt_class.staticMetaObject
    for index in range(meta.propertyCount()):
        prop = meta.property(index)
        name = as_text(prop.name())
        virtual_in = _VIRTUAL_GETTERS.get(name)
        if virtual_in is not None and issubclass(qt_class, virtual_in):
            continue
        namespace[name] = _QtProperty(name, getattr(qt_class, name, None), prop.isWritable())
    namespace.update(_PYTHONQT_QOBJECT)
    adapter = _AdapterType(qt_class.__name__, (qt_class,), namespace)
    _adapters[qt_class] = adapter
    return adapter


def _lookup(name: str) -> Any:
    """What ``qt.<name>`` is: the adapter of a QObject class, else the PySide6 object itself."""
    for module in _QT_MODULES:
        value = getattr(module, name, None)
        if value is not None:
            if isinstance(value, type) and issubclass(value, QtCore.QObject):
                return adapt(value)
            return value
    raise AttributeError(f"module 'qt' has no attribute {name!r}")


def _make_module() -> types.ModuleType:
    module = types.ModuleType("qt", __doc__)

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = _lookup(name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({name for m in _QT_MODULES for name in dir(m) if not name.startswith("_")})

    module.__getattr__ = __getattr__
    module.__dir__ = __dir__
    return module


qt = _make_module()
"""The module installed as ``qt`` (its ``QUiLoader`` is set by :mod:`.loader`)."""
