"""DeepLIFT (rescale rule) and DeepSHAP for functional Keras models, with the simplex correction.

DeepSHAP explains ``x`` against K references ``r_k`` (default: 20 dinucleotide shuffles of
``x``): the model runs once on a batch of the C sequences followed by their C x K references
(``Pairs``), with every nonlinearity's gradient replaced by a DeepLIFT rule that pairs each
reference row with its sequence's row; the gradient of the references' outputs with respect
to the references is then the input multipliers ``m_k``, which satisfy
``sum((x - r_k) * m_k) = f(x) - f(r_k)`` (summation to delta). Each sequence's forward pass
runs once, not once per reference, and no gradient flows through the sequences' rows. The
rules, as tangermeme's
``deep_lift_shap`` (the reference; captum 0.9.0 agrees where its max-pooling rule is not
affected by its known bugs):

- linear layers (convolutions, dense, batch normalization at inference, dropout, reshapes,
  average pooling, additions, concatenation): their gradient;
- element-wise nonlinearities (``Activation`` layers and the activations of convolution/dense
  layers, Keras' element-wise functions only: ``ELEMENTWISE_ACTIVATIONS``; ``ReLU``, ``ELU``,
  ``LeakyReLU``, ``PReLU`` layers; relu/sigmoid/exp/... ops): the rescale multiplier
  ``(f(z) - f(z_ref)) / (z - z_ref)``, the gradient where ``|z - z_ref| < 1e-6``;
- max pooling (``MaxPooling1D``, ``GlobalMaxPooling1D``): the change above the reference,
  ``max(o, o_ref) - o_ref``, goes to the input's arg-max and ``o - max(o, o_ref)`` to the
  reference's, divided by the input difference (the pooling gradient where it is 0);
- anything else (softmax, attention, recurrent layers, ``Lambda``, products of tensors): a
  ``ValueError`` naming the layer, never a silent gradient.

Maps, per sequence: hypothetical contributions ``h = mean_k (m_k - <r_k, m_k>)`` (per
position; ``hypothetical=True``), or ``h * x`` (default, the contribution of the observed
letters). The corrected maps use ``m_k - mean_a m_k``; with references on the simplex (shuffles)
both forms are unchanged by it (see docs/motifs.md), the raw and corrected maps agree, and the
angles say how far the multipliers were off the simplex.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
from keras.src.ops import nn as nn_ops
from keras.src.ops import numpy as numpy_ops

from keras_simplex.functional_graph import Wrapper, functional_graph
from keras_simplex.geometry import project_to_simplex, simplex_angle
from keras_simplex.kernel import in_pieces
from keras_simplex.logits import linear_activations
from keras_simplex.progress import SILENT, Progress
from keras_simplex.targets import target_values

EPSILON = 1e-6  # |z - z_ref| below which the rescale rule falls back to the gradient (tangermeme's)

LINEAR_LAYERS = (
    keras.layers.InputLayer, keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Conv1D, keras.layers.Conv2D,
    keras.layers.SeparableConv1D, keras.layers.DepthwiseConv1D, keras.layers.BatchNormalization, keras.layers.Dropout,
    keras.layers.SpatialDropout1D, keras.layers.GaussianDropout, keras.layers.GaussianNoise, keras.layers.Flatten,
    keras.layers.Reshape, keras.layers.Permute, keras.layers.Add, keras.layers.Subtract, keras.layers.Average,
    keras.layers.Concatenate, keras.layers.AveragePooling1D, keras.layers.GlobalAveragePooling1D,
    keras.layers.ZeroPadding1D, keras.layers.Cropping1D, keras.layers.Identity, keras.layers.RepeatVector,
)
ELEMENTWISE_LAYERS = (keras.layers.ReLU, keras.layers.ELU, keras.layers.LeakyReLU, keras.layers.PReLU)
ELEMENTWISE_OPS = (nn_ops.Relu, nn_ops.Relu6, nn_ops.Sigmoid, nn_ops.Softplus, nn_ops.Silu, nn_ops.Gelu, nn_ops.Elu,
                   nn_ops.Selu, nn_ops.LeakyRelu, numpy_ops.Exp, numpy_ops.Tanh)
LINEAR_OPS = (numpy_ops.Add, numpy_ops.Subtract, numpy_ops.Reshape, numpy_ops.Transpose, numpy_ops.Concatenate,
              numpy_ops.ExpandDims, numpy_ops.Squeeze, numpy_ops.Sum, numpy_ops.Mean, numpy_ops.GetItem)
ELEMENTWISE_ACTIVATIONS = ("celu", "elu", "exponential", "gelu", "hard_shrink", "hard_sigmoid", "hard_silu",
                           "hard_swish", "hard_tanh", "leaky_relu", "log_sigmoid", "mish", "relu", "relu6", "selu",
                           "sigmoid", "silu", "soft_shrink", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
                           "squareplus", "swish", "tanh", "tanh_shrink", "threshold")  # Keras' (not softmax, glu...)


class Pairs:
    """The layout of a DeepLIFT batch: ``sequences`` (C) sequence rows, then their ``C x
    references`` (K) reference rows, sequence-major. Both are scalar tensors the kernel sets
    while it traces."""

    sequences: tf.Tensor | None = None
    references: tf.Tensor | None = None

    def split(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``z`` -> (sequence rows ``(C, ...)``, reference rows ``(C K, ...)``)."""
        return z[: self.sequences], z[self.sequences :]

    def by_sequence(self, z_r: tf.Tensor) -> tf.Tensor:
        """Reference rows grouped by sequence: ``(C K, ...)`` -> ``(C, K, ...)``."""
        return tf.reshape(z_r, tf.concat([[self.sequences, self.references], tf.shape(z_r)[1:]], axis=0))

    def expand(self, z_x: tf.Tensor) -> tf.Tensor:
        """Sequence rows repeated to face their references: ``(C, ...)`` -> ``(C K, ...)``."""
        return tf.repeat(z_x, self.references, axis=0)


def rescale(function: Callable, pairs: Pairs) -> Callable:
    """``function`` (element-wise) on a DeepLIFT batch; the reference rows get the rescale
    multiplier ``(f(z_x) - f(z_r)) / (z_x - z_r)`` as their gradient (the gradient at ``z_x``
    where ``|z_x - z_r| < EPSILON``), the sequence rows none."""

    def call(z, *args, **kwargs):
        y = function(z, *args, **kwargs)

        @tf.custom_gradient
        def with_multiplier(z, y):
            def gradient(upstream):
                (z_x, z_r), (y_x, y_r) = pairs.split(z), pairs.split(y)
                rows = tf.shape(z_r)
                z_r, y_r, g = pairs.by_sequence(z_r), pairs.by_sequence(y_r), pairs.by_sequence(pairs.split(upstream)[1])
                difference = z_x[:, None] - z_r
                small = tf.abs(difference) < EPSILON
                secant = (y_x[:, None] - y_r) / tf.where(small, tf.ones_like(difference), difference)
                with tf.GradientTape() as tape:
                    tape.watch(z_x)
                    local = function(z_x, *args, **kwargs)
                slope = tape.gradient(local, z_x)[:, None]  # the gradient at the sequence, for the fallback
                multiplied = g * tf.where(small, slope, secant)
                return tf.concat([tf.zeros_like(z_x), tf.reshape(multiplied, rows)], 0), None

            return tf.identity(y), gradient

        return with_multiplier(z, tf.stop_gradient(y))

    return call


def paired_max(pool: Callable, pairs: Pairs) -> Callable:
    """The max-pooling ``pool`` on a DeepLIFT batch with DeepLIFT's max rule as the gradient of
    the reference rows: the change above the reference, ``max(o_x, o_r) - o_r``, is routed to
    the sequence's arg-max and ``o_x - max(o_x, o_r)`` to the reference's, divided by
    ``z_x - z_r`` (the pooling gradient at ``z_x`` where that is 0)."""

    @tf.custom_gradient
    def call(z):
        y = pool(z)

        def gradient(upstream):
            (z_x, z_r), (o_x, o_r) = pairs.split(z), pairs.split(y)
            z_x, o_x, g = pairs.expand(z_x), pairs.expand(o_x), pairs.split(upstream)[1]
            top = tf.maximum(o_x, o_r)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([z_x, z_r])
                p_x, p_r = pool(z_x), pool(z_r)
            routed = (tape.gradient(p_x, z_x, output_gradients=g * (top - o_r))
                      + tape.gradient(p_r, z_r, output_gradients=g * (o_x - top)))
            plain = tape.gradient(p_x, z_x, output_gradients=g)
            difference = z_x - z_r
            zero = tf.equal(difference, 0.0)
            half = tf.where(zero, plain, routed / tf.where(zero, tf.ones_like(difference), difference))
            return tf.concat([tf.zeros_like(pairs.split(z)[0]), half], 0)

        return y, gradient

    return call


def deeplift_wrappers(model: keras.Model, pairs: Pairs, skip: set[int] = frozenset()) -> dict[int, Wrapper]:
    """Wrappers (``functional_graph.graph_forward``) giving ``model``'s graph DeepLIFT
    gradients on batches laid out as ``pairs``; operations in ``skip`` (by id) are left
    alone. Raises ValueError naming the first operation without a rule."""
    graph = functional_graph(model)
    if graph is None:
        raise ValueError(f"DeepLIFT needs a Sequential or functional model, got {type(model).__name__}")
    wrappers: dict[int, Wrapper] = {}
    for op in graph.operations:
        if id(op) in skip:
            continue
        wrapper = _wrapper(op, pairs)
        if wrapper is not None:
            wrappers[id(op)] = wrapper
    return wrappers


def _wrapper(op: Any, pairs: Pairs) -> Wrapper | None:
    activation = getattr(op, "activation", None)
    if isinstance(op, keras.layers.Activation):
        if activation is keras.activations.linear:
            return None
        _check_elementwise(op, activation)
        return lambda call: rescale(call, pairs)
    if isinstance(op, LINEAR_LAYERS):
        if activation is None or activation is keras.activations.linear:
            return None
        _check_elementwise(op, activation)
        return lambda call: _linear_then_rescaled(op, call, pairs)
    if isinstance(op, ELEMENTWISE_LAYERS) or isinstance(op, ELEMENTWISE_OPS):
        return lambda call: rescale(call, pairs)
    if isinstance(op, LINEAR_OPS):
        return None
    if isinstance(op, keras.layers.MaxPooling1D) and op.data_format == "channels_last":
        size, stride, padding = op.pool_size[0], op.strides[0], op.padding.upper()
        return lambda call: _ignore_options(paired_max(lambda v: tf.nn.max_pool1d(v, size, stride, padding), pairs))
    if isinstance(op, keras.layers.GlobalMaxPooling1D) and op.data_format == "channels_last":
        return lambda call: _ignore_options(paired_max(lambda v: _global_max(v, op.keepdims), pairs))
    name = getattr(op, "name", type(op).__name__)
    raise ValueError(f"DeepLIFT has no rule for '{name}' ({type(op).__name__}); supported: linear layers, "
                     f"element-wise activations and max pooling (for softmax outputs use logits=True)")


def _check_elementwise(op: Any, activation: Any) -> None:
    """Raise unless ``activation`` is one of Keras' element-wise activations (the rescale rule
    is exact for a function of one unit only; an unknown callable may mix units)."""
    if not any(activation is getattr(keras.activations, name, None) for name in ELEMENTWISE_ACTIVATIONS):
        name = getattr(activation, "__name__", repr(activation))
        raise ValueError(f"DeepLIFT has no rule for the activation {name!r} of '{op.name}': its rescale rule "
                         f"holds for Keras' element-wise activations ({', '.join(ELEMENTWISE_ACTIVATIONS)}); "
                         f"explain the logits (logits=True) if it is the output")


def _linear_then_rescaled(layer: Any, call: Callable, pairs: Pairs) -> Callable:
    def run(*args, **kwargs):
        with linear_activations([layer]) as saved:
            z = call(*args, **kwargs)
        return rescale(saved[0], pairs)(z)

    return run


def _ignore_options(function: Callable) -> Callable:
    return lambda inputs, *args, **kwargs: function(inputs)


def _global_max(v: tf.Tensor, keepdims: bool) -> tf.Tensor:
    length = v.shape[1]
    if length is None:
        raise ValueError("DeepLIFT's global max pooling rule needs a known sequence length")
    pooled = tf.nn.max_pool1d(v, length, length, "VALID")  # TF's gradient: the first maximum, like torch
    return pooled if keepdims else pooled[:, 0]


class DeepLiftKernel:
    """Compiled DeepSHAP maps of one DeepLIFT forward function and (scalar) target.

    ``forward`` is the model's graph with the wrappers of ``deeplift_wrappers(model, pairs)``.
    ``function(x (C, L, A), references (C, K, L, A), slot ())`` returns the ``raw`` and
    ``corrected`` maps ``(C, L, A)`` (hypothetical or observed), the multipliers' mean
    ``gradient`` and the per-sequence ``delta`` (``f(x) - mean_k f(r_k) - sum(mean_k (x - r_k)
    * m_k)``) of the target, or with ``per_target`` of unit ``per_target[slot]`` (an int32
    tensor: one trace serves every unit).
    """

    def __init__(self, forward: Callable, pairs: Pairs, target: Any, jit_compile: bool, pieces: int = 1,
                 per_target: tuple[int, ...] | None = None) -> None:
        self.forward, self.pairs, self.target, self.per_target = forward, pairs, target, per_target
        self._functions: dict[bool, Any] = {}
        self.jit_compile = jit_compile
        self.pieces = int(pieces)

    def function(self, hypothetical: bool):
        """The compiled maps of a chunk, its sequences taken in ``pieces`` independent slices
        (``kernel.in_pieces``)."""
        if hypothetical not in self._functions:  # a partial: traces counted per kernel (as kernel.GradientKernel)
            self._functions[hypothetical] = tf.function(functools.partial(self._chunk_maps, hypothetical),
                                                        jit_compile=self.jit_compile, reduce_retracing=True)
        return self._functions[hypothetical]

    def _chunk_maps(self, hypothetical: bool, x, references, slot) -> dict[str, tf.Tensor]:
        return in_pieces(lambda begin, end: self._maps(x[begin:end], references[begin:end], slot, hypothetical),
                         tf.shape(x)[0], self.pieces)

    def _maps(self, x, references, slot, hypothetical: bool) -> dict[str, tf.Tensor]:
        shape = tf.shape(references)
        count, per = shape[0], shape[1]
        rs = tf.reshape(references, tf.concat([[-1], shape[2:]], axis=0))  # sequence-major
        self.pairs.sequences, self.pairs.references = count, per
        with tf.GradientTape() as tape:
            tape.watch(rs)
            values = target_values(self.forward(tf.concat([x, rs], 0)), self.target, self.per_target, x.dtype)
            if self.per_target is not None:  # (P, T): the unit of this slot
                values = tf.gather(values, slot, axis=1)
            v_x, v_r = values[:count], values[count:]
            total = tf.reduce_sum(v_r)
        multipliers = tf.cast(tape.gradient(total, rs), x.dtype)
        by_sequence = tf.concat([[count, per], shape[2:]], axis=0)
        results = {}
        for name, m in (("raw", multipliers), ("corrected", project_to_simplex(multipliers))):
            per_letter = m - tf.reduce_sum(rs * m, axis=-1, keepdims=True)  # hypothetical contributions
            mean = tf.reduce_mean(tf.reshape(per_letter, by_sequence), axis=1)
            results[name] = mean if hypothetical else mean * x
        summed = tf.reduce_sum(tf.reshape((tf.repeat(x, per, axis=0) - rs) * multipliers, by_sequence), axis=[2, 3])
        results["delta"] = tf.reduce_mean(v_x[:, None] - tf.reshape(v_r, [count, per]) - summed, axis=1)
        results["gradient"] = tf.reduce_mean(tf.reshape(multipliers, by_sequence), axis=1)
        return results


def run_deeplift(kernel: DeepLiftKernel, x: np.ndarray, references: np.ndarray, hypothetical: bool,
                 max_points: int, progress: Progress = SILENT, slot: int = 0) -> dict[str, np.ndarray]:
    """DeepSHAP maps of ``x (N, L, A)`` against ``references (N, K, L, A)`` in calls of at
    most ``max_points`` model evaluations (K + 1 per sequence), for unit ``slot`` of a
    per-target kernel; ``angles`` from the mean multipliers."""
    per = references.shape[1]
    chunk = max(1, max_points // (per + 1))
    function = kernel.function(hypothetical)
    unit = tf.constant(slot, tf.int32)  # a tensor, so that every unit uses the same trace
    parts = []
    for i in range(0, len(x), chunk):
        parts.append({k: v.numpy() for k, v in function(x[i : i + chunk], references[i : i + chunk], unit).items()})
        progress.advance(len(parts[-1]["delta"]))
    result = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    result["angles"] = simplex_angle(result.pop("gradient")).numpy()
    return result
