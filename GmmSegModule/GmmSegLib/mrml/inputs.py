"""The module's input in the scene: a 3D volume, or a cine as a volume sequence in a sequence browser.

A cine loaded into Slicer is a ``vtkMRMLSequenceBrowserNode`` whose master sequence holds one volume per
time frame. Those items live in the sequence's own scene with their own node IDs
(``vtkMRMLSequenceNode.cxx``); what the views show, and what any node reference of the main scene may name,
is the browser's *proxy* volume, which the browser fills with the selected frame. So the frames' arrays and
geometry are read from the items, and everything shown or referenced uses the proxy. A proxy chosen as the
input stands for its whole cine.
"""

from __future__ import annotations

import numpy as np
import slicer

from ..core.errors import InputError
from ..io.checks import check_short_axis
from ..io.images import CardiacImage, Geometry
from .nodes import lps_geometry, ras_matrix_of
from .texts import _

ROLE = "GmmSeg.Role"  # on every node the module makes; the input volumes never carry it


def update_proxies(browser) -> None:
    """Make the browser's proxy nodes show its selected frame (and create missing ones), as the Sequences module
    does on every browser change; on a bare scene (batch, tests) no module does it for us."""
    modules = getattr(slicer, "modules", None)
    sequences = getattr(modules, "sequences", None)
    logic = sequences.logic() if sequences is not None else slicer.vtkSlicerSequencesLogic()
    logic.UpdateProxyNodesFromSequences(browser)


def cine_of(volume):
    """The browser whose master proxy ``volume`` is, when that browser holds a cine of volumes, else None."""
    scene = volume.GetScene() if volume is not None else None
    if scene is None or not isinstance(volume, slicer.vtkMRMLScalarVolumeNode):
        return None
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        browser = scene.GetNthNodeByClass(index, "vtkMRMLSequenceBrowserNode")
        master = browser.GetMasterSequenceNode()
        if master is not None and browser.GetProxyNode(master) is volume and master.GetNumberOfDataNodes() > 1:
            return browser
    return None


def output_volume_ids(scene) -> list[str]:
    """The IDs of the volumes this module made (uncertainty maps, priors, and the proxies that show them): what the
    input selector must not offer."""
    volumes = (
        scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode")
        for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"))
    )
    return [volume.GetID() for volume in volumes if volume.GetAttribute(ROLE)]


def default_input(scene):
    """What a clinician most likely wants segmented: the first cine, else the first MR volume that is not an
    output of this module or another browser's proxy."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        browser = scene.GetNthNodeByClass(index, "vtkMRMLSequenceBrowserNode")
        master = browser.GetMasterSequenceNode()
        if (
            master is not None
            and master.GetNumberOfDataNodes() > 0
            and master.GetDataNodeClassName() in ("vtkMRMLScalarVolumeNode",)
        ):
            return browser
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        volume = scene.GetNthNodeByClass(index, "vtkMRMLScalarVolumeNode")
        if not (
            volume.IsA("vtkMRMLLabelMapVolumeNode")
            or volume.GetAttribute(ROLE)
            or volume.GetHideFromEditors()
            or _is_any_proxy(scene, volume)
        ):
            return volume
    return None


def frame_volumes(node) -> list:
    """The volume of every time frame of an input: the volume itself, or the master sequence's items in the
    browser's order. For arrays and geometry only: the items are not nodes of the main scene."""
    if node is None:
        raise InputError(_("no input selected: choose a volume or a cine (volume sequence)"))
    if isinstance(node, slicer.vtkMRMLSequenceNode):
        raise InputError(
            _("{name}: choose the cine's sequence browser rather than the sequence itself").format(name=node.GetName())
        )
    if isinstance(node, slicer.vtkMRMLSequenceBrowserNode):
        master = node.GetMasterSequenceNode()
        if master is None:
            raise InputError(_("{name}: the sequence browser has no sequence to segment").format(name=node.GetName()))
        volumes = [master.GetNthDataNode(i) for i in range(master.GetNumberOfDataNodes())]
        if not volumes:
            raise InputError(_("{name}: the cine's sequence is empty").format(name=node.GetName()))
        if not all(isinstance(v, slicer.vtkMRMLScalarVolumeNode) for v in volumes):
            raise InputError(
                _("{name}: not a sequence of volumes; a cine of MR volumes is required").format(name=node.GetName())
            )
    else:
        volumes = [node]
    for volume in volumes:
        if isinstance(volume, slicer.vtkMRMLLabelMapVolumeNode):
            raise InputError(_("{name}: is a label map; choose the MR image").format(name=volume.GetName()))
        if not isinstance(volume, slicer.vtkMRMLScalarVolumeNode) or volume.GetImageData() is None:
            raise InputError(
                _("{name}: has no image data; a greyscale MR volume is required").format(name=volume.GetName())
            )
        if volume.GetImageData().GetNumberOfScalarComponents() != 1:
            raise InputError(
                _("{name}: has several components per voxel; a greyscale MR image is required").format(
                    name=volume.GetName()
                )
            )
    return volumes


def shown_volume(node):
    """The main-scene volume that shows the input: the volume, or the browser's proxy of its master sequence."""
    if not isinstance(node, slicer.vtkMRMLSequenceBrowserNode):
        return node
    proxy = node.GetProxyNode(node.GetMasterSequenceNode())
    if proxy is None:
        update_proxies(node)
        proxy = node.GetProxyNode(node.GetMasterSequenceNode())
    return proxy


def input_geometry(volumes: list) -> Geometry:
    """The (LPS) geometry of an input: its volume's, or 4D around the first frame's for a cine."""
    geometry = lps_geometry(volumes[0])
    if len(volumes) == 1:
        return geometry
    direction = np.eye(4)
    direction[:3, :3] = np.reshape(geometry.direction, (3, 3))
    return Geometry(geometry.spacing + (1.0,), geometry.origin + (0.0,), tuple(float(v) for v in direction.ravel()))


def cardiac_image_from_node(node) -> CardiacImage:
    """A checked (T, Z, Y, X) image with LPS geometry from a volume or a cine's sequence browser."""
    volumes = frame_volumes(node)
    arrays = [slicer.util.arrayFromVolume(v).astype(np.float32) for v in volumes]
    if any(a.ndim != 3 or a.shape[0] == 1 for a in arrays):
        raise InputError(
            _("{name}: is a 2D image; a 3D short-axis stack or a cine is required").format(name=node.GetName())
        )
    if len({a.shape for a in arrays}) != 1:
        raise InputError(_("{name}: the cine's frames differ in size").format(name=node.GetName()))
    image = CardiacImage(np.stack(arrays), input_geometry(volumes), node.GetName())
    check_short_axis(image)
    return image


def add_volume_nodes(scene, image: CardiacImage, name: str):
    """Put an image into the scene as a file reader would: a volume for a 3D stack, a browser for a cine."""
    matrix = slicer.util.vtkMatrixFromArray(ras_matrix_of(image.geometry))

    def volume(frame: np.ndarray, volume_name: str):
        node = slicer.vtkMRMLScalarVolumeNode()
        node.SetName(volume_name)
        node.SetIJKToRASMatrix(matrix)
        slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(frame, np.float32))
        return node

    if not image.is_cine:
        node = volume(image.frames[0], name)
        scene.AddNode(node)
        node.CreateDefaultDisplayNodes()
        return node
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", f"{name} frames")
    sequence.SetIndexName("frame")
    sequence.SetIndexUnit("")
    sequence.SetIndexType(slicer.vtkMRMLSequenceNode.NumericIndex)
    for t, frame in enumerate(image.frames):
        sequence.SetDataNodeAtValue(volume(frame, f"{name} frame {t}"), str(t))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", name)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    update_proxies(browser)
    return browser


def _is_any_proxy(scene, volume) -> bool:
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        if scene.GetNthNodeByClass(index, "vtkMRMLSequenceBrowserNode").IsProxyNodeID(volume.GetID()):
            return True
    return False
