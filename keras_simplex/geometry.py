"""Simplex geometry of one-hot inputs: projection, gauge fixing and gradient angles.

A one-hot position lives on the probability simplex ``sum_a x_a = 1``: a hyperplane whose
normal is the all-ones vector ``n = (1, ..., 1) / sqrt(A)``. Gradients are split into the
part parallel to that hyperplane (supported by data) and the part along ``n`` (unsupported,
noise). Every function here is a pure TensorFlow op over the last (alphabet) axis: it works
eagerly, inside ``tf.function`` and under XLA, for any alphabet size ``A >= 2`` and for
float16/32/64 inputs of any rank (typically ``(N, L, A)``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

import tensorflow as tf

from keras_simplex.validation import check_layout

DEFAULT_ANGLE_THRESHOLDS = (30.0, 45.0, 60.0)


def project_to_simplex(gradient: tf.Tensor) -> tf.Tensor:
    """Orthogonal projection onto the simplex's tangent space (the paper's correction).

    Subtracts the per-position mean over the alphabet: ``g - mean_a(g)``.

    Args:
      gradient: ``(..., A)`` tensor, e.g. ``(N, L, A)`` input gradients.

    Returns:
      Tensor of the same shape and dtype whose per-position sums are zero.
    """
    gradient = tf.convert_to_tensor(gradient)
    return gradient - tf.reduce_mean(gradient, axis=-1, keepdims=True)


def fix_gauge(gradient: tf.Tensor, background: tf.Tensor) -> tf.Tensor:
    """Background-weighted gauge: ``g - sum_a w_a g_a`` at every position.

    On the simplex only differences between letters are observable, so attributions are
    defined up to adding a constant per position (a gauge). ``project_to_simplex`` fixes the
    gauge with uniform weights (the orthogonal projection). This variant uses weights ``w``
    (e.g. the base composition) so that the background-expected score at each position is
    zero. It is *not* orthogonal for non-uniform ``w`` (per-position sums are not zero), but
    every directional derivative along the simplex, ``d . g`` with ``sum_a d_a = 0``, is
    unchanged, exactly as with the orthogonal projection.

    Args:
      gradient: ``(..., A)`` tensor.
      background: ``(A,)`` or broadcastable ``(..., A)`` non-negative weights summing to 1
        over the alphabet (normalised here).

    Returns:
      Tensor of the same shape as ``gradient``.
    """
    gradient = tf.convert_to_tensor(gradient)
    weights = tf.cast(tf.convert_to_tensor(background), gradient.dtype)
    weights = weights / tf.reduce_sum(weights, axis=-1, keepdims=True)
    return gradient - tf.reduce_sum(gradient * weights, axis=-1, keepdims=True)


def simplex_angle(gradient: tf.Tensor) -> tf.Tensor:
    """Signed angle between the gradient and the simplex at each position, in degrees.

    ``theta = arcsin(sum_a g_a / (sqrt(A) * ||g||))`` in ``[-90, 90]``: 0 means the gradient
    lies in the simplex, +-90 means it points straight off it. A zero gradient has angle 0
    (never NaN), and the function is differentiable everywhere a gradient is non-zero and not
    exactly normal to the simplex, so it can be used inside training losses. The angle does
    not depend on the gradient's scale (``g`` and ``c * g`` give the same angle for any
    ``c > 0``, from subnormals to float32's largest values): it is computed in float64 from
    the exact values and returned in the gradient's dtype.

    Args:
      gradient: ``(..., A)`` tensor.

    Returns:
      ``(...)`` tensor of angles in degrees, same dtype as ``gradient``.
    """
    gradient = tf.convert_to_tensor(gradient)
    return tf.cast(tf.asin(simplex_sine(gradient)) * (180.0 / math.pi), gradient.dtype)


def simplex_sine(gradient: tf.Tensor) -> tf.Tensor:
    """``sin(theta)`` of ``simplex_angle``, ``(...)`` float64 in ``[-1, 1]``, 0 for a zero gradient."""
    gradient = tf.convert_to_tensor(gradient)
    size = gradient.shape[-1]
    if size is None or size < 2:
        raise ValueError(f"simplex_angle needs a known alphabet axis of size >= 2, got {size}")
    # Computed in float64 from the exact values (``exact_float64``: denormals included), each
    # position rescaled by its largest |g_a| (the angle does not depend on the scale), so
    # gradients of 1e-40 or 1e38 square neither to zero nor to infinity.
    scaled = exact_float64(gradient)
    peak = tf.stop_gradient(tf.reduce_max(tf.abs(scaled), axis=-1, keepdims=True))
    scaled = scaled / tf.where(peak > 0, peak, tf.ones_like(peak))
    norm_sq = tf.reduce_sum(tf.square(scaled), axis=-1)
    nonzero = norm_sq > 0
    # Double-where keeps the gradient of this op finite at g = 0.
    safe_norm = tf.sqrt(tf.where(nonzero, norm_sq, tf.ones_like(norm_sq)))
    sine = tf.reduce_sum(scaled, axis=-1) / (math.sqrt(size) * safe_norm)
    return tf.where(nonzero, tf.clip_by_value(sine, -1.0, 1.0), tf.zeros_like(sine))


# (total bits, exponent bits, mantissa bits) of the float types read bit by bit
_FLOAT_LAYOUTS = {tf.float32: (32, 8, 23), tf.float16: (16, 5, 10), tf.bfloat16: (16, 8, 7)}


def exact_float64(x: tf.Tensor) -> tf.Tensor:
    """``x`` as float64, exactly, subnormal values included.

    TensorFlow's CPU kernels read float32 subnormals (below 1.2e-38) as zero, so a plain
    cast loses them; here each value is rebuilt from its bits with integer ops. The result's
    gradient is that of the plain cast (the value is exact; the derivative is 1).
    """
    if x.dtype not in _FLOAT_LAYOUTS:
        return tf.cast(x, tf.float64)
    bits, exponent_bits, mantissa_bits = _FLOAT_LAYOUTS[x.dtype]
    shift, mask = tf.bitwise.right_shift, tf.bitwise.bitwise_and
    raw = mask(tf.cast(tf.bitcast(x, tf.int32 if bits == 32 else tf.int16), tf.int64), tf.constant(2**bits - 1, tf.int64))
    exponent = mask(shift(raw, tf.constant(mantissa_bits, tf.int64)), tf.constant(2**exponent_bits - 1, tf.int64))
    mantissa = mask(raw, tf.constant(2**mantissa_bits - 1, tf.int64))
    significand = tf.where(exponent > 0, mantissa + 2**mantissa_bits, mantissa)
    power = tf.maximum(exponent, 1) - (2 ** (exponent_bits - 1) - 1) - mantissa_bits
    value = tf.cast(significand, tf.float64) * tf.pow(tf.constant(2.0, tf.float64), tf.cast(power, tf.float64))
    value = tf.where(shift(raw, tf.constant(bits - 1, tf.int64)) == 1, -value, value)
    plain = tf.cast(x, tf.float64)
    value = tf.where(exponent == 2**exponent_bits - 1, plain, value)  # inf and NaN as they are
    return plain + tf.stop_gradient(value - plain)


def large_angle_fraction(
    angles: tf.Tensor,
    thresholds: Sequence[float] = DEFAULT_ANGLE_THRESHOLDS,
) -> tf.Tensor:
    """Per-sequence fraction of positions whose ``|angle|`` exceeds each threshold.

    Args:
      angles: ``(N, L)`` angles in degrees (from ``simplex_angle``).
      thresholds: thresholds in degrees; the paper uses 30, 45 and 60.

    Returns:
      ``(N, T)`` fractions in ``[0, 1]`` (multiply by 100 for the paper's percentages).
    """
    angles = tf.convert_to_tensor(angles)
    if angles.shape.rank is not None and angles.shape.rank < 1:
        raise ValueError("large_angle_fraction expects angles of shape (N, L)")
    limits = tf.constant(list(thresholds), dtype=angles.dtype)
    above = tf.abs(angles)[..., None] > limits  # (N, L, T)
    return tf.reduce_mean(tf.cast(above, angles.dtype), axis=-2)


def diagnose_maps(gradients: Any, thresholds: Sequence[float] = DEFAULT_ANGLE_THRESHOLDS) -> dict[str, np.ndarray]:
    """The simplex diagnosis of gradient maps made by any tool (tangermeme, CREsted, captum...).

    Args:
      gradients: ``(N, L, A)`` input gradients (saliency, SmoothGrad, path-averaged or
        hypothetical maps; not gradient x input, whose zeros at unobserved letters hide the
        off-simplex component).
      thresholds: angle thresholds in degrees.

    Returns:
      ``angles (N, L)`` in degrees, ``corrected (N, L, A)`` (the per-position mean removed)
      and ``large_angle_fraction (N, len(thresholds))`` in [0, 1].
    """
    gradients = np.asarray(gradients)
    if gradients.ndim != 3 or gradients.shape[-1] < 2:
        raise ValueError(f"maps must be (N, L, A) with A >= 2, got shape {gradients.shape}")
    check_layout(gradients.shape, False, "maps", "pass np.swapaxes(maps, 1, 2)")
    if not np.isfinite(gradients).all():
        raise ValueError("maps contain NaN or infinite values")
    angles = simplex_angle(gradients).numpy()
    return {"angles": angles, "corrected": project_to_simplex(gradients).numpy(),
            "large_angle_fraction": large_angle_fraction(angles, thresholds).numpy()}
