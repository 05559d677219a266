"""GmmSegLib: the GmmSeg library, in floors (README, Architecture).

Every floor below ``mrml`` imports without Slicer, VTK and Qt; ``mrml`` needs MRML and VTK, ``gui`` Qt as
well. Torch is imported only by the modules that need it (networks, training, inference), never by this
package's ``__init__``.
"""

__version__ = "0.1.0"
