"""Train, validation and test arrays from the data sources the package reads, and the random
split the dataset builders make."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

Split = tuple[np.ndarray, np.ndarray]
SPLITS = ("train", "validation", "test")


def check_split_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """``fractions`` as a tuple if they are three non-negative train/validation/test fractions
    summing to 1 (within 1e-6); otherwise a clear ``ValueError``."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"split_fractions must be three non-negative fractions (train, validation, test) summing "
                         f"to 1, got {fractions}")
    return fractions


def random_split(rng: np.random.Generator, groups: np.ndarray, fractions: Sequence[float]) -> dict[str, np.ndarray]:
    """Random train/validation/test split of ``n`` items that keeps each group in one split.

    Args:
      rng: the random generator (one ``permutation`` of the groups is drawn).
      groups: ``(n,)`` the group of each item (any sortable ids): items of a group are never
        in different splits.
      fractions: train/validation/test fractions of the items (``check_split_fractions``).

    Returns:
      split name -> sorted ``(m,)`` indices of its items. The groups are taken in random order
      and each goes to the split in which its first item falls in that order, so the splits
      hold the fractions of the items up to one group's size (exactly for one item per group).
    """
    fractions = check_split_fractions(fractions)
    ids, group, sizes = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    order = rng.permutation(len(ids))
    before = np.cumsum(sizes[order]) - sizes[order]  # items in the groups taken before each one
    bounds = np.round(np.cumsum(fractions)[:-1] * len(group)).astype(int)
    split_of = np.empty(len(ids), np.int64)
    split_of[order] = np.searchsorted(bounds, before, side="right")
    return {name: np.flatnonzero(split_of[group] == i) for i, name in enumerate(SPLITS)}


def load_splits(source: str, data_dir: str | None = None) -> tuple[Split, Split, Split]:
    """``(train, validation, test)`` ``(x (N, L, A), y)`` pairs from a built TFDS dataset
    (``synthetic_motifs/original``, ``encode_chipseq/ctcf``, ... in ``data_dir``), an
    original-layout HDF5 file or an NPZ with ``x_train, y_train, x_validation, ...``."""
    if source.endswith((".h5", ".hdf5")):
        from keras_simplex.datasets.h5 import import_h5

        splits = import_h5(source)
        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise ValueError(f"{source} has no {', '.join(missing)} split (X_/Y_ train, valid and test are needed)")
        return tuple((splits[s]["x"], splits[s]["y"]) for s in SPLITS)
    if source.endswith(".npz"):
        if not os.path.exists(source):
            raise FileNotFoundError(f"data file not found: {source}")
        with np.load(source) as f:
            missing = [f"{array}_{s}" for s in SPLITS for array in "xy" if f"{array}_{s}" not in f.files]
            if missing:
                raise ValueError(f"{source} has no {', '.join(missing)}: an NPZ of splits holds x_train, y_train, "
                                 f"x_validation, y_validation, x_test and y_test (this one: "
                                 f"{', '.join(f.files) or 'no arrays'})")
            return tuple((f[f"x_{s}"], f[f"y_{s}"]) for s in SPLITS)
    import tensorflow_datasets as tfds

    builder = prepared_builder(source, data_dir)
    return tuple(tfds.as_numpy(builder.as_dataset(split=s, batch_size=-1, as_supervised=True))
                 for s in SPLITS)


def dataset_location(source: str, data_dir: str | None = None) -> str:
    """The file (HDF5, NPZ) or the built TFDS dataset's folder that ``load_splits`` reads."""
    if source.endswith((".h5", ".hdf5", ".npz")):
        return source
    return prepared_builder(source, data_dir).data_dir


def prepared_builder(name: str, data_dir: str | None = None):
    """The TFDS builder of a dataset built in ``data_dir``: a registered config
    (``encode_chipseq/ctcf``) or a custom one built there (``encode_chipseq/holdout`` after
    ``build_dataset("encode_chipseq", data_dir, config=EncodeChipseqConfig(name="holdout",
    ...))``, read from its files); a clear error when it is not built."""
    import tensorflow_datasets as tfds

    from keras_simplex.datasets.build import check_dataset_name

    try:
        builder = tfds.builder(name, data_dir=data_dir)  # an unregistered config: from its files, if built
    except Exception:
        check_dataset_name(name, data_dir or "the default data folder")  # one line naming the configs
        raise
    if not builder.is_prepared():
        raise ValueError(f"dataset {name} is not built in {builder.data_dir}; run keras-simplex build-dataset first")
    return builder
