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
from typing import Sequence

import tensorflow as tf

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
    exactly normal to the simplex, so it can be used inside training losses.

    Args:
      gradient: ``(..., A)`` tensor.

    Returns:
      ``(...)`` tensor of angles in degrees, same dtype as ``gradient``.
    """
    gradient = tf.convert_to_tensor(gradient)
    size = gradient.shape[-1]
    if size is None or size < 2:
        raise ValueError(f"simplex_angle needs a known alphabet axis of size >= 2, got {size}")
    norm_sq = tf.reduce_sum(tf.square(gradient), axis=-1)
    nonzero = norm_sq > 0
    # Double-where keeps the gradient of this op finite at g = 0.
    safe_norm = tf.sqrt(tf.where(nonzero, norm_sq, tf.ones_like(norm_sq)))
    sine = tf.reduce_sum(gradient, axis=-1) / (math.sqrt(size) * safe_norm)
    sine = tf.where(nonzero, tf.clip_by_value(sine, -1.0, 1.0), tf.zeros_like(sine))
    return tf.asin(sine) * tf.constant(180.0 / math.pi, dtype=gradient.dtype)


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
