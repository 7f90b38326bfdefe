"""Write a bundled model's headline figures into its card, measured as served.

usage: python scripts/served_figures.py MODEL_DIR --art-dev PATH --human-paintings PATH

Scores art-dev's share of the model's recorded test split and all of human-paintings (never
trained on) through Predictor and the card's decision rule, and stores the verdict mix of each
under ``metrics.by_dataset`` and ``metrics.human_paintings``. The README quotes these.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from artifact.data.layouts import load_dataset
from artifact.data.samples import Sample
from artifact.inference.engine import Predictor
from artifact.training.served import served_metrics, served_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--art-dev", type=Path, required=True)
    parser.add_argument("--human-paintings", type=Path, required=True)
    args = parser.parse_args()
    predictor = Predictor(args.model)
    rule = predictor.card.rule
    with (args.model / "report" / "test_split.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["dataset"] == "art-dev"]
    art_dev = [Sample(str(args.art_dev / r["path"]), r["label"], source=r["source"]) for r in rows]
    paintings = load_dataset(args.human_paintings).samples
    figures = {}
    for name, samples in (("art-dev", art_dev), ("human-paintings", paintings)):
        kept, scores = served_scores(predictor, samples, name)
        figures[name] = served_metrics(kept, scores, rule)
    card_path = args.model / "model.json"
    card = json.loads(card_path.read_text())
    art = figures["art-dev"]
    card["metrics"]["by_dataset"] = {
        "art-dev": {
            "test_images": art["images"],
            "roc_auc": art.get("roc_auc"),
            "served": art["served"],
            "per_source": art["per_source"],
        },  # fmt: skip
    }
    card["metrics"]["human_paintings"] = {
        **figures["human-paintings"]["served"]["human"],
        "note": "2,000 famous paintings (../shared/data/human-paintings), never trained on",
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    (args.model / "report" / "served_figures.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({k: v["served"] for k, v in figures.items()}, indent=1))


if __name__ == "__main__":
    main()
