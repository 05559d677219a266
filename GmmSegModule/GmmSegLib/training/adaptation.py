"""``gmmseg adapt``: label-free adaptation of a model to a new site's images by the negative ELBO.

Runs the trainer's ``adapt`` stage from the shipped (or given) model on the user's unlabelled images,
anchored by the starting model's own predictions, and writes the new checkpoint with a sidecar
``<checkpoint>.json`` (sha256, base model, the images adapted on and those left out as unusable, settings) that
``--model`` later verifies.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..core.errors import GmmSegError
from ..io.images import AtomicOutputs, check_output_folder
from ..model.registry import default_entry, entry_for_path, sha256_of, sidecar_path
from .config import TrainConfig
from .state import discard_training_state
from .trainer import Trainer


def adapt(images: list[str], out: Path, model: str | None = None, epochs: int = 5, steps_per_epoch: int = 40,
          device: str = "auto", work: str | None = None) -> int:
    """Adapt and write ``out`` plus its description; returns the trainer's exit code."""
    base = default_entry() if not model else entry_for_path(model)
    if base.sha256 is not None and sha256_of(base.path) != base.sha256:
        raise GmmSegError(f"{base.path}: sha256 does not match its registry entry; the file was modified")
    if out.suffix != ".pt":
        raise GmmSegError(f"{out}: the adapted model must be a .pt file")
    check_output_folder(out.parent)  # before the training, not after it
    config = TrainConfig(out=str(out), work=work or str(out.with_suffix(".work")), adapt_images=list(images),
                         init_model=str(base.path), stages=["adapt"], adapt_epochs=epochs,
                         steps_per_epoch=steps_per_epoch, device=device)
    trainer = Trainer(config)
    code = trainer.run()
    if code != 0:
        return code
    left_out = set(trainer.data.left_out)
    record = {"id": out.stem, "sha256": sha256_of(out), "file": out.name, "base_model": base.id,
              "base_sha256": base.sha256,
              "adapted_on": [str(Path(p).resolve()) for p in images if str(Path(p)) not in left_out],
              "left_out": [str(Path(p).resolve()) for p in images if str(Path(p)) in left_out],
              "epochs": epochs, "steps_per_epoch": steps_per_epoch,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["gmmseg", "adapt", *sys.argv[2:]])}
    sidecar = sidecar_path(out)
    with AtomicOutputs(sidecar.parent) as outputs:
        outputs.add_bytes(sidecar.name, json.dumps(record, indent=2).encode())
    discard_training_state(config.work)  # the model is complete; a stopped run keeps its state to resume
    return 0
