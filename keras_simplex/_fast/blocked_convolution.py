"""Input gradients of narrow 1D convolutions, computed on blocks of positions.

The input gradient of a ``Conv1D`` is itself a convolution whose output channels are the
layer's input channels: 4 for one-hot DNA. CPU vector units hold 16 float32 values, so that
step runs a quarter full; it took about a fifth of CNN-deep's input-gradient time. Grouping
``s`` consecutive positions into one (space-to-depth) turns it into an equivalent convolution
with ``s * A`` output channels and ``ceil((K + s - 1) / s)`` taps: the same products and
sums (about 1.26x the multiply-adds at K=19, s=4, the extra ones by zero weights), about 2x
faster. The forward convolution is unchanged, and the kernel's own gradient too.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

VECTOR_LANES = 16  # float32 values in a 512-bit vector register


def block_size(layer: Any, low_precision: bool = False) -> int | None:
    """Positions per block for the input gradient of ``layer``, or None when the layer is not
    a plain stride-1 ``Conv1D`` (exactly that class, "same"/"valid" padding, channels-last, no
    dilation, groups, LoRA or quantization; float32, or bfloat16 compute over float32 variables
    with ``low_precision``) with fewer input channels than ``VECTOR_LANES``."""
    if type(layer) is not keras.layers.Conv1D or layer.padding not in ("same", "valid"):
        return None
    if tuple(layer.strides) != (1,) or tuple(layer.dilation_rate) != (1,) or layer.groups != 1:
        return None
    if layer.data_format != "channels_last" or getattr(layer, "lora_enabled", False):
        return None
    allowed = ("float32", "bfloat16") if low_precision else ("float32",)  # compute dtypes over float32 variables
    if getattr(layer, "quantization_mode", None) or layer.variable_dtype != "float32" or layer.compute_dtype not in allowed:
        return None
    channels = layer.kernel.shape[1]
    return -(-VECTOR_LANES // channels) if channels < VECTOR_LANES else None


def blocked_conv1d(inputs: tf.Tensor, kernel: tf.Tensor, padding: str, block: int) -> tf.Tensor:
    """``conv1d(inputs, kernel)`` with stride 1 and ``padding`` ("same" or "valid"), whose
    gradient with respect to ``inputs`` is computed on blocks of ``block`` positions.

    Shapes: inputs ``(N, L, A)``, kernel ``(K, A, C)``, result ``(N, L_out, C)``.
    """
    size = kernel.shape[0]
    left, right = (((size - 1) // 2, size - 1 - (size - 1) // 2) if padding == "same" else (0, 0))

    @tf.custom_gradient
    def convolve(x, w):
        outputs = tf.nn.conv1d(x, w, 1, padding.upper())

        def gradient(upstream):
            # The transposed convolution: flipped taps, channels swapped, padding mirrored.
            transposed = tf.transpose(tf.reverse(w, [0]), [0, 2, 1])
            x_gradient = _blocked_valid_conv1d(upstream, transposed, size - 1 - left, size - 1 - right, block)
            with tf.GradientTape() as tape:  # pruned from compiled graphs when unused
                tape.watch(w)
                again = tf.nn.conv1d(x, w, 1, padding.upper())
            return x_gradient, tape.gradient(again, w, output_gradients=upstream)

        return outputs, gradient

    return convolve(inputs, tf.convert_to_tensor(kernel))


def _blocked_valid_conv1d(x: tf.Tensor, kernel: tf.Tensor, left: int, right: int, block: int) -> tf.Tensor:
    """``conv1d(pad(x, (left, right)), kernel, "VALID")`` as a convolution over blocks of
    ``block`` positions: ``(N, L, A)`` -> ``(N, L + left + right - K + 1, C)``."""
    size, channels_in, channels_out = kernel.shape
    taps = -(-(size + block - 1) // block)
    # blocked[j, q, r] = kernel[block * j + q - r]: input offset q in block m + j feeds output
    # offset r in block m; indices outside the kernel select zero rows padded around it.
    index = block * np.arange(taps)[:, None, None] + np.arange(block)[:, None] - np.arange(block) + block - 1
    padded_kernel = tf.pad(kernel, [[block - 1, block * taps], [0, 0], [0, 0]])
    blocked = tf.transpose(tf.gather(padded_kernel, index), [0, 1, 3, 2, 4])
    blocked = tf.reshape(blocked, (taps, block * channels_in, block * channels_out))
    batch, length = tf.shape(x)[0], tf.shape(x)[1]
    out_length = length + left + right - size + 1
    blocks = (out_length + block - 1) // block
    x = tf.pad(x, [[0, 0], [left, block * (blocks + taps - 1) - length - left], [0, 0]])
    x = tf.reshape(x, (batch, blocks + taps - 1, block * channels_in))
    outputs = tf.nn.conv1d(x, blocked, 1, "VALID")
    return tf.reshape(outputs, (batch, blocks * block, channels_out))[:, :out_length]


def blocked_call(layer: keras.layers.Conv1D, block: int) -> Callable:
    """``layer``'s inference call (convolution, bias, activation) with blocked input gradients;
    weights and activation are read at every call."""

    def call(inputs, **_):
        inputs = tf.cast(inputs, layer.compute_dtype)  # as the layer's own call does
        outputs = blocked_conv1d(inputs, tf.cast(layer.kernel, inputs.dtype), layer.padding, block)
        if layer.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(layer.bias, inputs.dtype))
        return layer.activation(outputs)

    return call
