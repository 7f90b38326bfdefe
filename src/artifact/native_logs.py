"""Keep TensorFlow's and LiteRT's native start-up banners out of a user's terminal.

TensorFlow 2.21 writes absl and oneDNN notices from C++ straight to file descriptor 2 whatever
``TF_CPP_MIN_LOG_LEVEL`` says, and LiteRT announces its XNNPACK delegate the same way. Python's
logging cannot reach them, so while TensorFlow is imported (or an interpreter is built) fd 2 is
captured and replayed without the known banner lines: a real error still shows. ``-v`` (or
``ARTIFACT_VERBOSE=1``) shows everything.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "ARTIFACT_VERBOSE"
BANNERS = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|Created TensorFlow Lite XNNPACK delegate"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextmanager
def without_native_banners() -> Iterator[None]:
    """Capture fd 2 for the block and replay every line that is not a known banner."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(True)
                    if not BANNERS.search(line)]  # fmt: skip
            if kept:  # back where it was going: the descriptor, not Python's sys.stderr
                os.write(2, "".join(kept).encode())


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once without its banners, and keep its Python warnings about
    ``tf.function`` retracing (no action for a user) out of normal output."""
    if "tensorflow" in sys.modules:
        return
    with without_native_banners():
        import tensorflow as tf
    if not verbose():
        tf.get_logger().setLevel("ERROR")
