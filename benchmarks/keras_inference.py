"""Eager Keras calls against the traced graph (``compiled_inference``), same model, same batches.

Usage: python benchmarks/keras_inference.py [--architecture mobilenet_v2_1.0] [--batches 32 64] [--repeats 5]

Our training extracts frozen-backbone features and scores five-crop evaluations through these
calls. For each batch size it prints the median seconds per batch of each mode and their ratio,
then the peak memory of each mode, measured in a fresh process per mode (a process's peak
cannot be reset, so that part cannot share one process). Random weights: speed and memory do
not depend on them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def build(architecture: str):
    from artifact.training.backbones import create_backbone_model

    return create_backbone_model(
        architecture, input_size=224, num_classes=2, weights=None, dropout=0.3, head_units=256, taps=True
    ).model


def callers(model):
    from artifact.training.keras_predict import compiled_inference

    return {"eager": lambda x: model(x, training=False), "graph": compiled_inference(model)}


def batch_of(size: int):
    import numpy as np

    return np.random.default_rng(0).uniform(0, 255, (size, 224, 224, 3)).astype(np.float32)


def peak_gib(architecture: str, mode: str, size: int, queue) -> None:
    call = callers(build(architecture))[mode]
    for _ in range(2):
        call(batch_of(size))
    # VmHWM, not ru_maxrss: the latter survives exec, so a spawned child would report its parent's peak.
    status = Path("/proc/self/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    queue.put(kib / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--architecture", default="mobilenet_v2_1.0")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = build(args.architecture)
    modes = callers(model)
    print(f"{args.architecture}, 224 px, median seconds per batch over {args.repeats} runs (after warm-up)")
    for size in args.batches:
        x = batch_of(size)
        times = {}
        for name, call in modes.items():
            call(x)  # warm-up (and tracing)
            runs = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                call(x)
                runs.append(time.perf_counter() - started)
            times[name] = statistics.median(runs)
        print(f"  batch {size:4d}: eager {times['eager']:.3f} s, graph {times['graph']:.3f} s, "
              f"graph/eager {times['graph'] / times['eager']:.2f}x time")  # fmt: skip

    context = multiprocessing.get_context("spawn")
    print("peak memory of a fresh process (model + two calls)")
    for size in args.batches:
        peaks = {}
        for name in modes:
            queue = context.Queue()
            worker = context.Process(target=peak_gib, args=(args.architecture, name, size, queue))
            worker.start()
            peaks[name] = queue.get()
            worker.join()
        print(f"  batch {size:4d}: eager {peaks['eager']:.2f} GiB, graph {peaks['graph']:.2f} GiB, "
              f"graph/eager {peaks['graph'] / peaks['eager']:.2f}x memory")  # fmt: skip


if __name__ == "__main__":
    main()
