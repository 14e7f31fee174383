"""The original HDF5 layout of the synthetic dataset (``synthetic_code_dataset.h5``).

Keys ``X_{split}`` (N, A, L) one-hot, channels first; ``Y_{split}`` (N, 1); and
``model_{split}`` (N, A, L) ground truth, for the splits ``train``, ``valid`` and ``test``.
In memory everything is channels last, (N, L, A), with split names train/validation/test.
"""

from __future__ import annotations

import os
from typing import Mapping

import h5py
import numpy as np

from keras_simplex.atomic import atomic_output
from keras_simplex.datasets.synthetic import SyntheticData

H5_SPLIT_NAMES = {"train": "train", "validation": "valid", "test": "test"}


def export_h5(path: str | os.PathLike, splits: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write ``{split: {"x": (N, L, A), "y": (N,) or (N, T), "ground_truth": (N, L, A) optional}}``."""
    with atomic_output(path) as temporary, h5py.File(temporary, "w") as f:
        for split, arrays in splits.items():
            if split not in H5_SPLIT_NAMES:
                raise ValueError(f"unknown split {split!r}; expected one of {list(H5_SPLIT_NAMES)}")
            key = H5_SPLIT_NAMES[split]
            f.create_dataset(f"X_{key}", data=np.swapaxes(arrays["x"], 1, 2).astype(np.float32), compression="gzip")
            labels = np.asarray(arrays["y"], np.float32)
            f.create_dataset(f"Y_{key}", data=labels.reshape(len(labels), -1), compression="gzip")  # (N, 1) or (N, T)
            if "ground_truth" in arrays:
                truth = np.swapaxes(arrays["ground_truth"], 1, 2).astype(np.float32)
                f.create_dataset(f"model_{key}", data=truth, compression="gzip")


def _labels(y: np.ndarray) -> np.ndarray:
    """Labels ``(N,)`` or ``(N, 1)`` as ``(N,)``; ``(N, T)`` kept (several tasks)."""
    return y.reshape(len(y)) if y.ndim == 1 or y.size == len(y) else y.reshape(len(y), -1)


def import_h5(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Read the original layout: ``{split: {"x", "y", and "ground_truth" if present}}``,
    channels last, labels as int64 ``(N,)``, or ``(N, T)`` for several tasks."""
    out = {}
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise OSError(f"cannot read HDF5 file {os.fspath(path)!r}: {error}") from None
    with f:
        for split, key in H5_SPLIT_NAMES.items():
            if f"X_{key}" not in f:
                continue
            arrays = {
                "x": np.swapaxes(f[f"X_{key}"][()], 1, 2),
                "y": _labels(f[f"Y_{key}"][()]).astype(np.int64),
            }
            if f"model_{key}" in f:
                arrays["ground_truth"] = np.swapaxes(f[f"model_{key}"][()], 1, 2)
            out[split] = arrays
    if not out:
        raise ValueError(f"{os.fspath(path)!r} has none of the keys X_train, X_valid, X_test")
    return out


def synthetic_splits(data: SyntheticData) -> dict[str, dict[str, np.ndarray]]:
    """The splits of a generated dataset as ``{split: {"x", "y", "ground_truth"}}``."""
    return {
        split: {"x": data.x[idx], "y": data.y[idx], "ground_truth": data.ground_truth[idx]}
        for split, idx in data.splits.items()
    }
