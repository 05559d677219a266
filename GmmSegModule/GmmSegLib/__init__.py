"""GmmSegLib: the Slicer-independent core of GmmSeg.

Everything here imports without Slicer and without Qt. Torch is imported only by the modules that
need it (networks, training, inference), never by this package's ``__init__``.
"""

__version__ = "0.1.0"
