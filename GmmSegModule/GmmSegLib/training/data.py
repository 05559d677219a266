"""The volumes the trainer's stages learn from, read once per run and kept.

The labelled auxiliary stacks are located from their labels; the adaptation's target images by the model itself,
as at inference (a cine is located once, on its first frame, and every frame is cropped there); the handedness
net's stacks in every storage order by the trained localiser. Labels of the target images are never read. A target
image that cannot be used (unreadable, not a short-axis stack, no heart found) is left out and named in one warning
line; the run is refused only when none of several can be used.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..core.errors import InputError
from ..core.paths import acdc_dir
from ..inference.handedness import storage_orders
from ..inference.localisation import locate_from_ground_truth, locate_heart
from ..inference.segmentation import locate_and_centre
from ..io import acdc
from ..io.checks import check_short_axis
from ..io.images import read_cardiac_image
from ..model.bundle import GmmSegModel
from .config import TrainConfig
from .sampling import Volume

LOGGER = logging.getLogger("gmmseg")


class TrainingData:
    """The labelled, target and handedness volumes of one run (each list read on first use)."""

    def __init__(self, config: TrainConfig, model: GmmSegModel, device: torch.device):
        self.config, self.model, self.device = config, model, device
        self._labelled: list[Volume] = []
        self._unlabelled: list[Volume] = []
        self.left_out: list[str] = []  # the target images that could not be used

    def root(self) -> Path:
        return Path(self.config.data) if self.config.data else acdc_dir()

    def labelled_split(self) -> tuple[Path, list[acdc.AcdcCase]]:
        """The ACDC folder and the labelled cases of the fold trained on (the first ``max_cases`` when given)."""
        root = self.root()
        labelled, _ = acdc.split(acdc.list_cases(root), self.config.folds, self.config.held_out_fold)
        return root, labelled[: self.config.max_cases] if self.config.max_cases else labelled

    def labelled(self) -> list[Volume]:
        if not self._labelled:
            root, labelled = self.labelled_split()
            for case in labelled:
                image, labels = acdc.load_case(root, case)
                location = locate_from_ground_truth(labels, image.spacing_xyz)
                if location is not None:
                    self._labelled.append(Volume.from_image(image, location, labels))
        return self._labelled

    def unlabelled(self) -> list[Volume]:
        """Target images for adaptation (``--adapt-images``, else every ACDC image), located by the model; those that
        cannot be used are left out (``left_out``), each named in a warning."""
        if not self._unlabelled:
            paths = self._target_paths()
            self.model.eval()
            for path in paths:
                try:
                    self._unlabelled.extend(self._target_volumes(path))
                except InputError as error:
                    if len(paths) == 1:
                        raise
                    LOGGER.warning(f"{error}; left out of the adaptation")
                    self.left_out.append(str(path))
            if paths and not self._unlabelled:
                raise InputError(f"none of the {len(paths)} images can be used for adaptation (each is named above)")
        return self._unlabelled

    def _target_paths(self) -> list[Path]:
        paths = [Path(p) for p in self.config.adapt_images]
        if not paths:
            root = self.root()
            cases = acdc.list_cases(root)
            paths = [acdc.image_path(root, case) for case in cases[: self.config.max_cases or None]]
        return paths

    def _target_volumes(self, path: Path) -> list[Volume]:
        """Each frame of the image at ``path``, cropped where its first frame puts the heart, as segment() sees it."""
        image = read_cardiac_image(path)
        image = image.kept_slices(~check_short_axis(image))  # without blank slices, as segment() sees it
        location = locate_and_centre(self.model, image.frames[0], image.spacing_xyz, self.device, str(path))[0]
        return [Volume.from_image(image, location, frame=frame) for frame in range(image.num_frames)]

    def handedness(self) -> tuple[list[Volume], list[Volume]]:
        """The labelled stacks in every storage order, located by the trained localiser: (kept, mirrored)."""
        kept: list[Volume] = []
        mirrored: list[Volume] = []
        self.model.eval()
        for volume in self.labelled():
            for slices, spacing, is_mirrored in storage_orders(volume.slices.numpy(), volume.spacing):
                try:
                    location = locate_heart(self.model.localiser, slices, spacing, self.device, volume.name)
                except InputError:  # the localiser misses this view of the heart: nothing to learn from it
                    continue
                (mirrored if is_mirrored else kept).append(
                    Volume(torch.from_numpy(slices), None, spacing, location, volume.name)
                )
        return kept, mirrored
