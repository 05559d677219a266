"""``gmmseg adapt``: label-free adaptation of a model to a new site's images, handed over only when it helps.

Runs the trainer's ``adapt`` stage from the shipped (or given) model on the user's unlabelled images, anchored by
the starting model's own predictions, then lets a label-free check on images it did not adapt on
(:mod:`GmmSegLib.training.site_check`) decide which model the site gets: the adapted one when it reads the site's
images better, else the starting model, said in one warning line. Either way ``<checkpoint>`` and its sidecar
``<checkpoint>.json`` (sha256, base model, the images adapted on, checked on and left out as unusable, settings,
the check and its decision) are written together;
``--model`` later verifies them.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..core.device import resolve_device
from ..core.errors import GmmSegError
from ..io.images import AtomicOutputs, CardiacImage, check_output_folder, read_cardiac_image
from ..model.bundle import load_model
from ..model.registry import ModelEntry, default_entry, entry_for_path, sha256_of, sidecar_path
from .config import ADAPT_EPOCHS, ADAPT_STEPS_PER_EPOCH, TrainConfig
from .site_check import SiteCheck, check_adaptation, held_out
from .state import discard_training_state
from .trainer import Trainer

LOGGER = logging.getLogger("gmmseg")
CANDIDATE_FILE = "adapted_candidate.pt"  # in the work folder until the check has decided


def adapt(
    images: list[str],
    out: Path,
    model: str | None = None,
    epochs: int = ADAPT_EPOCHS,
    steps_per_epoch: int = ADAPT_STEPS_PER_EPOCH,
    device: str = "auto",
    work: str | None = None,
    candidate_copy: Path | None = None,
) -> int:
    """Adapt, check, and write ``out`` plus its description; returns the trainer's exit code.

    ``candidate_copy`` (benchmarks only) also keeps the adapted model there, whichever model the check chose.
    """
    base = default_entry() if not model else entry_for_path(model)
    if base.sha256 is not None and sha256_of(base.path) != base.sha256:
        raise GmmSegError(f"{base.path}: sha256 does not match its registry entry; the file was modified")
    if out.suffix != ".pt":
        raise GmmSegError(f"{out}: the adapted model must be a .pt file")
    check_output_folder(out.parent)  # before the training, not after it
    adapt_on, check_on = held_out(list(images))
    work = work or str(out.with_suffix(".work"))
    candidate = Path(work) / CANDIDATE_FILE
    config = TrainConfig(
        out=str(candidate),
        work=work,
        adapt_images=adapt_on,
        init_model=str(base.path),
        stages=["adapt"],
        adapt_epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        device=device,
    )
    trainer = Trainer(config)
    code = trainer.run()
    if code != 0:
        return code
    if candidate_copy is not None:
        shutil.copyfile(candidate, candidate_copy)
    print(json.dumps({"event": "check", "images": len(check_on), "measure": "view agreement"}), flush=True)
    check, unreadable = _check(base, candidate, check_on, device)
    print(json.dumps({"event": "checked", **check.record(), "adapted_is_better": check.adapted_is_better}), flush=True)
    chosen = candidate if check.adapted_is_better else base.path
    if not check.adapted_is_better:
        LOGGER.warning(
            f"the adapted model does not read these images better than {base.id} (view agreement "
            f"{check.adapted:.3f} against {check.starting:.3f} on {check.images} image(s) it did not "
            f"adapt on): {out.name} is {base.id} unchanged"
        )
    left_out = set(trainer.data.left_out) | set(unreadable)
    record = {
        "id": out.stem,
        "sha256": sha256_of(chosen),
        "file": out.name,
        "click_refiner": trainer.model.refiner is not None,
        "base_model": base.id,
        # the starting model's: an adapted model's probabilities have not been calibrated again (no labels)
        "review_calibration": base.record.get("review_calibration"),
        "end_systolic_correction": base.record.get("end_systolic_correction"),  # as the review's, the start's
        "base_sha256": base.sha256,
        "kept_starting_model": not check.adapted_is_better,
        "criterion": check.record(),
        "adapted_on": [str(Path(p).resolve()) for p in adapt_on if str(Path(p)) not in left_out],
        "checked_on": [str(Path(p).resolve()) for p in check_on if str(Path(p)) not in left_out],
        "left_out": [str(Path(p).resolve()) for p in images if str(Path(p)) in left_out],
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["gmmseg", "adapt", *sys.argv[2:]]),
    }
    with AtomicOutputs(out.parent) as outputs:
        outputs.add_bytes(out.name, chosen.read_bytes())
        outputs.add_bytes(sidecar_path(out).name, json.dumps(record, indent=2).encode())
    candidate.unlink()
    discard_training_state(config.work)  # the model is complete; a stopped run keeps its state to resume
    return 0


def _check(base: ModelEntry, candidate: Path, paths: list[str], device: str) -> tuple[SiteCheck, list[str]]:
    """The site check of the candidate against the starting model on ``paths``, and those that could not be read
    (left out, each named in a warning)."""
    starting, _ = load_model(base.path, base.sha256)
    adapted, _ = load_model(candidate)
    images: list[CardiacImage] = []
    unreadable = []
    for path in paths:
        try:
            images.append(read_cardiac_image(path))
        except GmmSegError as error:
            LOGGER.warning(f"{error}; left out of the check of the adaptation")
            unreadable.append(str(Path(path)))
    if not images:
        raise GmmSegError("none of the images kept for checking the adaptation could be read")
    return check_adaptation(starting, adapted, images, resolve_device(device)), unreadable
