"""One line per run of the figures the detector issue asks for, and their spread over runs.

usage: python scripts/run_summary.py RUN [RUN ...] [--art-dev ../shared/data/art-dev]

Per run: art-dev test ROC-AUC and accuracy (at the calibrated threshold and at 0.5), the rest
of the test split's ROC-AUC, the share of human-paintings called AI (needs
``artifact evaluate --model RUN --data ../shared/data/human-paintings``), and the accuracy drop
after JPEG q50 and a 0.5x downscale; then mean and standard deviation over the runs.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score


def figures(run: Path, art_dev: Path) -> dict[str, float]:
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    threshold = metrics["calibration"]["threshold"]
    rows = list(csv.DictReader((run / "report" / "predictions.csv").open()))
    inside = np.array([Path(r["path"]).resolve().is_relative_to(art_dev) for r in rows])
    truth = np.array([r["true"] == "ai" for r in rows])
    prob_ai = 1.0 - np.array([float(r["p_human"]) for r in rows])
    out = {
        "art-dev AUC": roc_auc_score(truth[inside], prob_ai[inside]),
        "art-dev acc@thr": np.mean((prob_ai[inside] >= threshold) == truth[inside]),
        "art-dev acc@0.5": np.mean((prob_ai[inside] >= 0.5) == truth[inside]),
        "rest AUC": roc_auc_score(truth[~inside], prob_ai[~inside]) if (~inside).any() else np.nan,
        "threshold": threshold,
    }
    paintings = run / "report" / "on-human-paintings" / "metrics.json"
    out["paintings called AI"] = (
        json.loads(paintings.read_text())["human_called_ai_rate"] if paintings.is_file() else np.nan
    )
    robustness = metrics.get("robustness", {})
    if robustness.get("clean") is not None:
        out["q50 drop"] = robustness["clean"] - robustness["jpeg_q50"]
        out["0.5x drop"] = robustness["clean"] - robustness["downscale_0.5"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--art-dev", type=Path, default=Path("../shared/data/art-dev"))
    args = parser.parse_args()
    table = {run: figures(run, args.art_dev.resolve()) for run in args.runs}
    columns = list(next(iter(table.values())))
    print(f"{'run':28s}" + "".join(f"{c:>20s}" for c in columns))
    for run, row in table.items():
        print(f"{str(run)[-27:]:28s}" + "".join(f"{row.get(c, np.nan):20.4f}" for c in columns))
    if len(table) > 1:
        values = {c: np.array([row.get(c, np.nan) for row in table.values()]) for c in columns}
        print(f"{'mean':28s}" + "".join(f"{np.nanmean(v):20.4f}" for v in values.values()))
        print(f"{'std':28s}" + "".join(f"{np.nanstd(v):20.4f}" for v in values.values()))


if __name__ == "__main__":
    main()
