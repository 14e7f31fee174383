"""Train, validation and test arrays from the data sources the package reads."""

from __future__ import annotations

import os

import numpy as np

Split = tuple[np.ndarray, np.ndarray]
SPLITS = ("train", "validation", "test")


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
    """The TFDS builder of a dataset built in ``data_dir``; a clear error when it is not built."""
    import tensorflow_datasets as tfds

    from keras_simplex.datasets.build import check_dataset_name

    check_dataset_name(name)
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        raise ValueError(f"dataset {name} is not built in {builder.data_dir}; run keras-simplex build-dataset first")
    return builder
