"""The GmmSeg model bundle and its checkpoint file.

One checkpoint holds every network (localiser, feature U-Net, x/z/o heads, registration net), the atlas
and a small JSON-able config, saved with ``torch.save`` and loaded with ``weights_only=True`` after its
sha256 was checked (when an expected hash is known). Checkpoints are written atomically: a killed
process never leaves a half-written file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..core.digest import sha256_of
from ..core.errors import ModelError
from ..core.labels import NUM_CLASSES
from ..io.images import ordinary_file_mode, signals_held
from .atlas import POSITION_BINS, PRIOR_FLOOR, warp_prior
from .canonical_crop import CANONICAL_SIZE
from .click_refiner import ClickRefiner
from .elbo import expected_log_weights
from .networks import FEATURE_BASE, FeatureUNet, GmmHeads, HandednessNet, Localiser, RegistrationNet
from .plans import current_plans, plan_differences

CHECKPOINT_FORMAT = "gmmseg-checkpoint-1"


@dataclass
class CanonicalPrediction:
    """The networks' prediction for a batch of canonical slices (B, ., N, N)."""

    features: torch.Tensor
    responsibilities: torch.Tensor  # pi from z_net
    registered_prior: torch.Tensor  # T_phi(p~)
    concentrations: torch.Tensor  # d_hat from o_net
    posterior: torch.Tensor  # pi updated with the Dirichlet
    phi: torch.Tensor  # (B, 4)


def volume_phi(phi_per_slice: torch.Tensor, responsibilities: torch.Tensor) -> torch.Tensor:
    """One phi for a whole volume: the median over slices that contain heart (all slices if none do)."""
    heart_mass = 1.0 - responsibilities[:, 0].mean(dim=(-2, -1))
    with_heart = heart_mass > 0.02
    chosen = phi_per_slice[with_heart] if with_heart.any() else phi_per_slice
    return chosen.median(dim=0).values


class GmmSegModel(nn.Module):
    """All networks of GmmSeg plus the atlas (a buffer, so it moves with ``.to(device)``).

    ``handedness`` adds the net that recognises mirrored stacks; checkpoints written before it existed
    load without it (their config lacks the key), and inference then takes every stack as stored.
    ``class_log_offsets`` (K,) is the class-prior correction of the label posterior (GmmSegLib.model.class_prior),
    zero until the trainer's calibration stage sets it; checkpoints from before it load with zeros.
    ``context_slices`` neighbours on each side of a slice are the feature U-Net's further input channels
    (0: one slice at a time, as every model before it, whose config lacks the key).
    ``refiner`` adds the click refiner (GmmSegLib.model.click_refiner) that corrects labels from a clinician's
    clicks; models without it (their config lacks the key) refine clicks by the geodesic path of
    GmmSegLib.clinical.refinement.
    """

    def __init__(
        self, feature_base: int = FEATURE_BASE, handedness: bool = True, context_slices: int = 0, refiner: bool = False
    ):
        super().__init__()
        self.config = {
            "feature_base": feature_base,
            "handedness": handedness,
            "context_slices": context_slices,
            "refiner": refiner,
        }
        self.context_slices = context_slices
        self.localiser = Localiser()
        self.features = FeatureUNet(base=feature_base, context=context_slices)
        self.heads = GmmHeads()
        self.registration = RegistrationNet()
        self.handedness = HandednessNet() if handedness else None
        self.refiner = ClickRefiner() if refiner else None
        uniform = torch.full((POSITION_BINS, NUM_CLASSES, CANONICAL_SIZE, CANONICAL_SIZE), 1.0 / NUM_CLASSES)
        self.register_buffer("atlas", uniform.clamp_min(PRIOR_FLOOR))
        self.register_buffer("class_log_offsets", torch.zeros(NUM_CLASSES))

    def prepared_for_inference(self, device: torch.device | str) -> GmmSegModel:
        """This model on ``device`` in eval mode, for segmenting only; returns itself.

        On the CPU its weights are laid out channels-last, the layout oneDNN's convolutions run fastest in here:
        a volume's network passes take about a sixth less time, outputs equal to float rounding (BENCHMARKS.md,
        "Speed and memory", counts the voxels that change). A model that is trained afterwards is left as it was.
        """
        device = torch.device(device)
        if device.type == "cpu":
            return self.to(device, memory_format=torch.channels_last).eval()
        return self.to(device).eval()

    def forward(
        self, images: torch.Tensor, prior: torch.Tensor, phi: torch.Tensor | None = None, per_volume_phi: bool = True
    ) -> CanonicalPrediction:
        """GmmSeg on canonical slices (B, 1 + 2 context, N, N) of one volume with atlas priors (B, K, N, N).

        The feature U-Net's features give pi (z_net); the registration net places the prior (phi, without
        gradients: it is updated outside back-propagation), pooled to one phi per volume when ``per_volume_phi``,
        unless ``phi`` (4,) or (B, 4) is given; o_net gives d_hat from the features and the registered prior; the
        posterior is pi updated with the Dirichlet's expected log weights.
        """
        features = self.features(images)
        responsibilities = self.responsibilities(features)
        if phi is None:
            phi = self.place_prior(responsibilities, prior)
            if per_volume_phi:
                phi = volume_phi(phi, responsibilities)
        phi = phi.to(images.device, torch.float32)
        if phi.dim() == 1:
            phi = phi.expand(images.shape[0], -1)
        registered = warp_prior(prior, phi)
        concentrations = self.heads.concentrations(features, registered)
        log_posterior = torch.log(responsibilities.clamp_min(1e-8)) + expected_log_weights(concentrations)
        return CanonicalPrediction(
            features, responsibilities, registered, concentrations, torch.softmax(log_posterior, dim=1), phi
        )

    def responsibilities(self, features: torch.Tensor) -> torch.Tensor:
        """pi: z_net's class responsibilities (softmax over the classes) of the feature U-Net's ``features``."""
        return torch.softmax(self.heads.responsibilities_logits(features), dim=1)

    def place_prior(self, responsibilities: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """phi per slice from the registration net, without gradients."""
        with torch.no_grad():
            return self.registration(responsibilities.detach(), prior)

    def load_weights(self, state: dict[str, torch.Tensor], optional_prefixes: tuple[str, ...] = ()) -> None:
        """Load ``state``; besides ``class_log_offsets``, only keys under ``optional_prefixes`` may be missing.

        Raises ModelError when the weights do not fit this version of GmmSeg.
        """
        try:
            missing, unexpected = self.load_state_dict(state, strict=False)
        except RuntimeError:  # a tensor of the wrong shape
            raise ModelError("the weights do not fit this version of GmmSeg") from None
        optional = ("class_log_offsets", *optional_prefixes)
        if unexpected or any(not key.startswith(optional) for key in missing):
            raise ModelError("the weights do not fit this version of GmmSeg")


def atomic_torch_save(payload: dict, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the target folder, fsync, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = None
    try:
        with signals_held():  # a stop right after mkstemp would otherwise leave the hidden file behind
            descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.chmod(temporary, ordinary_file_mode())
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise


def checkpoint_payload(model: GmmSegModel, metadata: dict | None = None) -> dict:
    """What a checkpoint file holds: format, config, weights (CPU, torch's default layout), the plans it was made
    with (GmmSegLib.model.plans) and ``metadata``."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "config": model.config,
        "state": state,
        "plans": current_plans(),
        "metadata": metadata or {},
    }


def save_model(model: GmmSegModel, path: str | os.PathLike, metadata: dict | None = None) -> str:
    """Write a model checkpoint atomically and return its sha256."""
    atomic_torch_save(checkpoint_payload(model, metadata), path)
    return sha256_of(path)


def load_checkpoint(path: str | os.PathLike, expected_sha256: str | None = None) -> dict:
    """Load a checkpoint dict safely: hash check first, then ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise ModelError(
                f"{path}: sha256 {actual[:12]}... does not match the registry's "
                f"{expected_sha256[:12]}...; the file is corrupt or was modified"
            )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or non-torch files
        raise ModelError(f"{path}: not a readable GmmSeg model ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path}: not a GmmSeg model checkpoint")
    differences = plan_differences(payload.get("plans") or current_plans())
    if differences:
        raise ModelError(
            f"{path}: made with other settings than this version of GmmSeg reads models with: "
            f"{'; '.join(differences)}; use the GmmSeg release the model was made with"
        )
    return payload


def load_model(path: str | os.PathLike, expected_sha256: str | None = None) -> tuple[GmmSegModel, dict]:
    """A ready model (eval mode, CPU) and the checkpoint's metadata."""
    payload = load_checkpoint(path, expected_sha256)
    try:
        model = GmmSegModel(**{"handedness": False, **payload["config"]})
    except TypeError:
        raise ModelError(f"{path}: the model configuration does not fit this version of GmmSeg") from None
    try:
        model.load_weights(payload["state"])
    except ModelError as error:
        raise ModelError(f"{path}: {error}") from None
    model.eval()
    return model, payload.get("metadata", {})
