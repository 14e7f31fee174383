"""What a Keras model takes and returns: its sequence input spec and output shapes."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf


def input_spec(model: keras.Model, sequence_shape: tuple[int | None, int] | None = None) -> tuple[int | None, int, tf.DType]:
    """``(L, A, dtype)`` of the model's one ``(N, L, A)`` sequence input; ``L`` None for
    length-agnostic models. ``sequence_shape=(L, A)`` serves models that record no input
    (subclassed models), with float32 inputs."""
    if sequence_shape is not None:
        length, size = sequence_shape
        return (None if length is None else int(length)), int(size), tf.float32
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"cannot read the input shape of this {type(model).__name__} model (subclassed?); build an "
            f"explainer with it: keras_simplex.Explainer(model, sequence_shape=(L, A)), L=None for "
            f"length-agnostic models, and pass the explainer instead of the model"
        )
    if len(inputs) != 1:
        raise ValueError(f"the model has {len(inputs)} inputs; attribution needs one (N, L, A) input")
    shape = tuple(inputs[0].shape)
    if len(shape) != 3 or shape[-1] is None:
        raise ValueError(f"the model input must have shape (N, L, A) with a known A, got {shape}")
    dtype = tf.as_dtype(inputs[0].dtype)
    if not dtype.is_floating:
        raise ValueError(f"the model input must be floating point, got {dtype.name}")
    return shape[1], int(shape[2]), dtype


def output_shape(model: keras.Model, length: int | None, size: int) -> Any:
    """The model's output shape(s), from its record or from one call on a dummy batch (at
    ``length``, or 64 positions for length-agnostic models)."""
    try:
        return model.output_shape
    except (AttributeError, ValueError):
        dummy = np.full((1, length or 64, size), 1.0 / size, np.float32)
        outputs = model(dummy, training=False)
        return keras.tree.map_structure(lambda t: (None,) + tuple(t.shape[1:]), outputs)
