"""Which scalar of a model's output is differentiated, and how to reach its logit."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence, Union

import keras
import tensorflow as tf

Target = Union[None, int, slice, Sequence[int], Callable[[Any], tf.Tensor]]


def target_key(target: Target) -> Any:
    """A hashable key for caching compiled functions per target."""
    if isinstance(target, slice):
        return ("slice", target.start, target.stop, target.step)
    if callable(target):
        return ("callable", id(target))
    if isinstance(target, Sequence) and not isinstance(target, str):
        return ("indices", tuple(int(i) for i in target))
    return ("index", target)


def check_target(target: Target, output_shape: Any) -> None:
    """Raise a clear error when ``target`` cannot address a model output of ``output_shape``.

    ``output_shape`` is the model's output shape, e.g. ``(None, 1)``, or a list/dict of shapes
    for multi-output models (those need a callable target).
    """
    if callable(target):
        return
    if isinstance(output_shape, (list, dict)) and not _is_shape(output_shape):
        raise ValueError(
            f"the model has {len(output_shape)} outputs; pass target=callable(outputs) -> (N,) "
            f"that picks the scalar to explain"
        )
    units = output_shape[-1] if len(output_shape) > 1 else 1
    if target is None:
        known = [d for d in output_shape[1:] if d is not None]
        if len(known) != len(output_shape) - 1 or any(d != 1 for d in known):
            raise ValueError(
                f"the model output has shape {tuple(output_shape)}; choose what to explain with "
                f"target=<output index>, a slice, a list of indices or a callable"
            )
        return
    if isinstance(target, slice):
        return
    indices = [target] if isinstance(target, int) else list(target)
    if not indices or not all(isinstance(i, int) for i in indices):
        raise TypeError(f"target must be an int, a slice, a list of ints or a callable, got {target!r}")
    if units is not None and any(not -units <= i < units for i in indices):
        raise ValueError(f"target {target!r} is out of range for a model output with {units} units")


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(d is None or isinstance(d, int) for d in value)


def select_target(outputs: Any, target: Target) -> tf.Tensor:
    """Reduce model outputs to one scalar per example, ``(P,)``.

    Args:
      outputs: the model's output, ``(P, ..., T)``, or any structure for a callable target.
      target: None (a single-unit output), an index or list of indices of the last axis, a
        slice of it (selected units are summed, as are any other non-batch axes), or a
        callable ``f(outputs) -> (P,)``.
    """
    if callable(target):
        value = target(outputs)
    else:
        value = outputs
        if isinstance(target, int):
            value = value[..., target]
        elif isinstance(target, slice):
            value = value[..., target]
        elif target is not None:
            value = tf.gather(value, list(target), axis=-1)
    value = tf.convert_to_tensor(value)
    if value.shape.rank is not None and value.shape.rank > 1:
        value = tf.reduce_sum(tf.reshape(value, [tf.shape(value)[0], -1]), axis=-1)
    return value


def output_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that produce a Sequential/functional model's outputs.

    Nested models are opened, as are wrapper layers that expose the model they wrap as
    ``backbone`` (e.g. ``SimplexAngleRegularizer``).
    """
    outputs = getattr(model, "outputs", None)
    if not outputs:
        raise ValueError(
            "logits=True needs a Sequential or functional model whose output layer has an "
            "activation; for other models pass a target callable over a logit output"
        )
    opened = []
    for tensor in outputs:
        layer = tensor._keras_history.operation
        inner = layer if isinstance(layer, keras.Model) else getattr(layer, "backbone", None)
        opened.extend(output_layers(inner) if isinstance(inner, keras.Model) else [layer])
    return opened


@contextlib.contextmanager
def pre_activation(model: keras.Model) -> Iterator[list[Callable]]:
    """Temporarily replace the output layers' activations by the identity.

    Used while tracing a function so the traced graph computes logits (pre-activation
    outputs) while still reading the model's live weights. Yields the replaced activations,
    one per output layer that had one, in output order.
    """
    layers = [layer for layer in output_layers(model) if getattr(layer, "activation", None) is not None]
    saved = [layer.activation for layer in layers]
    try:
        for layer in layers:
            layer.activation = keras.activations.linear
        yield saved
    finally:
        for layer, activation in zip(layers, saved):
            layer.activation = activation
