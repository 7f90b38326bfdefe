"""A thread-safe wrapper around the LiteRT interpreter (no TensorFlow import)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from artifact.native_logs import without_native_banners


class LiteRTModel:
    """Runs a ``.tflite`` classifier on float32 batches of shape (n, side, side, 3).

    The interpreter is not thread-safe, so calls are serialised by a lock; run one
    instance per worker process for parallelism.
    """

    def __init__(self, path: str | Path, num_threads: int | None = None):
        """``num_threads`` defaults to the machine's cores (at most 4): XNNPACK then splits
        each convolution across them, which halves single-image latency on 2 cores."""
        self.path = Path(path)
        if num_threads is None:
            num_threads = min(4, os.cpu_count() or 1)
        with without_native_banners():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = int(self._input["shape"][0])
        self._lock = threading.Lock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._input["shape"][1:])

    def predict(self, batch: np.ndarray, max_batch: int = 32) -> np.ndarray:
        """Class probabilities for a batch, run in chunks of at most ``max_batch``."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != self.input_shape:
            raise ValueError(f"expected (n, {self.input_shape}), got {batch.shape}")
        outputs = [self._run(batch[start : start + max_batch]) for start in range(0, len(batch), max_batch)]
        return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._batch != len(chunk):
                self._interpreter.resize_tensor_input(self._input["index"], chunk.shape)
                self._interpreter.allocate_tensors()
                self._batch = len(chunk)
            self._interpreter.set_tensor(self._input["index"], chunk)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._output["index"]), dtype=np.float32)
