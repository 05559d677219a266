"""The resumable training state: the model, the stages done and the optimiser in one file, saved atomically.

``<work>/state.pt`` is written after every epoch (``torch.save`` to a temporary name, then renamed), so a killed
run resumes from its last epoch; a run stopped by SIGTERM keeps it too. An adaptation also keeps the frozen model
it is anchored to (``adapt_teacher.pt``), so that a resumed run is anchored to the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model.bundle import GmmSegModel, atomic_torch_save, checkpoint_payload, load_checkpoint

STATE_FILE = "state.pt"  # in the work folder: the resumable training state
TEACHER_FILE = "adapt_teacher.pt"  # in the work folder: the frozen model an adaptation is anchored to


@dataclass
class SavedState:
    """Where a run stands: the stages done, the epoch reached in the next one, and its optimiser and learning-rate
    schedule (None between stages; a state saved before schedules were kept has no ``scheduler``)."""

    config: dict
    completed: list[str]
    epoch: int = 0
    optimizer: dict | None = None
    scheduler: dict | None = None


def save_state(path: Path, model: GmmSegModel, saved: SavedState) -> None:
    metadata = {
        "config": saved.config,
        "completed": saved.completed,
        "epoch": saved.epoch,
        "optimizer": saved.optimizer,
        "scheduler": saved.scheduler,
    }
    atomic_torch_save(checkpoint_payload(model, metadata), path)


def load_state(path: Path) -> tuple[dict, SavedState]:
    """The model weights and the run's standing from a state file."""
    checkpoint = load_checkpoint(path)
    metadata = checkpoint["metadata"]
    return checkpoint["state"], SavedState(
        metadata.get("config", {}),
        list(metadata["completed"]),
        int(metadata["epoch"]),
        metadata.get("optimizer"),
        metadata.get("scheduler"),
    )


def discard_training_state(work: str | Path) -> None:
    """Remove a finished run's resumable state (what the trainer wrote in ``work``, and the folder if that
    leaves it empty), for callers whose product is the model alone (``gmmseg adapt``)."""
    work = Path(work)
    for name in (STATE_FILE, TEACHER_FILE):
        (work / name).unlink(missing_ok=True)
    if work.is_dir() and not any(work.iterdir()):
        work.rmdir()
