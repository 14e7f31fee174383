"""``Conv1D`` layers evaluated for input gradients: a fusable forward and a cheaper backward.

Two things make TensorFlow's own ``Conv1D`` slower than it needs to be here:

- Its recorded gradient (``conv1d`` is ExpandDims, Conv2D, Squeeze) reads the shape of the
  Conv2D's output, a second consumer that stops TensorFlow's graph optimizer from fusing the
  convolution with the bias add after it (oneDNN's fused convolution). Here the convolution
  runs inside a custom gradient whose input gradient is the transposed convolution, so the
  forward fuses: 7% faster input gradients of the paper's CNN-deep. The bias add and an
  epilogue (``keras_simplex._fast.epilogue``: the activation, and pooling after it) are
  applied before the Squeeze, so that a ReLU fuses too (after a Squeeze only the bias add
  fuses; dilated convolutions, computed through space-to-batch, fuse neither).
- The input gradient of a layer with few input channels (the first layer on one-hot DNA) is a
  convolution with that many output channels, 4 for DNA, which fills a quarter of a 16-float
  vector register: it took about a fifth of CNN-deep's input-gradient time. Grouping ``s``
  consecutive positions into one (space-to-depth) turns it into an equivalent convolution
  with ``s * A`` output channels over blocks (7 taps at K=19, s=4, its zero padding given to
  the convolution so the upstream gradient is not copied): the same products and sums (1.47x
  the multiply-adds there, the extra ones by zero weights), about 2x faster.

The convolution that alone reads a model's one-hot input can also return its input gradient
already corrected (``projects``, within ``projected_input_gradients``): projecting onto the
simplex's tangent space (``keras_simplex.geometry.project_to_simplex``) subtracts the mean over
the alphabet, a linear map on the input channels that commutes with the transposed
convolution, so the transposed convolution with the kernel centred over its input channels
gives the projected gradient at no cost, sparing the projection's two passes over the maps
(its compiled saliency call on CNN-deep 3.7% faster).

The kernel's own gradient is TensorFlow's (computed only when asked for).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

VECTOR_LANES = 16  # float32 values in a 512-bit vector register
_projecting = threading.local()  # .active: inside projected_input_gradients (while tracing)


@contextlib.contextmanager
def projected_input_gradients() -> Iterator[None]:
    """Gradients traced within are projected at the convolutions built with ``projects``:
    their input gradient is that of the kernel centred over its input channels."""
    previous = getattr(_projecting, "active", False)
    _projecting.active = True
    try:
        yield
    finally:
        _projecting.active = previous


def centred_over_inputs(kernel: tf.Tensor) -> tf.Tensor:
    """``kernel (K, A, C)`` minus its mean over the input channels ``A`` (in float32)."""
    wide = tf.cast(kernel, tf.float32)
    return tf.cast(wide - tf.reduce_mean(wide, axis=1, keepdims=True), kernel.dtype)


def rewritable(layer: Any, low_precision: bool = False) -> bool:
    """Whether ``layer`` is a plain ``Conv1D`` (exactly that class; channels-last, one group,
    no LoRA or quantization; float32, or bfloat16 compute over float32 variables with
    ``low_precision``) that ``convolution_call`` can evaluate."""
    if type(layer) is not keras.layers.Conv1D or layer.padding not in ("same", "valid", "causal"):
        return False
    if layer.groups != 1 or layer.data_format != "channels_last" or getattr(layer, "lora_enabled", False):
        return False
    allowed = ("float32", "bfloat16") if low_precision else ("float32",)  # compute dtypes over float32 variables
    return (not getattr(layer, "quantization_mode", None) and layer.variable_dtype == "float32"
            and layer.compute_dtype in allowed)


def block_size(layer: Any, low_precision: bool = False) -> int | None:
    """Positions per block for the input gradient of ``layer``, or None when the layer is not
    ``rewritable`` with stride 1, no dilation and fewer input channels than ``VECTOR_LANES``."""
    if not rewritable(layer, low_precision):
        return None
    if tuple(layer.strides) != (1,) or tuple(layer.dilation_rate) != (1,):
        return None
    channels = layer.kernel.shape[1]
    return -(-VECTOR_LANES // channels) if channels < VECTOR_LANES else None


def conv1d(inputs: tf.Tensor, kernel: tf.Tensor, padding: str = "valid", strides: int = 1, dilation: int = 1,
           block: int | None = None, bias: tf.Tensor | None = None, epilogue: Callable | None = None,
           projects: bool = False) -> tf.Tensor:
    """``Conv1D``'s convolution of ``inputs (N, L, A)`` with ``kernel (K, A, C)``, plus ``bias (C,)``
    if given, then ``epilogue`` if given (a function of the ``(N, 1, L_out, C)`` result, such as
    an activation): ``(N, L', C')``. ``padding`` "same", "valid" or "causal" as Keras pads; the
    input gradient is the transposed convolution, on blocks of ``block`` positions if given
    (stride 1, no dilation). Convolution, bias and epilogue run on ``(N, 1, L, C)`` tensors, as
    TensorFlow's ``conv1d`` convolves (the same Conv2D): a bias add and ReLU after a Conv2D fuse
    into it, after a Squeeze they do not. ``projects``: within ``projected_input_gradients``,
    the input gradient is projected onto the simplex's tangent space over ``A``."""
    if padding == "causal":  # as Conv1D.call: pad on the left, then "valid"
        inputs = tf.pad(inputs, [[0, 0], [dilation * (kernel.shape[0] - 1), 0], [0, 0]])
        padding = "valid"

    def convolve(x, w):  # as Keras convolves: the same rounding
        if dilation == 1:  # tf.nn.convolution's conv1d: this Conv2D between an ExpandDims and a Squeeze
            return tf.nn.conv2d(tf.expand_dims(x, 1), tf.expand_dims(w, 0), [1, 1, strides, 1], padding.upper())
        return tf.expand_dims(tf.nn.convolution(x, w, strides=strides, padding=padding.upper(), dilations=dilation), 1)

    @tf.custom_gradient
    def convolution(x, w):
        def gradient(upstream):
            flat = tf.squeeze(upstream, 1)
            transposed = centred_over_inputs(w) if projects and getattr(_projecting, "active", False) else w
            if block:
                x_gradient = _blocked_input_gradient(flat, transposed, padding, block, tf.shape(x)[1])
            else:
                x_gradient = tf.nn.conv1d_transpose(flat, transposed, tf.shape(x), strides, padding.upper(),
                                                    dilations=dilation)
            with tf.GradientTape() as tape:  # pruned from compiled graphs when unused
                tape.watch(w)
                again = convolve(x, w)
            return x_gradient, tape.gradient(again, w, output_gradients=upstream)

        return convolve(x, w), gradient

    outputs = convolution(inputs, tf.convert_to_tensor(kernel))
    if bias is not None:
        outputs = tf.nn.bias_add(outputs, bias)
    if epilogue is not None:
        outputs = epilogue(outputs)
    return tf.squeeze(outputs, 1)


def _blocked_input_gradient(upstream: tf.Tensor, kernel: tf.Tensor, padding: str, block: int,
                            length: tf.Tensor) -> tf.Tensor:
    """The input gradient of a stride-1 convolution with ``kernel (K, A, C)`` and ``padding``
    ("same" or "valid") at ``upstream (N, L_out, C)``: ``(N, length, A)``, computed as one
    convolution over blocks of ``block`` positions.

    With ``left`` the convolution's left padding, input position ``i`` receives
    ``sum_k upstream[i + left - k] @ kernel[k].T``. In blocks, ``i = block * m + q`` and the
    upstream position ``block * (m + j - P) + r`` contributes through tap
    ``k = block * (P - j) + q - r + left``: a convolution over blocks with ``taps`` taps, ``P``
    blocks of zero padding on the left (given to the convolution, so the upstream is never
    copied when its length is a multiple of ``block``), weights zero where ``k`` is outside the
    kernel."""
    size, channels_in, channels_out = kernel.shape
    left = (size - 1) // 2 if padding == "same" else 0
    # Block offsets d = P - j reach the kernel (0 <= block * d + q - r + left < size for some
    # q - r in [1 - block, block - 1]) from d = -floor((left + block - 1) / block) to P:
    pad_left = (size + block - 2 - left) // block
    taps = pad_left + (left + block - 1) // block + 1
    j = np.arange(taps)[:, None, None]
    index = block * (pad_left - j) + np.arange(block)[None, None, :] - np.arange(block)[None, :, None] + left  # (j, r, q)
    padded_kernel = tf.concat([kernel, tf.zeros((1, channels_in, channels_out), kernel.dtype)], axis=0)
    blocked = tf.gather(padded_kernel, np.where((index >= 0) & (index < size), index, size))  # (j, r, q, A, C)
    blocked = tf.reshape(tf.transpose(blocked, [0, 1, 4, 2, 3]), (taps, block * channels_out, block * channels_in))
    batch, upstream_length = tf.shape(upstream)[0], tf.shape(upstream)[1]
    blocks = (upstream_length + block - 1) // block
    upstream = tf.pad(upstream, [[0, 0], [0, blocks * block - upstream_length], [0, 0]])  # no copy when 0
    upstream = tf.reshape(upstream, (batch, 1, blocks, block * channels_out))
    extra = 0 if padding == "same" else -(-(size - 1) // block)  # "valid": the input is K - 1 longer
    paddings = [[0, 0], [0, 0], [pad_left, taps - 1 - pad_left + extra], [0, 0]]
    gradient = tf.nn.conv2d(upstream, blocked[None], 1, paddings)
    return tf.reshape(gradient, (batch, -1, channels_in))[:, :length]


def layer_conv1d(layer: keras.layers.Conv1D, inputs: tf.Tensor, kernel: tf.Tensor, block: int | None,
                 bias: tf.Tensor | None = None, epilogue: Callable | None = None, projects: bool = False) -> tf.Tensor:
    """``conv1d`` with ``layer``'s padding, stride and dilation."""
    return conv1d(inputs, kernel, layer.padding, layer.strides[0], layer.dilation_rate[0], block, bias, epilogue,
                  projects)


def convolution_call(layer: keras.layers.Conv1D, block: int | None = None, epilogue: Callable | None = None,
                     projects: bool = False) -> Callable:
    """``layer``'s inference call through ``conv1d``: convolution, bias, then ``epilogue`` (on
    ``(N, 1, L, C)``) in place of the layer's activation if given, else the activation (read at
    every call, on ``(N, L, C)``); weights are read at every call. ``projects``: see ``conv1d``."""

    def call(inputs, **_):
        inputs = tf.cast(inputs, layer.compute_dtype)  # as the layer's own call does
        bias = tf.cast(layer.bias, inputs.dtype) if layer.use_bias else None
        outputs = layer_conv1d(layer, inputs, tf.cast(layer.kernel, inputs.dtype), block, bias, epilogue, projects)
        return outputs if epilogue is not None else layer.activation(outputs)

    return call
