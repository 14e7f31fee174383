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


ALPHABET_SIZES = (4, 20)  # DNA/RNA and protein: the plausible sizes of the alphabet axis A


def _labels(y: np.ndarray) -> np.ndarray:
    """Labels ``(N,)`` or ``(N, 1)`` as ``(N,)``; ``(N, T)`` kept (several tasks). int64 when
    every value is an integer (classes, counts), float32 otherwise (e.g. 0.2, 0.9)."""
    y = y.reshape(len(y)) if y.ndim == 1 or y.size == len(y) else y.reshape(len(y), -1)
    integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.isfinite(y) & (y == np.round(y))))
    return y.astype(np.int64 if integral else np.float32)


def _one_hot(f: h5py.File, key: str, path: str) -> np.ndarray:
    """``f[key]``, stored ``(N, A, L)``, as ``(N, L, A)``; a clear error for another rank or a
    channels-last ``(N, L, A)`` array: axis 1 not an alphabet size while the last axis is one,
    or, when both are (e.g. 20 DNA positions), the last axis sums to 1 and axis 1 does not."""
    stored = f[key]
    if stored.ndim != 3:
        raise ValueError(f"{path}: {key} has shape {stored.shape}; the original layout stores (N, A, L) one-hot "
                         f"sequences (A = 4 for DNA, 20 for protein)")
    x = stored[()]
    _, size, last = x.shape
    if last in ALPHABET_SIZES and (size not in ALPHABET_SIZES or (size != last and _sums_to_one(x, 2)
                                                                  and not _sums_to_one(x, 1))):
        raise ValueError(f"{path}: {key} has shape {x.shape}, which looks channels last (N, L, A); the original "
                         f"layout stores (N, A, L) (A = 4 for DNA, 20 for protein): write np.swapaxes(x, 1, 2)")
    return np.swapaxes(x, 1, 2)


def _sums_to_one(x: np.ndarray, axis: int) -> bool:
    return x.size > 0 and bool(np.allclose(x.sum(axis=axis), 1, atol=1e-3))


def import_h5(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Read the original layout: ``{split: {"x", "y", and "ground_truth" if present}}``,
    ``x`` and ``ground_truth`` channels last ``(N, L, A)``, labels ``(N,)``, or ``(N, T)`` for
    several tasks, int64 when all are integers and float32 otherwise.

    Raises ``ValueError`` for a split with ``X_`` but no ``Y_``, arrays of other row counts, a
    ground truth of another shape than ``X_``, and an ``X_`` that is not ``(N, A, L)`` (A = 4
    or 20; a channels-last ``(N, L, A)`` file is refused, not transposed wrongly).
    """
    out = {}
    path = os.fspath(path)
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise OSError(f"cannot read HDF5 file {path!r}: {error}") from None
    with f:
        for split, key in H5_SPLIT_NAMES.items():
            if f"X_{key}" not in f:
                continue
            if f"Y_{key}" not in f:
                raise ValueError(f"{path}: X_{key} has no labels Y_{key} (the original layout stores both)")
            arrays = {"x": _one_hot(f, f"X_{key}", path), "y": _labels(f[f"Y_{key}"][()])}
            if len(arrays["y"]) != len(arrays["x"]):
                raise ValueError(f"{path}: X_{key} has {len(arrays['x'])} sequences but Y_{key} {len(arrays['y'])} "
                                 f"labels")
            if f"model_{key}" in f:
                arrays["ground_truth"] = _one_hot(f, f"model_{key}", path)
                if arrays["ground_truth"].shape != arrays["x"].shape:
                    raise ValueError(f"{path}: model_{key} has shape {f[f'model_{key}'].shape}, X_{key} "
                                     f"{f[f'X_{key}'].shape}; the ground truth has the sequences' shape")
            out[split] = arrays
    if not out:
        raise ValueError(f"{path!r} has none of the keys X_train, X_valid, X_test")
    return out


def synthetic_splits(data: SyntheticData) -> dict[str, dict[str, np.ndarray]]:
    """The splits of a generated dataset as ``{split: {"x", "y", "ground_truth"}}``."""
    return {
        split: {"x": data.x[idx], "y": data.y[idx], "ground_truth": data.ground_truth[idx]}
        for split, idx in data.splits.items()
    }
