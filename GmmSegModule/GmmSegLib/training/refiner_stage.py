"""The ``refiner`` stage: the click refiner learns to correct the errors the trained segmenter makes.

Before the first epoch the segmenter (frozen) segments every labelled stack of the run as stored and through
``SITE_VARIANTS`` random other scanners (:func:`GmmSegLib.training.scanner_effects.random_site`, one scanner per
stack), so that it makes the kind of errors it makes at other hospitals; every slice that holds heart becomes an
example: a window (:class:`GmmSegLib.model.click_refiner.SliceWindow`, cut larger so that batches can move it) of
the image, the segmenter's class probabilities and the expert labels.

Examples are drawn the more often the more of their heart the segmenter got wrong (:func:`difficulty`).
Slices the segmenter draws heart on and the expert does not (above the base, below the apex) are examples too.
A step then plays a clinician (:mod:`GmmSegLib.training.simulated_clicks`): from the segmenter's labels (or, in
``CORRUPTION_CHANCE`` of the examples, expert labels damaged the way a failed segmentation or a careless edit damages
them) one click, or in ``SCRIBBLE_CHANCE`` of the sessions a scribble, goes to a wrong region, with, in ``BOX_CHANCE``
of the sessions where a structure is mostly missed, a box around it; the refiner answers, without gradients, for up to
``MAX_ROUNDS`` rounds, each adding a click where its answer is still wrong; the last answer is trained against the
expert labels (cross-entropy plus soft Dice), with every prompt of the session in its input, as at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..core.clicks import Box, Click
from ..core.labels import NUM_CLASSES, STRUCTURES, most_probable_class
from ..inference.localisation import locate_from_ground_truth
from ..inference.segmentation import segment
from ..io import acdc
from ..io.images import CardiacImage
from ..model.bundle import GmmSegModel
from ..model.click_refiner import (
    WINDOW_SIZE,
    SliceWindow,
    normalised_image,
    prompt_maps,
    refiner_input,
    window_labels,
    window_probabilities,
)
from .config import TrainConfig
from .data import TrainingData
from .losses import segmentation_loss
from .scanner_effects import random_site
from .simulated_clicks import simulated_box, simulated_click, simulated_scribble
from .stages import Stage

SITE_VARIANTS = 3
WINDOW_MARGIN = 16  # examples are cut this many pixels wider on each side: a batch moves the window by up to 24 mm
CORRUPTION_CHANCE = 0.5
EASY_WEIGHT = 0.05
SCRIBBLE_CHANCE = 0.25
BOX_CHANCE = 0.5
MAX_ROUNDS = 3


@dataclass
class RefinementExamples:
    """Windows (E, M, M) of the images, the segmenter's probabilities (E, K, M, M) and the expert labels (E, M, M),
    with how often each is drawn (E,): see :func:`difficulty`."""

    images: torch.Tensor
    probabilities: torch.Tensor
    truth: torch.Tensor
    weights: torch.Tensor


def difficulty(probabilities: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``EASY_WEIGHT`` plus the share of each example's heart pixels the segmenter got wrong, so that the few slices
    it fails on (the ones a clinician corrects) are not drowned by the many it gets right."""
    labels = probabilities.argmax(1)
    heart = (truth > 0) | (labels > 0)
    wrong = (labels != truth.long()) & heart
    return EASY_WEIGHT + wrong.sum(dim=(1, 2)) / heart.sum(dim=(1, 2)).clamp_min(1)


@dataclass
class RefinementBatch:
    """A step's windows: normalised images (B, N, N), probabilities (B, K, N, N), starting labels, truth (B, N, N)."""

    images: torch.Tensor
    probabilities: torch.Tensor
    labels: torch.Tensor
    truth: torch.Tensor

    def to(self, device: torch.device) -> RefinementBatch:
        return RefinementBatch(
            *(tensor.to(device) for tensor in (self.images, self.probabilities, self.labels, self.truth))
        )


def seen_at_random_site(slices: np.ndarray, seed: int) -> np.ndarray:
    """A stack (Z, Y, X) through one random other scanner (the same for every slice), in the stack's value range."""
    scale = float(max(np.percentile(slices, 99.5), 1e-6))
    site = [
        random_site(
            torch.from_numpy(np.ascontiguousarray(s / scale, dtype=np.float32)), torch.Generator().manual_seed(seed)
        )
        for s in slices
    ]
    return (torch.stack(site).clamp_min(0) * scale).numpy()


def _windows(
    image: np.ndarray, probabilities: np.ndarray, truth: np.ndarray, spacing_xy: tuple[float, float]
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Example windows of one stack: image (Z, Y, X), probabilities (K, Z, Y, X), truth (Z, Y, X).

    Every slice the expert drew heart on, and every slice the segmenter drew heart on where the expert drew none (a
    ventricle above the base, below the apex): there the right answer is to erase, which a clinician's background
    clicks must teach. Such a slice's window is centred on the heart of the nearest slice the expert drew.
    """
    expert_slices = np.flatnonzero((truth > 0).any(axis=(1, 2)))
    segmented = (probabilities.argmax(axis=0) > 0).any(axis=(1, 2))
    examples = []
    for z in np.flatnonzero((truth > 0).any(axis=(1, 2)) | segmented):
        nearest = int(expert_slices[np.argmin(np.abs(expert_slices - z))])
        window = SliceWindow.around(truth[nearest], [], spacing_xy)
        window = SliceWindow(window.centre_x, window.centre_y, *spacing_xy, size=WINDOW_SIZE + 2 * WINDOW_MARGIN)
        examples.append(
            (
                window.sample(torch.from_numpy(image[z][None]))[0],
                window_probabilities(window, torch.from_numpy(probabilities[:, z])).half(),
                window_labels(window, torch.from_numpy(truth[z])).to(torch.uint8),
            )
        )
    return examples


def refinement_examples(
    model: GmmSegModel, cases: list[tuple[CardiacImage, np.ndarray]], device: torch.device, seed: int
) -> RefinementExamples:
    """Every heart slice of ``cases`` (3D stacks with expert labels) as stored and through ``SITE_VARIANTS`` other
    scanners, segmented by ``model`` with the heart located from the expert's labels (a stack without any is left
    out)."""
    model.eval()
    examples = []
    for index, (image, truth) in enumerate(cases):
        # the heart where the expert drew it: the refiner learns the segmenter's errors, not the localiser's
        location = locate_from_ground_truth(truth, image.spacing_xyz)
        if location is None:
            continue
        for variant in range(1 + SITE_VARIANTS):
            frames = (
                image.frames
                if variant == 0
                else seen_at_random_site(image.frames[0], seed + 97 * index + variant)[None]
            )
            seen = CardiacImage(np.ascontiguousarray(frames, dtype=np.float32), image.geometry, image.source)
            result = segment(seen, model, device, location=location)
            examples += _windows(seen.frames[0], result.probabilities[0], truth, image.spacing_xyz[:2])
    images, probabilities, truth = (torch.stack(parts) for parts in zip(*examples, strict=True))
    return RefinementExamples(images, probabilities, truth, difficulty(probabilities.float(), truth))


def _ellipse(shape: tuple[int, int], generator: torch.Generator, near: np.ndarray) -> np.ndarray:
    """A random ellipse (radii 4 to 20 pixels) centred within 25 pixels of a random pixel of ``near`` (or anywhere)."""
    ys, xs = np.nonzero(near) if near.any() else np.nonzero(np.ones(shape, bool))
    pick = int(torch.randint(len(ys), (), generator=generator))
    cy, cx = (float(ys[pick]), float(xs[pick])) + (torch.rand(2, generator=generator).numpy() - 0.5) * 50
    ry, rx = 4 + 16 * torch.rand(2, generator=generator).numpy()
    y, x = np.mgrid[: shape[0], : shape[1]]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def corrupted(truth: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """Expert labels (N, N) damaged as a failed segmentation or a careless edit damages them, in one of six ways for
    one structure: grown over its neighbours or shrunk by a few pixels; cut off beyond a random line (a lost piece of
    ring, half a basal RV); missed altogether; a spurious blob of it where the expert drew none (a ventricle drawn
    above the base, fat or liver taken for myocardium); or a patch of it taken for a neighbouring class."""
    labels = truth.copy()
    value = list(STRUCTURES.values())[int(torch.randint(len(STRUCTURES), (), generator=generator))]
    mask = truth == value
    kind = int(torch.randint(6, (), generator=generator))
    if kind == 4 or not mask.any():  # a spurious blob beside the heart
        blob = _ellipse(truth.shape, generator, ndimage.binary_dilation(truth > 0, iterations=8) & (truth == 0))
        labels[blob & (truth == 0)] = value
    elif kind == 0:  # grown over its neighbours
        grown = ndimage.binary_dilation(mask, iterations=int(torch.randint(2, 6, (), generator=generator)))
        labels[grown] = value
    elif kind == 1:  # shrunk
        kept = ndimage.binary_erosion(mask, iterations=int(torch.randint(2, 6, (), generator=generator)))
        labels[mask & ~kept] = 0
    elif kind == 2:  # cut beyond a line through the structure
        ys, xs = np.nonzero(mask)
        angle = float(torch.rand((), generator=generator)) * 2 * np.pi
        side = (np.arange(truth.shape[0])[:, None] - ys.mean()) * np.sin(angle) + (
            np.arange(truth.shape[1])[None, :] - xs.mean()
        ) * np.cos(angle)
        labels[mask & (side > 0)] = 0
    elif kind == 3:  # missed altogether
        labels[mask] = 0
    else:  # a patch taken for a neighbouring class
        patch = _ellipse(truth.shape, generator, mask)
        others = [v for v in (0, *STRUCTURES.values()) if v != value]
        labels[patch & mask] = others[int(torch.randint(len(others), (), generator=generator))]
    return labels


def _moved(tensor: torch.Tensor, y0: int, x0: int, turns: int, mirror: bool) -> torch.Tensor:
    """The window of ``tensor`` (..., M, M) at (y0, x0), turned by ``turns`` quarter turns and maybe mirrored."""
    cut = torch.rot90(tensor[..., y0 : y0 + WINDOW_SIZE, x0 : x0 + WINDOW_SIZE], turns, dims=(-2, -1))
    return cut.flip(-1) if mirror else cut


def draw_refinement_batch(examples: RefinementExamples, size: int, generator: torch.Generator) -> RefinementBatch:
    """``size`` examples (drawn by their :func:`difficulty`), each window moved, turned by a multiple of 90
    degrees and maybe mirrored, starting from the segmenter's labels or from damaged expert labels."""
    images, probabilities, labels, truth = [], [], [], []
    span = examples.images.shape[-1] - WINDOW_SIZE
    drawn = torch.multinomial(examples.weights, size, replacement=True, generator=generator)
    for e in drawn.tolist():
        y0, x0 = (int(v) for v in torch.randint(span + 1, (2,), generator=generator))
        view = (y0, x0, int(torch.randint(4, (), generator=generator)), bool(torch.rand((), generator=generator) < 0.5))
        expert = _moved(examples.truth[e], *view).long()
        probability = _moved(examples.probabilities[e], *view).float()
        if torch.rand((), generator=generator) < CORRUPTION_CHANCE:
            start = torch.from_numpy(corrupted(expert.numpy(), generator))
            probability = F.one_hot(start, NUM_CLASSES).permute(2, 0, 1).float()
        else:
            start = most_probable_class(probability, 0)
        images.append(normalised_image(_moved(examples.images[e], *view)))
        probabilities.append(probability)
        labels.append(start)
        truth.append(expert)
    return RefinementBatch(torch.stack(images), torch.stack(probabilities), torch.stack(labels), torch.stack(truth))


@dataclass
class Session:
    """A simulated clinician's prompts on one window so far."""

    clicks: list[Click]
    boxes: list[Box]


def _first_prompts(batch: RefinementBatch, generator: torch.Generator) -> list[Session]:
    sessions = []
    for labels, expert in zip(batch.labels.cpu().numpy(), batch.truth.cpu().numpy(), strict=True):
        box = simulated_box(labels, expert) if torch.rand((), generator=generator) < BOX_CHANCE else None
        if torch.rand((), generator=generator) < SCRIBBLE_CHANCE:
            clicks = simulated_scribble(labels, expert, generator)
        else:
            click = simulated_click(labels, expert, generator)
            clicks = [] if click is None else [click]
        sessions.append(Session(clicks, [] if box is None else [box]))
    return sessions


def _add_clicks(
    sessions: list[Session], current: torch.Tensor, truth: torch.Tensor, generator: torch.Generator
) -> None:
    for session, labels, expert in zip(sessions, current.cpu().numpy(), truth.cpu().numpy(), strict=True):
        click = simulated_click(labels, expert, generator)
        if click is not None:
            session.clicks.append(click)


def _maps(sessions: list[Session], device: torch.device) -> torch.Tensor:
    return torch.stack([prompt_maps(s.clicks, s.boxes) for s in sessions]).to(device)


def refiner_stage(model: GmmSegModel, config: TrainConfig, data: TrainingData) -> Stage:
    """The click refiner, on simulated clinicians' sessions (see the module's docstring); fresh weights."""
    root, cases = data.labelled_split()
    stacks = [acdc.load_case(root, case) for case in cases]
    examples = refinement_examples(model, stacks, data.device, config.seed)

    def loss(model: GmmSegModel, batch: RefinementBatch, _epoch: int) -> dict[str, torch.Tensor]:
        generator = torch.default_generator  # seeded by the trainer at every epoch
        sessions = _first_prompts(batch, generator)
        current = batch.labels
        with torch.no_grad():
            for _ in range(int(torch.randint(MAX_ROUNDS + 1, (), generator=generator))):
                logits = model.refiner(
                    refiner_input(batch.images, current, batch.probabilities, _maps(sessions, current.device))
                )
                current = logits.argmax(1)
                _add_clicks(sessions, current, batch.truth, generator)
        logits = model.refiner(
            refiner_input(batch.images, current, batch.probabilities, _maps(sessions, current.device))
        )
        return {"total": segmentation_loss(logits, batch.truth)}

    return Stage(
        "refiner",
        [model.refiner],
        loss,
        lambda g: draw_refinement_batch(examples, config.batch_size, g),
        config.refiner_epochs,
        config.learning_rate,
        fresh=[model.refiner],
    )
