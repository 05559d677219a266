"""MRML building blocks of the module's outputs: geometry, segmentation nodes, labels in and out, removal.

Only MRML and ``vtkSlicer*Logic`` classes, so this runs on a bare scene (``slicer-core``) as inside the
application. Nothing here leaves a node in the scene that the caller did not ask for: labels are read with
``GenerateMergedLabelmapInReferenceGeometry`` into an image that is not a node (``ExportSegmentsToLabelmapNode``
would leave a colour table and a display node per call, ``vtkSlicerSegmentationsModuleLogic.cxx``), and
written as an oriented image in the segmentation's own coordinates, so a parent transform of the input is
neither applied twice nor lost.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from ..core.errors import GmmSegError
from ..core.labels import STRUCTURE_COLOURS, STRUCTURE_NAMES, STRUCTURES
from ..io.images import Geometry
from .texts import _

# Slicer's terminology entry string: context~category~type~type modifier~region context~region~region modifier.
# Codes are SNOMED CT structures; Resources/Terminology/GmmSegCardiac.term.json lists them for Slicer's browser.
TERMINOLOGY_CONTEXT = "GmmSeg cardiac short-axis"
SEGMENT_CODES = {
    "LV": ("87878005", "Left ventricle"),
    "MYO": ("74281007", "Myocardium"),
    "RV": ("53085002", "Right ventricle"),
}
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def segment_name(segment_id: str) -> str:
    """The name a segment shows in Slicer: the structure's name, capitalised ("Myocardium", "LV cavity")."""
    name = STRUCTURE_NAMES[segment_id]
    return name[:1].upper() + name[1:]


def terminology_tag(segment_id: str) -> str:
    """The ``TerminologyEntry`` tag of one segment (category: anatomical structure)."""
    code, meaning = SEGMENT_CODES[segment_id]
    return (
        f"{TERMINOLOGY_CONTEXT}~SCT^123037004^Anatomical Structure~SCT^{code}^{meaning}~^^~"
        "Anatomic codes - DICOM master list~^^~^^"
    )


def register_segmentation_converters() -> None:
    """Register the segmentation conversion rules (the Segmentations module does this at application start)."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    present = {rule.GetName() for rule in factory.GetConverterRules()}
    for rule in (
        slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule(),
        slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule(),
    ):
        if rule.GetName() not in present:
            factory.RegisterConverterRule(rule)


# ---- geometry ------------------------------------------------------------------------------------------
def ijk_to_ras(volume) -> np.ndarray:
    """The 4 x 4 IJK-to-RAS matrix of a volume node, in its own (parent-transform-local) coordinates."""
    matrix = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


def lps_geometry(volume) -> Geometry:
    """SimpleITK-style geometry (LPS) of a volume node (Slicer works in RAS)."""
    matrix = ijk_to_ras(volume)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    direction = _LPS_TO_RAS @ (matrix[:3, :3] / spacing)
    origin = _LPS_TO_RAS @ matrix[:3, 3]
    return Geometry(
        tuple(float(v) for v in spacing), tuple(float(v) for v in origin), tuple(float(v) for v in direction.ravel())
    )


def ras_matrix_of(geometry: Geometry) -> np.ndarray:
    """IJK-to-RAS 4 x 4 of the spatial part of an (LPS) geometry."""
    dimension = geometry.dimension
    direction = np.reshape(geometry.direction, (dimension, dimension))[:3, :3]
    matrix = np.eye(4)
    matrix[:3, :3] = _LPS_TO_RAS @ direction * np.array(geometry.spacing[:3])
    matrix[:3, 3] = _LPS_TO_RAS @ np.array(geometry.origin[:3])
    return matrix


def transform_points(points: list, source_transform, target_transform) -> list[np.ndarray]:
    """Points from the coordinates under ``source_transform`` to those under ``target_transform`` (either may be
    None: world), through whatever transforms, linear or not, lie between them."""
    if source_transform is target_transform:
        return [np.asarray(p, float)[:3] for p in points]
    between = vtk.vtkGeneralTransform()
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(source_transform, target_transform, between)
    return [np.array(between.TransformPoint([float(v) for v in p[:3]])) for p in points]


# ---- segmentation nodes -----------------------------------------------------------------------------------
def segment_ids(names=STRUCTURES) -> vtk.vtkStringArray:
    """Segment IDs as VTK wants them, LV, MYO, RV by default: the segment of label value i is the i-th."""
    ids = vtk.vtkStringArray()
    for segment_id in names:
        ids.InsertNextValue(segment_id)
    return ids


def new_segmentation(name: str, reference, labels: np.ndarray):
    """A segmentation node outside any scene with segments LV, MYO, RV (names, colours, terminology) holding
    ``labels`` (Z, Y, X) on ``reference``'s grid: a sequence item, or a node the caller adds to a scene."""
    segmentation = slicer.vtkMRMLSegmentationNode()
    segmentation.SetName(name)
    for segment_id in STRUCTURES:
        segmentation.GetSegmentation().AddEmptySegment(
            segment_id, segment_name(segment_id), STRUCTURE_COLOURS[segment_id]
        )
        segment = segmentation.GetSegmentation().GetSegment(segment_id)
        segment.SetTag(segment.GetTerminologyEntryTagName(), terminology_tag(segment_id))
    set_reference_geometry(segmentation, reference)
    write_labels(segmentation, reference, labels)
    return segmentation


def set_reference_geometry(segmentation, reference) -> None:
    """The segmentation's reference grid from ``reference``'s, as a geometry only: a node reference would name a
    node ID of another scene when either node is a sequence item."""
    geometry = slicer.vtkSegmentationConverter.SerializeImageGeometry(
        ijk_to_ras_matrix(reference), reference.GetImageData()
    )
    segmentation.GetSegmentation().SetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(), geometry
    )


def read_labels(segmentation, reference, ids: tuple[str, ...] = tuple(STRUCTURES)) -> np.ndarray:
    """The labels (Z, Y, X) uint8 that ``segmentation`` holds now, on ``reference``'s grid: label value i for the
    i-th of the segments ``ids`` (LV, MYO, RV), later ones drawn over earlier ones where segments overlap
    (``vtkSegmentation::GenerateMergedLabelmap``)."""
    from vtk.util.numpy_support import vtk_to_numpy

    merged = slicer.vtkOrientedImageData()
    slicer.vtkSlicerSegmentationsModuleLogic.GenerateMergedLabelmapInReferenceGeometry(
        segmentation, reference, segment_ids(ids), slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY, merged, None
    )
    shape = reference.GetImageData().GetDimensions()[::-1]
    scalars = merged.GetPointData().GetScalars()
    if scalars is None or merged.GetDimensions()[::-1] != shape:
        raise GmmSegError(_("could not read the segmentation's labels on the image's grid"))
    return vtk_to_numpy(scalars).reshape(shape).astype(np.uint8)


def write_labels(segmentation, reference, labels: np.ndarray, remake_surface: bool = True) -> None:
    """Replace the segments' content by ``labels`` (Z, Y, X), given on ``reference``'s grid, in the segmentation's
    own coordinates: one shared labelmap layer, the segment of label value i being the i-th (how Slicer itself
    stores segments that do not overlap). Written through ``vtkSegment`` rather than
    ``ImportLabelmapToSegmentationNode``, which needs the node in a scene (it makes display nodes) and so fails
    for a sequence item. A 3D surface made from the old labels is made again, or with ``remake_surface`` False
    only dropped (for a cine's frame not shown, whose surface the panel makes again while the GUI is idle)."""
    from vtk.util.numpy_support import numpy_to_vtk

    if labels.shape != reference.GetImageData().GetDimensions()[::-1]:
        raise GmmSegError(_("labels of shape {shape} do not fit the image's grid").format(shape=labels.shape))
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(*labels.shape[::-1])
    image.SetImageToWorldMatrix(ijk_to_ras_matrix(reference))
    image.GetPointData().SetScalars(
        numpy_to_vtk(np.ascontiguousarray(labels, np.uint8).ravel(), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
    )
    representation = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    content = segmentation.GetSegmentation()
    for value, segment_id in enumerate(STRUCTURES, start=1):
        segment = content.GetSegment(segment_id)
        if segment is None:
            raise GmmSegError(
                _("the segmentation {name} has no segment {segment}").format(
                    name=segmentation.GetName(), segment=segment_id
                )
            )
        segment.AddRepresentation(representation, image)
        segment.SetLabelValue(value)
    rebuild_derived_representations(segmentation, remake_surface)


def has_surface(segmentation) -> bool:
    """Whether ``segmentation`` holds a 3D surface (the closed surface representation)."""
    surface = slicer.vtkSegmentationConverter.GetSegmentationClosedSurfaceRepresentationName()
    return bool(segmentation.GetSegmentation().ContainsRepresentation(surface))


def rebuild_derived_representations(segmentation, remake_surface: bool = True) -> None:
    """Remake the 3D surface from the labels just written. ``vtkSegment::AddRepresentation`` replaces the labelmap
    without the labelmap's own Modified event, which is what makes ``vtkSegmentation`` drop the representations
    converted from it (OnSourceRepresentationModified), so a closed surface would stay as it was. As
    ``vtkMRMLSegmentationNode::ApplyTransform`` does: invalidate them, convert the closed surface again if there
    was one (unless ``remake_surface`` is False), and keep the display's preferred representations."""
    content = segmentation.GetSegmentation()
    surface = slicer.vtkSegmentationConverter.GetSegmentationClosedSurfaceRepresentationName()
    if not has_surface(segmentation):
        return
    if not remake_surface:
        content.InvalidateNonSourceRepresentations()
        return
    display = segmentation.GetDisplayNode() if segmentation.GetScene() is not None else None
    preferred = (
        (display.GetPreferredDisplayRepresentationName2D(), display.GetPreferredDisplayRepresentationName3D())
        if display is not None
        else None
    )
    content.InvalidateNonSourceRepresentations()
    content.CreateRepresentation(surface)
    if preferred is not None:
        display.SetPreferredDisplayRepresentationName2D(preferred[0])
        display.SetPreferredDisplayRepresentationName3D(preferred[1])


def ijk_to_ras_matrix(volume) -> vtk.vtkMatrix4x4:
    """``volume``'s IJK-to-RAS matrix, as a new VTK matrix."""
    matrix = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(matrix)
    return matrix


# ---- click points and removal ------------------------------------------------------------------------------
def new_click_points(scene, name: str, colour: tuple[float, float, float], kind: str = "vtkMRMLMarkupsFiducialNode"):
    """A markups node of class ``kind`` in ``scene`` for the clinician's prompts (clicks, a scribble, a box), drawn in
    ``colour``."""
    points = scene.AddNewNodeByClass(kind, name)
    points.CreateDefaultDisplayNodes()
    points.GetDisplayNode().SetSelectedColor(colour)
    return points


def box_corners(roi) -> list[np.ndarray]:
    """The eight corners (world RAS) of a markups ROI: its radii along its own axes, through its object-to-world
    matrix (vtkMRMLMarkupsROINode, 5.10 and 5.12: GetObjectToWorldMatrix, GetRadiusXYZ)."""
    matrix = slicer.util.arrayFromVTKMatrix(roi.GetObjectToWorldMatrix())
    radius = [0.0, 0.0, 0.0]
    roi.GetRadiusXYZ(radius)
    return [
        (matrix @ np.array([sx * radius[0], sy * radius[1], sz * radius[2], 1.0]))[:3]
        for sx in (-1, 1)
        for sy in (-1, 1)
        for sz in (-1, 1)
    ]


def remove_with_dependents(scene, node) -> None:
    """Remove ``node`` with its display and storage nodes, which ``vtkMRMLScene::RemoveNode`` leaves behind."""
    if node is None or not scene.IsNodePresent(node):
        return
    dependents = []
    if isinstance(node, slicer.vtkMRMLDisplayableNode):
        dependents += [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    if isinstance(node, slicer.vtkMRMLStorableNode):
        dependents += [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
    scene.RemoveNode(node)
    for dependent in dependents:
        if dependent is not None and scene.IsNodePresent(dependent):
            scene.RemoveNode(dependent)
