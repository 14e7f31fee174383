"""In-silico mutagenesis (ISM): the change of the target for every single-letter substitution.

``ism[n, l, b] = f(x[n] with position l set to letter b) - f(x[n])``, ``(N, L, A)``: 0 at the
observed letter of one-hot positions (a position that is not one-hot, e.g. N as 0.25, gets a
value for every letter). All mutants of a chunk of sequences and positions go through the
model's verified (rewritten) forward pass in one compiled call, with the unmutated sequences
in the same batch.

The first-order approximation from one gradient, "Taylor ISM", is
``g[l, b] - <x[l], g[l]>`` (for one-hot ``x``: ``g[l, b] - g[l, x_l]``), which is also the
hypothetical form of the *corrected* gradient: subtracting the per-position mean from ``g``
changes both terms equally. ISM is the exact finite difference of which the corrected
gradient is the linearisation.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from keras_simplex.targets import target_values


def ism_positions(positions: slice | Sequence[int] | None, length: int) -> np.ndarray:
    """The positions to mutate as an int32 array (None: all ``length``); checked in range."""
    if positions is None:
        return np.arange(length, dtype=np.int32)
    if isinstance(positions, slice):
        chosen = np.arange(length)[positions]
    else:
        chosen = np.asarray(positions)
        if chosen.ndim != 1 or not np.issubdtype(chosen.dtype, np.integer):
            raise TypeError(f"positions must be a slice or a list of integers, got {positions!r}")
        if ((chosen < -length) | (chosen >= length)).any():
            raise ValueError(f"positions {positions!r} are out of range for sequences of length {length}")
        chosen = chosen % length
    if not len(chosen):
        raise ValueError(f"positions {positions!r} select no position")
    return chosen.astype(np.int32)


class MutagenesisKernel:
    """Compiled ISM of one forward function and target.

    Args:
      forward: ``forward(x) -> outputs`` (the engine's verified forward).
      target: the engine's target; ``per_target``: its units with a map each, or None.
      alphabet_size, dtype: the input spec; ``jit_compile``: XLA.
    """

    def __init__(self, forward, target, per_target, alphabet_size: int, dtype: tf.DType, jit_compile: bool) -> None:
        self.forward, self.target, self.per_target = forward, target, per_target
        self.alphabet_size, self.dtype = alphabet_size, dtype
        self.function = tf.function(self._deltas, jit_compile=jit_compile, reduce_retracing=True)

    def _deltas(self, x, positions):
        """``x (C, L, A)``, ``positions (P,)`` -> ``(C, P, A)`` deltas (``(C, T, P, A)``)."""
        size = self.alphabet_size
        shape = tf.shape(x)
        at = tf.one_hot(positions, shape[1], on_value=True, off_value=False)  # (P, L)
        letters = tf.eye(size, dtype=x.dtype)  # letter b as a one-hot row
        mutants = tf.where(at[None, :, None, :, None], letters[None, None, :, None, :], x[:, None, None])
        flat = tf.reshape(mutants, tf.concat([[-1], shape[1:]], axis=0))
        values = target_values(self.forward(tf.concat([x, flat], axis=0)), self.target, self.per_target, x.dtype)
        reference, mutated = values[: shape[0]], values[shape[0] :]
        count = tf.shape(positions)[0]
        if self.per_target is None:
            deltas = tf.reshape(mutated, [shape[0], count, size]) - reference[:, None, None]
        else:
            targets = len(self.per_target)
            deltas = tf.reshape(mutated, [shape[0], count, size, targets]) - reference[:, None, None, :]
            deltas = tf.transpose(deltas, [0, 3, 1, 2])  # (C, T, P, A)
        observed = tf.gather(x, positions, axis=1) == 1  # one-hot letters: exactly 0
        if self.per_target is not None:
            observed = observed[:, None]
        return tf.where(observed, tf.zeros_like(deltas), deltas)


def run_ism(kernel: MutagenesisKernel, x: np.ndarray, positions: np.ndarray, max_points: int,
            mean_centered: bool = False) -> np.ndarray:
    """ISM of ``x (N, L, A)`` at ``positions (P,)`` in calls of at most ``max_points`` model
    evaluations (mutants plus the unmutated sequences): ``(N, P, A)`` (``(N, T, P, A)``)."""
    size = x.shape[-1]
    per_sequence = len(positions) * size + 1
    if per_sequence <= max_points:
        chunk, block = max(1, max_points // per_sequence), len(positions)
    else:
        chunk, block = 1, max(1, (max_points - 1) // size)
    pieces = []
    for first in range(0, len(x), chunk):
        x_chunk = x[first : first + chunk]
        parts = [kernel.function(x_chunk, positions[p : p + block]).numpy() for p in range(0, len(positions), block)]
        pieces.append(np.concatenate(parts, axis=-2))
    deltas = np.concatenate(pieces)
    return deltas - deltas.mean(axis=-1, keepdims=True) if mean_centered else deltas


def taylor_ism(gradient: np.ndarray, x: np.ndarray) -> np.ndarray:
    """First-order ISM from the gradient ``(N, [T,] L, A)`` at ``x (N, L, A)``:
    ``g[l, b] - <x[l], g[l]>``."""
    x = x if gradient.ndim == x.ndim else x[:, None]
    return gradient - np.sum(x * gradient, axis=-1, keepdims=True)
