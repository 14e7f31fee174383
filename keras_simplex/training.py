"""The paper's training protocol as one call, for arrays or tf.data/TFDS datasets."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf


def as_supervised(data: Any, batch_size: int, shuffle: bool = False, seed: int | None = None) -> Any:
    """Turn ``(x, y)`` arrays or a dataset into something ``model.fit`` takes.

    Datasets of TFDS example dicts (``{"sequence", "label", ...}``) become ``(sequence,
    label)`` pairs; unbatched datasets are batched with ``batch_size``. Arrays stay arrays.
    """
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, dict):
            if not {"sequence", "label"} <= set(spec):
                raise ValueError(f"dataset examples need 'sequence' and 'label' keys, got {sorted(spec)}")
            data = data.map(lambda e: (e["sequence"], e["label"]), num_parallel_calls=tf.data.AUTOTUNE)
            spec = data.element_spec
        if spec[0].shape.rank == 2:  # unbatched (L, A) examples
            if shuffle:
                data = data.shuffle(10_000, seed=seed)
            data = data.batch(batch_size)
        return data.prefetch(tf.data.AUTOTUNE)
    x, y = data
    return np.asarray(x, np.float32), np.asarray(y)


def compile_paper(model: keras.Model, learning_rate: float = 1e-3, jit_compile: bool | str = "auto") -> keras.Model:
    """Adam(``learning_rate``), binary cross-entropy, AUROC and AUPR metrics (multi-label for
    several outputs)."""
    multi_label = model.output_shape[-1] > 1
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[
            keras.metrics.AUC(name="auroc", multi_label=multi_label),
            keras.metrics.AUC(curve="PR", name="aupr", multi_label=multi_label),
        ],
        jit_compile=jit_compile,
    )
    return model


def paper_callbacks(patience_lr: int = 3, patience_stop: int = 10) -> list[keras.callbacks.Callback]:
    """Reduce the learning rate x0.2 after ``patience_lr`` epochs without a better validation
    AUROC (down to 1e-7); stop after ``patience_stop`` and restore the best weights."""
    return [
        keras.callbacks.ReduceLROnPlateau(monitor="val_auroc", mode="max", factor=0.2, patience=patience_lr, min_lr=1e-7),
        keras.callbacks.EarlyStopping(monitor="val_auroc", mode="max", patience=patience_stop, restore_best_weights=True),
    ]


def train_paper_protocol(
    model: keras.Model,
    train: Any,
    validation: Any,
    *,
    epochs: int = 100,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    jit_compile: bool | str = "auto",
    seed: int | None = None,
    verbose: int | str = "auto",
) -> keras.callbacks.History:
    """Train as in the paper: Adam 1e-3, batch 100, LR x0.2 on a 3-epoch validation-AUROC
    plateau, early stopping after 10 epochs restoring the best weights.

    Args:
      model: a model with sigmoid outputs (e.g. ``cnn_deep()``, or one wrapped by
        ``add_angle_regularizer``).
      train, validation: ``(x, y)`` arrays, or ``tf.data`` datasets of ``(x, y)`` pairs or of
        TFDS example dicts, batched or not.
      callbacks: extra callbacks (e.g. ``SimplexAngleCallback``), run before the protocol's.
      seed: seeds Keras, NumPy and TensorFlow (dropout, shuffling) when given. The model's
        weights already exist: call ``keras.utils.set_random_seed`` before building it to
        make its initialization reproducible too.

    Returns:
      The ``History``; the model holds the weights of the best validation AUROC.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    compile_paper(model, learning_rate, jit_compile)
    train_data = as_supervised(train, batch_size, shuffle=True, seed=seed)
    if isinstance(train_data, tuple):
        fit_data = {"x": train_data[0], "y": train_data[1], "batch_size": batch_size, "shuffle": True}
    else:
        fit_data = {"x": train_data, "shuffle": False}  # shuffled in as_supervised
    return model.fit(
        **fit_data,
        validation_data=as_supervised(validation, batch_size),
        epochs=epochs,
        callbacks=[*callbacks, *paper_callbacks()],
        verbose=verbose,
    )
