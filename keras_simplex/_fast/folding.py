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

from keras_simplex._fast.blocked_convolution import blocked_conv1d

LINEAR_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def foldable_pairs(graph: keras.Model, low_precision: bool = False
                   ) -> list[tuple[keras.layers.Layer, keras.layers.BatchNormalization]]:
    """``(linear layer, BatchNormalization)`` pairs of a functional graph that can be folded."""
    nodes = [node for depth in graph._nodes_by_depth.values() for node in depth if node.operation]
    uses: dict[int, int] = {}  # operation -> nodes calling it in this graph
    consumers: dict[int, int] = {id(t): 1 for t in graph.outputs}  # tensor -> nodes reading it
    producer: dict[int, Any] = {}  # tensor -> node computing it
    for node in nodes:
        uses[id(node.operation)] = uses.get(id(node.operation), 0) + 1
        for tensor in node.input_tensors:
            consumers[id(tensor)] = consumers.get(id(tensor), 0) + 1
        for tensor in node.outputs:
            producer[id(tensor)] = node
    pairs = []
    for node in nodes:
        norm = node.operation
        if type(norm) is not keras.layers.BatchNormalization or len(node.input_tensors) != 1:
            continue
        tensor = node.input_tensors[0]
        source = producer.get(id(tensor))
        if source is None or consumers.get(id(tensor)) != 1:
            continue
        linear = source.operation
        if uses[id(norm)] == 1 and uses[id(linear)] == 1 and _can_fold(linear, norm, len(tensor.shape), low_precision):
            pairs.append((linear, norm))
    return pairs


def _can_fold(linear: Any, norm: keras.layers.BatchNormalization, rank: int, low_precision: bool) -> bool:
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


def folded_call(linear: Any, norm: keras.layers.BatchNormalization, block: int | None = None) -> Callable:
    """The inference call of ``linear`` followed by ``norm``, as one layer; ``block``: compute
    a ``Conv1D``'s input gradient on blocks of positions (``keras_simplex.blocked_convolution``)."""
    convolution = not isinstance(linear, keras.layers.Dense)

    def call(inputs, **_):
        inputs = tf.cast(inputs, linear.compute_dtype)  # as the layer's own call does
        scale = tf.math.rsqrt(norm.moving_variance + norm.epsilon)
        if norm.scale:
            scale = scale * norm.gamma
        shift = -norm.moving_mean * scale
        if norm.center:
            shift = shift + norm.beta
        if linear.use_bias:
            shift = shift + linear.bias * scale
        kernel = tf.cast(linear.kernel * scale, inputs.dtype)  # folded in float32, then the compute dtype
        shift = tf.cast(shift, inputs.dtype)
        if block:
            outputs = blocked_conv1d(inputs, kernel, linear.padding, block)
        elif convolution and linear.padding == "causal":  # as Conv1D.call: pad left, then "valid"
            inputs = keras.ops.pad(inputs, linear._compute_causal_padding())
            outputs = keras.ops.conv(inputs, kernel, strides=list(linear.strides), padding="valid",
                                     dilation_rate=linear.dilation_rate)
        elif convolution:
            outputs = linear.convolution_op(inputs, kernel)
        else:
            outputs = keras.ops.matmul(inputs, kernel)
        return tf.nn.bias_add(outputs, shift)  # a BiasAdd, which the graph optimizer may fuse

    return call
