"""``slicer.app.coreIOManager()`` for scenes: what ``slicer.util.saveScene`` and ``slicer.util.loadScene`` reach.

Only the scene file type ("SceneFile") is served, by the same vtkMRMLScene calls as Slicer 5.12.3's readers and
writers: saving a ``.mrb`` is qSlicerSceneWriter::writeToMRB (the scene's URL and root directory set, then
``vtkMRMLScene::WriteToMRB``, then ``SetStorableNodesModifiedSinceRead``); any other name but ``.mrml`` is a bundle
folder, qSlicerSceneWriter::writeToDirectory (``SaveSceneToSlicerDataBundleDirectory``, into an empty folder).
Loading a ``.mrb`` is qSlicerSceneBundleReader::load (``ReadFromMRB``), a ``.mrml`` qSlicerSceneReader::load (the URL
set, then ``Connect`` with the "clear" property, else ``Import``). Every storable node is written by its own storage
node, and read back by it, as in the application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .qt_adapter import qt

SCENE_FILE = "SceneFile"


class qSlicerCoreIOManager(qt.QObject):
    """Base/QTCore/qSlicerCoreIOManager.h as far as scenes go: ``fileType``, ``saveNodes`` and ``loadNodes``."""

    def __init__(self, scene: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self._scene = scene

    @staticmethod
    def fileType(fileName: str) -> str:
        return SCENE_FILE if Path(str(fileName)).suffix.lower() in (".mrb", ".mrml") else "NoFile"

    def saveNodes(self, fileType: str, properties: dict, userMessages: Any = None) -> bool:
        if fileType != SCENE_FILE:
            raise NotImplementedError(f"the harness saves scenes only, not {fileType}")
        path = Path(str(properties["fileName"])).absolute()
        scene = self._scene
        if path.suffix.lower() == ".mrb":
            scene.SetURL(str(path))
            scene.SetRootDirectory(str(path.parent))
            saved = scene.WriteToMRB(str(path), None, userMessages)
            scene.SetStorableNodesModifiedSinceRead()
            return bool(saved)
        if path.suffix.lower() == ".mrml":
            raise NotImplementedError("the harness saves a scene as .mrb or as a bundle folder")
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            return False  # Slicer asks for an empty folder
        return bool(scene.SaveSceneToSlicerDataBundleDirectory(str(path), None, userMessages))

    def loadNodes(self, fileType: str, properties: dict, loadedNodes: Any = None, userMessages: Any = None) -> bool:
        if fileType != SCENE_FILE:
            raise NotImplementedError(f"the harness loads scenes only, not {fileType}")
        path = str(Path(str(properties["fileName"])).absolute())
        clear = bool(properties.get("clear", False))
        scene = self._scene
        before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
        if path.lower().endswith(".mrb"):
            loaded = scene.ReadFromMRB(path, clear, userMessages)
        else:
            scene.SetURL(path)
            loaded = scene.Connect(userMessages) if clear else scene.Import(userMessages)
        if loadedNodes is not None:
            for index in range(scene.GetNumberOfNodes()):
                node = scene.GetNthNode(index)
                if node.GetID() not in before:
                    loadedNodes.AddItem(node)
        return bool(loaded)
