"""A functional model's inference graph, rewritten for fast input gradients.

Two rewrites, each exact up to float rounding, each read from the live weights at every call:
BatchNormalization folded into the layer before it (``keras_simplex.folding``) and narrow
``Conv1D`` input gradients computed on blocks of positions (``keras_simplex.blocked_convolution``,
CPU only: GPU libraries handle narrow channels themselves).
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf

from keras_simplex.blocked_convolution import block_size, blocked_call
from keras_simplex.folding import foldable_pairs, folded_call


def rewritten_forward(
    model: keras.Model, fold_batch_norm: bool = True, block_convolutions: bool = True
) -> Callable[[tf.Tensor], Any] | None:
    """``forward(x)`` computing ``model(x, training=False)`` through the rewritten graph, or
    None when the model is not a functional graph (subclassed models) or nothing applies."""
    try:
        from keras.src.models.functional import Functional, operation_fn
    except ImportError:  # a Keras without the functional-graph internals used here
        return None
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    if not isinstance(graph, Functional):
        return None
    blocking = block_convolutions and not tf.config.list_logical_devices("GPU")
    replacements: dict[int, Callable] = {}
    for linear, norm in foldable_pairs(graph) if fold_batch_norm else ():
        replacements[id(linear)] = folded_call(linear, norm, block_size(linear) if blocking else None)
        replacements[id(norm)] = lambda inputs, **_: inputs
    for layer in graph.layers if blocking else ():
        block = block_size(layer)
        if block and id(layer) not in replacements:
            replacements[id(layer)] = blocked_call(layer, block)
    if not replacements:
        return None

    def operation(op):
        return replacements.get(id(op)) or operation_fn(op, training=False)

    def forward(x):
        outputs = graph._run_through_graph(graph._standardize_inputs(x), operation_fn=operation)
        return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs

    return forward
