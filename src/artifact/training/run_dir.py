"""The self-describing run directory: every file a run writes, by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def keras_model(self) -> Path:
        return self.root / "model.keras"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / "best.keras"

    @property
    def head_weights(self) -> Path:
        """A backbone run's trained head, kept until the run is complete (for --resume)."""
        return self.root / "checkpoints" / "head.weights.h5"

    @property
    def initial_head_weights(self) -> Path:
        """A backbone run's untrained head (every leave-one-source-out fold starts from it)."""
        return self.root / "checkpoints" / "head_initial.weights.h5"

    @property
    def tflite(self) -> Path:
        return self.root / "model.tflite"

    @property
    def card(self) -> Path:
        return self.root / "model.json"

    @property
    def skipped(self) -> Path:
        return self.root / "skipped.csv"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def leave_one_source_out(self) -> Path:
        return self.root / "leave_one_source_out.json"

    def fold_predictions(self, source: str) -> Path:
        """One leave-one-source-out fold's scores: the held-out source's images and the fold's
        validation images (what its decision rule was fitted on), so a fold's errors can be
        looked at and its table recomputed under another rule without training again."""
        safe = source.replace("/", "_").replace("\\", "_")
        return self.root / "leave_one_source_out" / f"{safe}.csv"

    @property
    def metrics(self) -> Path:
        return self.report / "metrics.json"

    @property
    def progress(self) -> Path:
        """What a stopped run had finished (:mod:`artifact.training.progress`)."""
        return self.root / "progress.json"

    def backup(self, stage: str) -> Path:
        """Keras' per-epoch backup (model, optimizer, epoch) of one training stage."""
        return self.root / "backup" / stage

    def split(self, name: str) -> Path:
        return self.root / "splits" / f"{name}.csv"

    def read_config(self) -> dict[str, Any]:
        if not self.config.is_file():
            raise FileNotFoundError(f"{self.root} is not a training run (no config.json)")
        return json.loads(self.config.read_text())


@contextmanager
def atomic_write(path: Path) -> Iterator[TextIO]:
    """A text file written beside ``path`` and renamed onto it once complete, so a crash or
    a stop never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as handle:
        yield handle
    tmp.replace(path)


def write_json(path: Path, payload: Any) -> None:
    with atomic_write(path) as handle:
        handle.write(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
