"""The paper's training protocol as one call, for arrays or tf.data/TFDS datasets."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf


def repeated_batches(
    data: Any, batch_size: int, shuffle: bool = False, seed: int | None = None
) -> tuple[tf.data.Dataset, int | None]:
    """Batches of ``(x, y)`` for ``model.fit`` that repeat epoch after epoch, and the number of
    batches in one epoch (pass it as ``steps_per_epoch`` / ``validation_steps``).

    With a repeating dataset and a step count, Keras keeps one tf.data iterator for the whole
    fit. Otherwise it builds a new iterator every epoch, and discarding an iterator whose
    pipeline tf.data autotunes sometimes stalls for about as long as that iterator lived:
    seconds per epoch (docs/performance.md). Epochs stay exact: every epoch is one pass over the data,
    reshuffled when ``shuffle``.

    Args:
      data: ``(x, y)`` arrays (``x`` of shape ``(N, L, A)``), or a ``tf.data`` dataset of
        ``(x, y)`` pairs or of TFDS example dicts (``{"sequence", "label", ...}``), batched or
        not (unbatched ones are batched with ``batch_size``).
      shuffle: reshuffle each epoch: arrays through a permutation of all indices, unbatched
        datasets through a 10,000-example buffer; batched datasets are taken as they come.

    Returns:
      ``(dataset, steps)``; ``steps`` is None, and the dataset is not repeated, when a
      dataset's size is unknown (e.g. after ``filter``).
    """
    if not isinstance(data, tf.data.Dataset):
        return _array_batches(data, batch_size, shuffle, seed)
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
    steps = int(data.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY:
        raise ValueError("the dataset repeats forever: pass one epoch of data (without .repeat())")
    if steps == tf.data.UNKNOWN_CARDINALITY:
        return data.prefetch(tf.data.AUTOTUNE), None
    return data.repeat().prefetch(tf.data.AUTOTUNE), steps


def _array_batches(data: Any, batch_size: int, shuffle: bool, seed: int | None) -> tuple[tf.data.Dataset, int]:
    """``repeated_batches`` for ``(x, y)`` arrays: batches gathered by index from one copy of
    the data, with fixed (not autotuned) prefetching."""
    x, y = data
    x, y = np.asarray(x, np.float32), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y need the same, nonzero number of examples, got {len(x)} and {len(y)}")
    x, y = tf.constant(x), tf.constant(y)
    indices = tf.data.Dataset.range(len(x))
    if shuffle:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(lambda i: (tf.gather(x, i), tf.gather(y, i))).repeat().prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.with_options(options), -(-int(x.shape[0]) // batch_size)


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
    train_data, train_steps = repeated_batches(train, batch_size, shuffle=True, seed=seed)
    validation_data, validation_steps = repeated_batches(validation, batch_size)
    return model.fit(
        train_data,
        steps_per_epoch=train_steps,
        shuffle=False,  # the stream reshuffles itself
        validation_data=validation_data,
        validation_steps=validation_steps,
        epochs=epochs,
        callbacks=[*callbacks, *paper_callbacks()],
        verbose=verbose,
    )
