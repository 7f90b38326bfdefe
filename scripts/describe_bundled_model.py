"""Finish the bundled model's card: names, sources and commits, per-dataset figures, limits.

usage: python scripts/describe_bundled_model.py RUN DEST --art-dev PATH --wide PATH --human-paintings PATH

Called by scripts/bundle_default_model.sh after training. Writes DEST/model.json (machine paths
replaced by dataset names) and DEST/report/test_split.csv (the held-out images, relative to their
dataset, so tests can re-measure the bundled model on exactly the images it never saw).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

WIDE_SOURCES = Path(__file__).resolve().parents[2] / "shared" / "data" / "wide" / "sources"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--art-dev", type=Path, required=True)
    parser.add_argument("--wide", type=Path, required=True)
    parser.add_argument("--human-paintings", type=Path, required=True)
    args = parser.parse_args()
    roots = {"art-dev": args.art_dev.resolve(), "wide": args.wide.resolve()}
    del args.human_paintings  # measured by served_figures.py

    card_path = args.dest / "model.json"
    card = json.loads(card_path.read_text())
    metrics = json.loads((args.run / "report" / "metrics.json").read_text())
    card["name"] = "artifact-default"
    # Served figures per dataset (art-dev, human-paintings) come from scripts/served_figures.py,
    # through Predictor and the card's decision rule, after this script.

    dataset = card["training"]["dataset"]
    dataset["root"] = "../shared/data/art-dev + the wide set (research-only, not distributed)"
    dataset["roots"] = ["../shared/data/art-dev", "wide (built by ../shared/data/wide/build.py)"]
    card["training"]["data"] = dataset["roots"]
    card["training"]["backbone_weights"] = Path(card["training"]["backbone_weights"]).name
    card["training"]["sources"] = _sources()

    loso = metrics.get("leave_one_source_out", {}).get("sources", {})

    def misses(entry: dict) -> bool:
        if "called_ai" not in entry:
            return False
        return entry["called_ai"] > 0.03 if entry["label"] == "human" else entry["called_ai"] < 0.7

    missed = [f"{s}: {e['called_ai']:.0%} called AI" for s, e in loso.items() if misses(e)]
    card["limitations"] = [
        "MobileNetV2-1.0 (ImageNet, frozen up to block 13, top blocks fine-tuned) trained on art-dev's "
        "training split and ~1,500 images per source of the wide set; generators seen: DALL-E, "
        "DreamStudio, Midjourney (2022-23 and V7), StarryAI, Stable Diffusion 1.x and fine-tunes, "
        "latent diffusion, FLUX.1-dev and the 2022 generators of dcsan/imagen; human art from WikiArt, "
        "People-Art, photographed paintings, anime portraits and official Arknights and Genshin Impact "
        "illustration. Newer generators are unknown to it.",
        "The AI cut keeps validation human art called AI at or under 2% for its worst source "
        "(decision.guarantees says how it was chosen); many AI images then fall in the uncertain zone: "
        "treat 'human' as 'no sign of AI found', not as proof.",
        "With a whole source held out of training (leave-one-source-out), these missed the targets "
        "(human <= 3% called AI, AI >= 70% called AI): " + ("; ".join(missed) or "none") + ".",
        "Figures per dataset are in metrics.by_dataset; false positives on famous paintings in "
        "metrics.human_paintings and report/served_figures.json.",
    ]
    card_path.write_text(json.dumps(card, indent=2) + "\n")

    with (args.dest / "report" / "test_split.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "path", "label", "source"])
        for row in csv.DictReader((args.run / "splits" / "test.csv").open()):
            path = Path(row["path"]).resolve()
            for name, root in roots.items():
                if path.is_relative_to(root):
                    writer.writerow([name, path.relative_to(root).as_posix(), row["label"], row["source"]])


def _sources() -> list[dict]:
    """Each wide-set repository at its pinned commit, as the manifests name them."""
    sources = [{"name": "art-dev", "repository": "imanidris21/The-Detection-Game",
                "commit": "97fe1da56f850ef0edf331b05e454b233b86453b"}]  # fmt: skip
    for manifest in sorted(WIDE_SOURCES.glob("*.csv")):
        with manifest.open(newline="") as handle:
            first = next(csv.DictReader(handle))
        sources.append({"name": manifest.stem, "repository": first["repo"], "commit": first["commit"]})
    return sources


if __name__ == "__main__":
    main()
