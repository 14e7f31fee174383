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

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from keras_simplex.progress import SILENT, Progress
from keras_simplex.targets import target_values

FORWARD_ONLY = 4  # a mutant is a forward pass, which keeps no activations for a backward one:
# ISM calls hold up to 4 x max_points of them (about the memory of max_points gradient points)


def ism_positions(positions: slice | Sequence[int] | None, length: int) -> np.ndarray:
    """The positions to mutate as an int32 array (None: all ``length``); checked in range."""
    if positions is None:
        return np.arange(length, dtype=np.int32)
    if isinstance(positions, slice):
        chosen = np.arange(length)[positions]
    else:
        chosen = np.asarray(positions)
        if chosen.size == 0:
            raise ValueError(f"positions {positions!r} select no position")
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
      mutants: ``mutants(x, positions, letters) -> outputs`` of ``x (C, L, A)`` followed by its
        mutants with ``letters (C, P, S, A)`` at ``positions (P,)``, ordered ``(C, P, S)``, in
        place of one full forward pass over them (``keras_simplex._fast.windowed_ism``).

    ``function(x, positions, one_hot)``: with ``one_hot`` (every mutated position of the chunk
    is one-hot) only the A - 1 substitutions per position are evaluated; otherwise all A
    letters. It is traced once per sequence length and ``one_hot``, for any number of sequences
    and positions.
    """

    def __init__(self, forward, target, per_target, alphabet_size: int, dtype: tf.DType, jit_compile: bool,
                 mutants: Callable | None = None) -> None:
        self.forward, self.target, self.per_target, self.mutants = forward, target, per_target, mutants
        self.alphabet_size, self.dtype, self.jit_compile = alphabet_size, dtype, jit_compile
        self._compiled = tf.function(self._deltas, jit_compile=jit_compile, autograph=False)
        self._traced: dict[tuple[int, bool], Callable] = {}

    def function(self, x: tf.Tensor, positions: tf.Tensor, one_hot: bool) -> tf.Tensor:
        """The deltas of ``x (C, L, A)`` at ``positions (P,)`` (see the class)."""
        key = (int(x.shape[1]), bool(one_hot))
        if key not in self._traced:
            self._traced[key] = self._compiled.get_concrete_function(
                tf.TensorSpec([None, key[0], self.alphabet_size], self.dtype), tf.TensorSpec([None], tf.int32), key[1])
        return self._traced[key](tf.convert_to_tensor(x, self.dtype), tf.convert_to_tensor(positions, tf.int32))

    def _deltas(self, x, positions, one_hot: bool):
        """``x (C, L, A)``, ``positions (P,)`` -> ``(C, P, A)`` deltas (``(C, T, P, A)``)."""
        size = self.alphabet_size
        shape = tf.shape(x)
        at = tf.one_hot(positions, shape[1], on_value=True, off_value=False)[None, :, None, :, None]  # (1, P, 1, L, 1)
        if one_hot:  # letters (observed + j) mod A, j = 1..A-1: every substitution once
            observed = tf.argmax(tf.gather(x, positions, axis=1), axis=-1, output_type=tf.int32)  # (C, P)
            letters = tf.one_hot((observed[..., None] + tf.range(1, size)) % size, size, dtype=x.dtype)  # (C, P, A-1, A)
        else:  # every letter: positions that are not one-hot change under all of them
            letters = tf.broadcast_to(tf.eye(size, dtype=x.dtype), tf.stack([shape[0], tf.size(positions), size, size]))
        if self.mutants is not None:
            outputs = self.mutants(x, positions, letters)
        else:
            mutants = tf.where(at, letters[:, :, :, None, :], x[:, None, None])  # (C, P, S, L, A)
            outputs = self.forward(tf.concat([x, tf.reshape(mutants, tf.concat([[-1], shape[1:]], axis=0))], axis=0))
        values = target_values(outputs, self.target, self.per_target, x.dtype)
        reference, mutated = values[: shape[0]], values[shape[0] :]
        substitutes = tf.shape(letters)[2]
        if self.per_target is None:
            deltas = tf.reshape(mutated, [shape[0], -1, substitutes]) - reference[:, None, None]
            deltas = tf.einsum("cps,cpsa->cpa", deltas, letters)  # each delta at its letter
        else:
            deltas = tf.reshape(mutated, [shape[0], -1, substitutes, len(self.per_target)]) - reference[:, None, None, :]
            deltas = tf.einsum("cpst,cpsa->ctpa", deltas, letters)
        if one_hot:
            return deltas  # 0 at the observed letters, which no substitute is
        observed = tf.gather(x, positions, axis=1) == 1  # one-hot letters: exactly 0
        if self.per_target is not None:
            observed = observed[:, None]
        return tf.where(observed, tf.zeros_like(deltas), deltas)


def run_ism(kernel: MutagenesisKernel, x: np.ndarray, positions: np.ndarray, max_points: int,
            mean_centered: bool = False, progress: Progress = SILENT) -> np.ndarray:
    """ISM of ``x (N, L, A)`` at ``positions (P,)`` in calls of at most ``FORWARD_ONLY x
    max_points`` model evaluations (mutants plus the unmutated sequences): ``(N, P, A)``
    (``(N, T, P, A)``)."""
    max_points *= FORWARD_ONLY
    size = x.shape[-1]
    chosen = x[:, positions]
    one_hot = bool(np.all((chosen == 0) | (chosen == 1)) and np.all(chosen.sum(-1) == 1))
    substitutes = size - 1 if one_hot else size
    per_sequence = len(positions) * substitutes + 1
    if per_sequence <= max_points:
        chunk, block = max(1, max_points // per_sequence), len(positions)
    else:
        chunk, block = 1, max(1, (max_points - 1) // substitutes)
    pieces = []
    for first in range(0, len(x), chunk):
        x_chunk = x[first : first + chunk]
        parts = [kernel.function(x_chunk, positions[p : p + block], one_hot).numpy()
                 for p in range(0, len(positions), block)]
        pieces.append(np.concatenate(parts, axis=-2))
        progress.advance(len(x_chunk))
    deltas = np.concatenate(pieces)
    return deltas - deltas.mean(axis=-1, keepdims=True) if mean_centered else deltas


def taylor_ism(gradient: np.ndarray, x: np.ndarray) -> np.ndarray:
    """First-order ISM from the gradient ``(N, [T,] L, A)`` at ``x (N, L, A)``:
    ``g[l, b] - <x[l], g[l]>``."""
    x = x if gradient.ndim == x.ndim else x[:, None]
    return gradient - np.sum(x * gradient, axis=-1, keepdims=True)
