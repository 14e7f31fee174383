"""Differentiating a model's logits (pre-activation outputs) instead of its activations.

For each operation that produces a model output:

- a layer whose last step is its ``activation`` (``Dense``, ``EinsumDense``, convolutions,
  ``Activation``) runs with a linear activation;
- a ``Softmax`` layer or a sigmoid/softmax/log-softmax op in a functional graph
  (``keras.ops.sigmoid(x)``) is skipped;
- a nested functional model, or a wrapper exposing its model as ``backbone`` (e.g.
  ``SimplexAngleRegularizer``), is opened;
- anything else (a ``Lambda``, a reshape, a normalization...) is an error naming the layer:
  the logit cannot be found, and the probability is never returned in its place.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import keras
from keras.src.ops import nn as nn_ops

from keras_simplex.functional_graph import Wrapper, functional_graph, graph_forward, output_operations

ACTIVATED_LAYERS = (
    keras.layers.Activation,
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
SKIPPED_OPERATIONS = (keras.layers.Softmax, nn_ops.Sigmoid, nn_ops.Softmax, nn_ops.LogSoftmax)


def logit_wrappers(model: keras.Model) -> dict[int, Wrapper]:
    """Wrappers (see ``functional_graph.graph_forward``) that make ``model``'s graph return
    logits. Raises ValueError for subclassed models and for output operations whose logit
    cannot be reached (see the module docstring)."""
    graph = functional_graph(model)
    if graph is None:
        raise ValueError(
            f"logits=True needs a Sequential or functional model, got {type(model).__name__}; "
            f"for other models pass a target callable over a logit output (or return logits)"
        )
    return {id(op): _wrapper(op) for op in output_operations(graph)}


def _wrapper(op: Any) -> Wrapper:
    if isinstance(op, ACTIVATED_LAYERS):
        return lambda call: _without_activation(op, call)
    if isinstance(op, SKIPPED_OPERATIONS):
        return lambda call: (lambda inputs, *args, **kwargs: inputs)
    inner = op if isinstance(op, keras.Model) else getattr(op, "backbone", None)
    if isinstance(inner, keras.Model) and functional_graph(inner) is not None:
        forward = graph_forward(functional_graph(inner), {}, logit_wrappers(inner))
        return lambda call: (lambda inputs, *args, **kwargs: forward(inputs))
    name = getattr(op, "name", type(op).__name__)
    raise ValueError(
        f"logits=True: the model output comes from '{name}' ({type(op).__name__}), which has no "
        f"activation to remove; expose the logit by splitting the activation into its own layer "
        f"(e.g. Dense(1) followed by keras.layers.Activation('sigmoid')), or explain the output "
        f"as it is (logits=False)"
    )


def _without_activation(layer: Any, call: Callable) -> Callable:
    def linear_call(*args, **kwargs):
        with linear_activations([layer]):
            return call(*args, **kwargs)

    return linear_call


@contextlib.contextmanager
def linear_activations(layers: list[Any]) -> Iterator[list[Callable]]:
    """Temporarily give ``layers`` a linear activation (while a function is traced); yields
    their activations."""
    saved = [layer.activation for layer in layers]
    try:
        for layer in layers:
            layer.activation = keras.activations.linear
        yield saved
    finally:
        for layer, activation in zip(layers, saved):
            layer.activation = activation


def activated_output_layers(model: keras.Model) -> list[Any]:
    """The output layers of ``model`` whose activation makes its outputs, opening nested
    models; ValueError where an output's logit cannot be reached that way."""
    graph = functional_graph(model)
    if graph is None:
        raise ValueError("logits=True needs a Sequential or functional model")
    layers = []
    for op in output_operations(graph):
        inner = op if isinstance(op, keras.Model) else getattr(op, "backbone", None)
        if isinstance(inner, keras.Model):
            layers.extend(activated_output_layers(inner))
        elif isinstance(op, ACTIVATED_LAYERS):
            layers.append(op)
        else:
            _wrapper(op)  # raises the error naming the layer (or accepts a skipped operation)
            raise ValueError(f"logits=True during training needs output layers with an activation, got "
                             f"'{op.name}' ({type(op).__name__})")
    return layers
