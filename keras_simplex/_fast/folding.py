"""Inference-time folding of BatchNormalization into the linear layer before it.

In inference, ``BatchNormalization`` is a per-channel affine map, ``y = s * z + t`` with
``s = gamma / sqrt(moving_variance + epsilon)`` and ``t = beta - s * moving_mean``. After a
convolution or dense layer ``z = conv(x, W) + b`` it equals ``conv(x, s * W) + (s * b + t)``:
one layer instead of two, which saves the normalization's elementwise passes over large
activations in the forward and the backward pass (about 10% of an input-gradient evaluation
of the paper's CNN-deep on CPU). Outputs and input gradients are the same function of the
input. The folded weights are computed from the live variables at every call, so results
never go stale when the model trains further.

Only what is certainly equivalent is folded: a ``Conv1D/2D/3D`` or ``Dense`` layer (exactly
those classes) with a linear activation, channels-last, float compute dtype equal to its
variable dtype (float32 or float64), no LoRA or quantization, whose output feeds nothing but one
``BatchNormalization`` over the last axis, each layer used once in the model's graph. With
``low_precision`` (a copy of the model computing in bfloat16, ``keras_simplex.precision``), a
bfloat16 compute dtype over float32 variables folds too: the weights are folded in float32 and
then rounded, which changes the rounding, so the rewrite is verified against the float32
model instead (``keras_simplex._fast.rewrite``).
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf

from keras_simplex._fast.convolution import layer_conv1d
from keras_simplex.functional_graph import GraphLinks

LINEAR_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def foldable_pairs(graph: keras.Model, low_precision: bool = False
                   ) -> list[tuple[keras.layers.Layer, keras.layers.BatchNormalization]]:
    """``(linear layer, BatchNormalization)`` pairs of a functional graph that can be folded."""
    links = GraphLinks(graph)
    pairs = []
    for node in links.nodes:
        norm = node.operation
        source = links.sole_source(node) if type(norm) is keras.layers.BatchNormalization else None
        if source is not None and can_fold(source.operation, norm, len(node.input_tensors[0].shape), low_precision):
            pairs.append((source.operation, norm))
    return pairs


def can_fold(linear: Any, norm: keras.layers.BatchNormalization, rank: int, low_precision: bool) -> bool:
    if type(linear) not in LINEAR_LAYERS or norm.axis not in (-1, rank - 1):
        return False
    if getattr(linear, "data_format", "channels_last") != "channels_last":
        return False
    if linear.activation is not keras.activations.linear:
        return False
    if getattr(linear, "lora_enabled", False) or getattr(linear, "quantization_mode", None):
        return False
    dtypes = {linear.compute_dtype, linear.variable_dtype, norm.compute_dtype, norm.variable_dtype}
    if low_precision and dtypes == {"float32", "bfloat16"}:
        return linear.variable_dtype == norm.variable_dtype == "float32"
    return dtypes in ({"float32"}, {"float64"})  # low precision would not reproduce the model's rounding


def folded_call(linear: Any, norm: keras.layers.BatchNormalization, convolution: bool = False,
                block: int | None = None, epilogue: Callable | None = None, projects: bool = False) -> Callable:
    """The inference call of ``linear`` followed by ``norm``, as one layer; ``convolution``: a
    ``Conv1D`` through ``keras_simplex._fast.convolution.conv1d`` (``block``: its input gradient
    on blocks of positions; ``epilogue``: what it applies after the bias; ``projects``: its
    input gradient projected, see ``conv1d``)."""
    if epilogue is not None and not convolution:
        raise ValueError("an epilogue needs the convolution rewrite")
    dense = isinstance(linear, keras.layers.Dense)

    def call(inputs, **_):
        inputs = tf.cast(inputs, linear.compute_dtype)  # as the layer's own call does
        kernel, shift = folded_weights(linear, norm, inputs.dtype)
        if convolution:
            return layer_conv1d(linear, inputs, kernel, block, shift, epilogue, projects)
        if dense:
            outputs = keras.ops.matmul(inputs, kernel)
        elif linear.padding == "causal":  # as Conv1D.call: pad left, then "valid"
            inputs = keras.ops.pad(inputs, linear._compute_causal_padding())
            outputs = keras.ops.conv(inputs, kernel, strides=list(linear.strides), padding="valid",
                                     dilation_rate=linear.dilation_rate)
        else:
            outputs = linear.convolution_op(inputs, kernel)
        return tf.nn.bias_add(outputs, shift)  # a BiasAdd, which the graph optimizer may fuse

    return call


def folded_weights(linear: Any, norm: keras.layers.BatchNormalization, dtype: tf.DType) -> tuple[tf.Tensor, tf.Tensor]:
    """``(kernel, bias)`` of ``linear`` followed by ``norm``, from the live variables: folded in
    the variables' dtype, then cast to ``dtype``."""
    scale = tf.math.rsqrt(norm.moving_variance + norm.epsilon)
    if norm.scale:
        scale = scale * norm.gamma
    shift = -norm.moving_mean * scale
    if norm.center:
        shift = shift + norm.beta
    if linear.use_bias:
        shift = shift + linear.bias * scale
    return tf.cast(linear.kernel * scale, dtype), tf.cast(shift, dtype)
