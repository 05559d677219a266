"""Segmenting a short-axis stack or cine with GmmSeg (README, "Method", items 1, 5 and 6).

Per volume: locate the heart (localiser), recognise a mirrored stack (handedness net), centre the crop on
GmmSeg's own segmentation of the first frame (GmmSegLib.inference.centring), resample every slice into the canonical
crop, run the feature U-Net and the heads, register the atlas to the responsibilities (phi, no gradients),
predict the Dirichlet concentrations d_hat from the features and the registered prior, and form the label
posterior by one variational update of the responsibilities with the Dirichlet:
q(z_ik) ~ pi_ik exp(E[log w_ik]). Everything is mapped back onto the native grid, where the labels are decided
after the model's class-prior correction (GmmSegLib.model.class_prior), each cavity kept to its largest piece
(GmmSegLib.inference.cavity_pieces); in a cine, the frames past end-diastole then get the model's end-systolic
cavity correction (GmmSegLib.inference.end_systole). A given ``phi`` replaces the registration
net's, which is how the clinician's re-registration of the atlas changes the result through the model.
The first frame of a stack (the end-diastolic and end-systolic frames of a cine) is segmented a second time with
the crop moved by one canonical pixel: how far the two disagree is the result's unreliable share
(GmmSegLib.clinical.quality).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..clinical.indices import structure_volumes_ml
from ..clinical.quality import checked_frames
from ..clinical.review import slice_mean_uncertainty
from ..core.errors import GmmSegError
from ..core.labels import NUM_CLASSES, UNCERTAINTY_KINDS, most_probable_class
from ..io.checks import check_short_axis
from ..io.images import CardiacImage
from ..model.alignment import CanonicalCrop, canonical_input, to_native
from ..model.atlas import prior_at
from ..model.bundle import CanonicalPrediction, GmmSegModel
from ..model.class_prior import corrected_probabilities
from ..model.phi import Phi
from ..model.uncertainty import dirichlet_uncertainty, posterior_dirichlet
from .cavity_pieces import without_stray_cavity_pieces
from .centring import MAX_RECENTRINGS, recentred
from .end_systole import frame_corrections
from .handedness import locate_and_orient
from .localisation import HeartLocation
from .stage_clock import StageClock

BACKGROUND_ONLY = torch.tensor([1.0, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class Readout:
    """What a segmentation takes from the networks' prediction on the canonical crops: the class probabilities
    behind the labels, the Dirichlet the uncertainty maps come from (:mod:`GmmSegLib.model.uncertainty`), and
    whether the class-prior correction (:mod:`GmmSegLib.model.class_prior`) applies on the native grid."""

    probabilities: Callable[[CanonicalPrediction], torch.Tensor]
    dirichlet: Callable[[CanonicalPrediction], torch.Tensor]
    class_prior_correction: bool = True


# The product's: the GmmSeg posterior (pi updated with the registered Dirichlet), corrected; maps from the
# Dirichlet with d_hat's strength centred on that posterior.
GMMSEG_READOUT = Readout(
    lambda prediction: prediction.posterior,
    lambda prediction: posterior_dirichlet(prediction.concentrations, prediction.posterior),
)


def network_input(
    model: GmmSegModel, native: torch.Tensor, crop: CanonicalCrop, location: HeartLocation
) -> torch.Tensor:
    """Native slices (Z, Y, X) of one stack as the feature U-Net takes them: canonical crops, with the
    model's neighbouring slices as channels (Z, 1 + 2 context, N, N) in the stack's base-to-apex order."""
    return canonical_input(native, crop, model.context_slices, location.base_first)


def centred_location(
    model: GmmSegModel,
    native: torch.Tensor,
    location: HeartLocation,
    spacing: tuple[float, float, float],
    prior: torch.Tensor,
) -> tuple[HeartLocation, CanonicalPrediction | None]:
    """The localiser's ``location`` re-centred on GmmSeg's segmentation of the first frame's slices ``native``.

    Returns the location and, when its crop was the last one segmented, that pass's prediction
    (the first frame's result, which need not be computed again); None when the last re-centring
    has not been segmented yet.
    """
    for _ in range(MAX_RECENTRINGS):
        crop = location.canonical_crop(spacing[0], spacing[1], *native.shape[-2:])
        prediction = model(network_input(model, native, crop, location), prior)
        moved = recentred(location, most_probable_class(prediction.posterior).cpu().numpy(), crop, spacing[2])
        if moved is None:
            return location, prediction
        location = moved
    return location, None


@torch.no_grad()
def locate_and_centre(
    model: GmmSegModel,
    slices: np.ndarray,
    spacing: tuple[float, float, float],
    device: torch.device | str = "cpu",
    source: str = "input",
    clock: StageClock | None = None,
) -> tuple[HeartLocation, CanonicalPrediction | None]:
    """Where :func:`segment` puts the canonical crop of a stack whose first frame is ``slices`` (Z, Y, X).

    The localiser and handedness net place it (:func:`~GmmSegLib.inference.handedness.locate_and_orient`), then it is
    re-centred on GmmSeg's segmentation (:func:`centred_location`, whose prediction comes along). ``clock`` gets
    the seconds of the ``locate``, ``orient`` and ``centre`` stages.
    """
    clock = StageClock() if clock is None else clock
    location = locate_and_orient(model, slices, spacing, device, source, clock)
    with clock.stage("centre"):
        native = torch.from_numpy(np.ascontiguousarray(slices)).to(device)
        prior = prior_at(model.atlas, location.positions).to(device)
        return centred_location(model, native, location, spacing, prior)


@dataclass
class SegmentationResult:
    """The result on the native grid for every frame: arrays are (T, Z, Y, X), probabilities (T, K, Z, Y, X)."""

    labels: np.ndarray
    probabilities: np.ndarray
    uncertainty: dict[str, np.ndarray]
    prior: np.ndarray  # registered prior probabilities (T, K, Z, Y, X)
    phi: list[Phi]  # per frame, where the registration (or the clinician) placed the atlas prior
    location: HeartLocation
    crop: CanonicalCrop
    slice_uncertainty: np.ndarray  # (T, Z): mean total uncertainty of each slice's heart, 0..1 (review score)
    volumes_ml: list[dict[str, float]]  # per frame
    timings: dict[str, float] = field(default_factory=dict)
    blank_slices: list[int] = field(default_factory=list)  # slices with no image, labelled background
    # per checked frame, the labels (Z, Y, X) of a second pass with the crop moved by one canonical pixel, which
    # the result's unreliable share compares them with (GmmSegLib.clinical.quality)
    second_pass_labels: dict[int, np.ndarray] = field(default_factory=dict)
    # the end-systolic cavity correction's LV log-offset the frames past end-diastole were decided with (0: none)
    end_systolic_lv_offset: float = 0.0


@torch.no_grad()
def segment(
    image: CardiacImage,
    model: GmmSegModel,
    device: torch.device | str = "cpu",
    phi: Phi | Sequence[Phi] | None = None,
    location: HeartLocation | None = None,
    readout: Readout = GMMSEG_READOUT,
    on_frame: Callable[[int, int], None] | None = None,
    end_systolic_lv_offset: float = 0.0,
) -> SegmentationResult:
    """Segment every frame of ``image``; ``phi`` (one for every frame, or one per frame) overrides the atlas
    registration, ``location``
    (an earlier run's) the localisation; ``readout`` is what is taken from the prediction (benchmarks compare
    other readouts with the product's); ``on_frame(done, frames)`` is called after each frame (progress).
    ``end_systolic_lv_offset`` is the model's end-systolic cavity correction of a cine's frames
    (GmmSegLib.inference.end_systole; 0: none)."""
    blank = check_short_axis(image)
    if blank.any():
        return _around_blank_slices(
            image, blank, model, device, phi, location, readout, on_frame, end_systolic_lv_offset
        )
    device = torch.device(device)
    model = model.to(device).eval()
    clock = StageClock()
    start = time.perf_counter()
    sx, sy, sz = image.spacing_xyz
    frames, slices, rows, columns = image.frames.shape
    first_prediction = None
    if location is None:
        location, first_prediction = locate_and_centre(
            model, image.frames[0], (sx, sy, sz), device, image.source, clock
        )
    crop = location.canonical_crop(sx, sy, rows, columns)
    prior = prior_at(model.atlas, location.positions).to(device)
    phi_override = _phi_per_frame(phi, frames)

    labels = np.empty((frames, slices, rows, columns), np.uint8)
    probabilities = np.empty((frames, NUM_CLASSES, slices, rows, columns), np.float32)
    registered = np.empty_like(probabilities)
    uncertainty = {kind: np.empty((frames, slices, rows, columns), np.float32) for kind in UNCERTAINTY_KINDS}
    phis: list[Phi] = []
    for t in range(frames):
        override = None if phi_override is None else phi_override[t]
        if t == 0 and first_prediction is not None and override is None:
            prediction = first_prediction  # the centring's last pass segmented this frame in this crop already
        else:
            with clock.stage("predict"):
                native = torch.from_numpy(np.ascontiguousarray(image.frames[t])).to(device)
                prediction = model(network_input(model, native, crop, location), prior, override)
        with clock.stage("native_grid"):
            probabilities[t], labels[t], maps, registered[t] = _on_native_grid(model, prediction, crop, readout)
            for kind in UNCERTAINTY_KINDS:
                uncertainty[kind][t] = maps[kind]
            phis.append(Phi.from_array(prediction.phi[0].cpu().numpy()))
        if on_frame is not None:
            on_frame(t + 1, frames)
    with clock.stage("summarise"):
        volumes = [structure_volumes_ml(labels[t], (sx, sy, sz)) for t in range(frames)]
        corrections = frame_corrections([volume["LV"] for volume in volumes], end_systolic_lv_offset)
        for t, offsets in corrections.items():
            # the model's probabilities reweighted at this frame's phase, and the labels decided on them
            frame = corrected_probabilities(torch.from_numpy(probabilities[t]), offsets, dim=0)
            probabilities[t] = frame.numpy()
            labels[t] = decided_labels(frame.permute(1, 0, 2, 3))
            volumes[t] = structure_volumes_ml(labels[t], (sx, sy, sz))
        scores = slice_mean_uncertainty(uncertainty["total"], labels)
    with clock.stage("check"):
        second_passes = {
            t: _second_pass_labels(model, image.frames[t], crop, location, prior, phis[t], readout, corrections.get(t))
            for t in checked_frames([volume["LV"] for volume in volumes])
        }
    return SegmentationResult(
        labels,
        probabilities,
        uncertainty,
        registered,
        phis,
        location,
        crop,
        scores,
        volumes,
        clock.timings(time.perf_counter() - start),
        second_pass_labels=second_passes,
        end_systolic_lv_offset=float(end_systolic_lv_offset) if corrections else 0.0,
    )


def _second_pass_labels(
    model: GmmSegModel,
    slices: np.ndarray,
    crop: CanonicalCrop,
    location: HeartLocation,
    prior: torch.Tensor,
    phi: Phi,
    readout: Readout,
    phase_offsets: torch.Tensor | None,
) -> np.ndarray:
    """The labels (Z, Y, X) of one frame's native ``slices`` segmented again with the crop moved by one canonical
    pixel along both native axes, with the same prior, ``phi`` and the frame's end-systolic ``phase_offsets``: only
    the view of the image changes."""
    moved = replace(
        crop,
        centre_x=crop.centre_x + crop.spacing / crop.spacing_x,
        centre_y=crop.centre_y + crop.spacing / crop.spacing_y,
    )
    native = torch.from_numpy(np.ascontiguousarray(slices)).to(prior.device)
    prediction = model(
        network_input(model, native, moved, location), prior, torch.from_numpy(phi.array()).to(prior.device)
    )
    probabilities = _corrected(
        model, to_native(readout.probabilities(prediction), moved, BACKGROUND_ONLY).cpu(), readout
    )
    if phase_offsets is not None:
        probabilities = corrected_probabilities(probabilities, phase_offsets)
    return decided_labels(probabilities)


def _corrected(model: GmmSegModel, probabilities: torch.Tensor, readout: Readout) -> torch.Tensor:
    """Native-grid class probabilities (Z, K, Y, X) after the model's class-prior correction, if ``readout`` has it."""
    if not readout.class_prior_correction:
        return probabilities
    return corrected_probabilities(probabilities, model.class_log_offsets.cpu())


def decided_labels(probabilities: torch.Tensor) -> np.ndarray:
    """The labels (Z, Y, X) of native-grid class probabilities (Z, K, Y, X): the most probable class, each cavity
    kept to its largest piece (GmmSegLib.inference.cavity_pieces)."""
    return without_stray_cavity_pieces(most_probable_class(probabilities).numpy().astype(np.uint8))


def _on_native_grid(
    model: GmmSegModel, prediction: CanonicalPrediction, crop: CanonicalCrop, readout: Readout
) -> tuple:
    """One frame's prediction on the canonical crops taken back to the native grid: the class probabilities
    (K, Z, Y, X), the labels (Z, Y, X), the uncertainty maps by kind, the registered prior (K, Z, Y, X).
    Everything is resampled in one pass; outside the crop is certain background."""
    maps = dirichlet_uncertainty(readout.dirichlet(prediction))
    stacked = torch.cat(
        [readout.probabilities(prediction)]
        + [maps[k][:, None] for k in UNCERTAINTY_KINDS]
        + [prediction.registered_prior],
        dim=1,
    )
    outside = torch.cat([BACKGROUND_ONLY, torch.zeros(len(UNCERTAINTY_KINDS)), BACKGROUND_ONLY])
    back = to_native(stacked, crop, outside).cpu()
    probabilities = _corrected(model, back[:, :NUM_CLASSES], readout)
    native_maps = {
        kind: back[:, NUM_CLASSES + index].clamp(0, 1).numpy() for index, kind in enumerate(UNCERTAINTY_KINDS)
    }
    return (
        probabilities.permute(1, 0, 2, 3).numpy(),
        decided_labels(probabilities),
        native_maps,
        back[:, NUM_CLASSES + len(UNCERTAINTY_KINDS) :].permute(1, 0, 2, 3).numpy(),
    )


def _around_blank_slices(
    image: CardiacImage,
    blank: np.ndarray,
    model: GmmSegModel,
    device: torch.device | str,
    phi: Phi | Sequence[Phi] | None,
    location: HeartLocation | None,
    readout: Readout,
    on_frame: Callable[[int, int], None] | None,
    end_systolic_lv_offset: float,
) -> SegmentationResult:
    """:func:`segment` of the slices that hold an image; the ``blank`` ones (Z,) come back as certain background.

    The networks never see a blank slice: it would be drawn a heart, and it would move the heart's centre,
    the slice positions and phi of the real slices. A given ``location`` covers every slice, as returned.
    """
    keep = ~blank
    slices = blank.size
    if location is not None:
        location = replace(location, positions=location.positions[keep])
    inner = segment(image.kept_slices(keep), model, device, phi, location, readout, on_frame, end_systolic_lv_offset)

    def spread(values: np.ndarray, slice_axis: int, fill: np.ndarray | float) -> np.ndarray:
        shape = list(values.shape)
        shape[slice_axis] = slices
        full = np.empty(shape, values.dtype)
        full[...] = fill
        full[(slice(None),) * slice_axis + (keep,)] = values
        return full

    background = BACKGROUND_ONLY.numpy().reshape(1, -1, 1, 1, 1)
    index = np.arange(slices)
    positions = np.interp(index, index[keep], inner.location.positions)  # blank slices: between their neighbours
    return replace(
        inner,
        labels=spread(inner.labels, 1, 0),
        probabilities=spread(inner.probabilities, 2, background),
        uncertainty={kind: spread(maps, 1, 0.0) for kind, maps in inner.uncertainty.items()},
        prior=spread(inner.prior, 2, background),
        location=replace(inner.location, positions=positions),
        slice_uncertainty=spread(inner.slice_uncertainty, 1, 0.0),
        second_pass_labels={t: spread(second[None], 1, 0)[0] for t, second in inner.second_pass_labels.items()},
        blank_slices=[int(i) for i in np.flatnonzero(blank)],
    )


def _phi_per_frame(phi: Phi | Sequence[Phi] | None, frames: int) -> torch.Tensor | None:
    """A given phi as the networks take it: (T, 4) numbers in :meth:`Phi.array`'s layout, one row per frame."""
    if phi is None:
        return None
    per_frame = [phi] * frames if isinstance(phi, Phi) else list(phi)
    if len(per_frame) != frames:
        raise GmmSegError(f"phi was given for {len(per_frame)} frames; the image has {frames}")
    numbers = torch.from_numpy(np.stack([p.array() for p in per_frame]))
    if not torch.isfinite(numbers).all():
        raise GmmSegError("phi contains NaN or infinite values")
    return numbers
