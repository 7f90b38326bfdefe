"""What a training run has finished, so ``artifact train --resume RUN`` continues a stopped run.

A long CPU run (the bundled recipe: ~90 minutes) that dies starts over without it. Three kinds
of progress are kept, each at the grain the work comes in:

- every epoch of a Keras ``fit``: Keras' own ``BackupAndRestore`` (model, optimizer, epoch) in
  ``backup/<stage>/``, removed by Keras when the stage ends;
- the backbone's cached features and the trained head: files in ``cache/`` and ``checkpoints/``
  named in ``progress.json``;
- every leave-one-source-out fold: its entry in ``progress.json`` as soon as it is measured.

A resumed run re-plans its splits from its own config (the same seed) and refuses to go on if
they differ from the recorded ones, so no image changes side between the two halves of a run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from artifact.training.run_dir import RunDir


class RunProgress:
    def __init__(self, run: RunDir):
        self.path = run.progress
        self.state: dict = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def has(self, step: str) -> bool:
        return step in self.state.get("done", [])

    def mark(self, step: str) -> None:
        done = self.state.setdefault("done", [])
        if step not in done:
            done.append(step)
        self._write()

    def folds(self) -> dict[str, dict]:
        return dict(self.state.get("folds", {}))

    def record_fold(self, source: str, entry: dict) -> None:
        self.state.setdefault("folds", {})[source] = entry
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n")
        os.replace(tmp, self.path)


def backup_callback(run: RunDir | None, stage: str) -> list:
    """Keras' BackupAndRestore for one stage of the run (none without a run directory)."""
    if run is None:
        return []
    import keras

    return [keras.callbacks.BackupAndRestore(str(run.backup(stage)))]


def remove(path: Path) -> None:
    if path.exists():
        path.unlink()
