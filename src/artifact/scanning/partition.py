"""The unit of work of every scan: a list of keys analysed into rows, by a model loaded once
per process. The local pool and Dask both run :func:`analyse_keys`."""

from __future__ import annotations

from artifact.scanning.rows import analyse_bytes, error_row
from artifact.scanning.sources import read_key

_predictors: dict[str | None, object] = {}
model_loads = 0  # in this process so far: 1 means loaded once per process


def worker_predictor(model_dir: str | None):
    """The model, loaded once per process (not per partition, not per image)."""
    global model_loads
    if model_dir not in _predictors:
        from artifact.inference.engine import Predictor

        _predictors[model_dir] = Predictor(model_dir, num_threads=1)
        model_loads += 1
    return _predictors[model_dir]


def analyse_keys(
    keys: list[str], model_dir: str | None, endpoint: str | None = None, thumbnails: bool = False
) -> list[dict]:
    """One row per key; a bad file is a row with its error, never a stop."""
    from artifact.inference.decode import ImageDecodeError

    predictor = worker_predictor(model_dir)
    rows = []
    for key in keys:
        try:
            data = read_key(key, endpoint)
        except ImageDecodeError as exc:
            rows.append(error_row(key, exc.message, exc.code))
            continue
        except Exception as exc:  # noqa: BLE001 - a missing or unreadable key is that file's error
            rows.append(error_row(key, f"cannot read: {exc}", "io_error"))
            continue
        row = analyse_bytes(predictor, key, data)
        if thumbnails and not row.get("error"):
            from artifact.scanning.reports import thumbnail_data_uri

            row["thumbnail"] = thumbnail_data_uri(key)
        rows.append(row)
    return rows
