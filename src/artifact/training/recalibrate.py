"""``artifact calibrate``: refit an exported model's decision rule on its own validation split.

For a model whose card predates the decision rule (``card_format`` 1), or whose cut points
should follow other guarantees. The validation and test splits are planned again from the
card's training settings over the same datasets; the reconstructed test split must equal the
one the model's report recorded, so no image the model trained on can leak into either.
Scores come from the engine a user runs (LiteRT through :class:`Predictor`), so the card's
figures are what is served.
"""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from artifact.data.sources import load_datasets
from artifact.data.tasks import usable_samples
from artifact.errors import UserFacingError
from artifact.inference.card import CARD_FORMAT
from artifact.inference.engine import Predictor, resolve_model_dir
from artifact.training.calibration import fit_decision_rule, require_servable
from artifact.training.config import TrainConfig
from artifact.training.served import served_metrics, served_scores

log = logging.getLogger(__name__)


class SplitMismatchError(UserFacingError, ValueError):
    """The datasets given do not reproduce the model's recorded test split."""


def recalibrate_model(
    model_dir: str | Path,
    data: list[str],
    *,
    max_false_ai: float | None = None,
    max_missed_ai: float | None = None,
    false_ai_scope: str | None = None,
) -> dict:
    """Refit the decision rule, re-measure the test split as served, rewrite ``model.json``.

    Settings left None keep the card's training settings. Returns the new card.
    """
    folder = resolve_model_dir(model_dir)
    card = json.loads((folder / "model.json").read_text())
    training = dict(card["training"])
    overrides = {"data": list(data)}
    for key, value in (("max_false_ai", max_false_ai), ("max_missed_ai", max_missed_ai),
                       ("false_ai_scope", false_ai_scope)):  # fmt: skip
        if value is not None:
            overrides[key] = None if key == "max_false_ai" and value < 0 else value
    known = {k: v for k, v in training.items() if k in TrainConfig.model_fields}
    config = TrainConfig.model_validate({**known, **overrides})
    from artifact.training.train import plan_splits

    splits = plan_splits(load_datasets(config.data, config.layout), config)
    _require_recorded_test_split(folder, splits.test)
    val, _ = usable_samples(config.task, splits.val, splits.class_names)
    predictor = Predictor(folder)
    val, val_scores = served_scores(predictor, val, "validation")
    rule, guarantees = fit_decision_rule(
        [s.label != "human" for s in val],
        val_scores,
        max_false_ai=config.max_false_ai,
        max_missed_ai=config.max_missed_ai,
        sources=[s.source or s.generator for s in val],
        false_ai_scope=config.false_ai_scope,
    )
    require_servable(rule)
    test, test_scores = served_scores(predictor, splits.test, "test")
    served = served_metrics(test, test_scores, rule)
    card["card_format"] = CARD_FORMAT
    card["decision"] = rule.model_dump()
    card.pop("threshold", None)
    card.pop("uncertain_band", None)
    card["training"].update(max_false_ai=config.max_false_ai, max_missed_ai=config.max_missed_ai,
                            false_ai_scope=config.false_ai_scope)  # fmt: skip
    card["metrics"]["served_test"] = served
    card["metrics"]["calibration"] = {
        **guarantees["calibration"],
        "test_ece_before": served.get("ece_before"),
        "test_ece_after": served.get("ece_after"),
    }
    card["metrics"]["evaluated_on"] = "held-out test split of the training data"
    card["recalibrated"] = datetime.now(UTC).isoformat(timespec="seconds")
    (folder / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def _require_recorded_test_split(folder: Path, test) -> None:
    recorded = folder / "report" / "test_split.csv"
    if not recorded.is_file():
        log.warning("no recorded test split in %s: cannot check the datasets match", folder)
        return
    with recorded.open() as handle:
        expected = {row["path"] for row in csv.DictReader(handle)}
    # The report records paths below each dataset's folder: match on the path's tail.
    planned = {_recorded_form(Path(s.path), expected) for s in test}
    if planned != expected:
        missing = len(expected - planned)
        raise SplitMismatchError(
            f"these datasets do not reproduce the model's test split ({missing} of {len(expected)} "
            "recorded test images are not in it): give the datasets it was trained on, in order"
        )


def _recorded_form(path: Path, recorded: set[str]) -> str:
    """The tail of ``path`` that the recorded split names, else the whole path."""
    parts = path.parts
    for depth in range(1, min(len(parts), 6)):
        tail = "/".join(parts[-depth:])
        if tail in recorded:
            return tail
    return path.as_posix()
