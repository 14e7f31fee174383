"""Reference sequences (baselines) for integrated and expected gradients.

Every generator returns an array of shape ``(N, B, L, A)``: B baselines for each of the N
sequences (or ``(1, B, L, A)`` when the baselines are shared by all sequences). Shuffles of a
sequence depend only on that sequence and the seed (``keras_simplex.seeding``), not on the
rest of the batch.
"""


from __future__ import annotations

from typing import Any

import numpy as np

from keras_simplex.seeding import resolve_seed, sequence_keys, substream_keys, uniform

_SORT_COUNTERS = (2**40, 2**41)  # counter offsets of the sort keys, apart from Wilson's draws
BASELINE_NAMES = ("zeros", "uniform", "shuffle", "dinucleotide_shuffle")


def zeros_baseline(x: np.ndarray) -> np.ndarray:
    """All-zero reference, ``(1, 1, L, A)``. It is *off* the simplex."""
    return np.zeros((1, 1) + x.shape[1:], dtype=x.dtype)


def uniform_baseline(x: np.ndarray) -> np.ndarray:
    """Uniform 1/A reference at every position, ``(1, 1, L, A)``; it lies on the simplex."""
    return np.full((1, 1) + x.shape[1:], 1.0 / x.shape[-1], dtype=x.dtype)


def shuffle(x: np.ndarray, num_shuffles: int, seed: int | None = None) -> np.ndarray:
    """Random permutations of the positions of each sequence.

    Keeps the letter composition of every sequence (mononucleotide shuffle).

    Args:
      x: ``(N, L, A)`` sequences (one-hot or probabilistic).
      num_shuffles: B, shuffles per sequence.
      seed: seed (None: a fresh random one).

    Returns:
      ``(N, B, L, A)`` array.
    """
    x = np.asarray(x)
    keys = _trail_keys(x, num_shuffles, seed).reshape(len(x), num_shuffles, 1)
    order = np.argsort(uniform(keys, np.arange(x.shape[1])), axis=-1)
    return np.take_along_axis(x[:, None], order[..., None], axis=2)


def _trail_keys(x: np.ndarray, num_shuffles: int, seed: int | None) -> np.ndarray:
    """``(N * B,)`` random-stream keys: one per shuffle of each sequence."""
    return substream_keys(sequence_keys(x, resolve_seed(seed)), num_shuffles).reshape(-1)


def dinucleotide_shuffle(x: np.ndarray, num_shuffles: int, seed: int | None = None) -> np.ndarray:
    """Shuffles that preserve every adjacent-letter (dinucleotide) count exactly.

    Each shuffle is drawn uniformly from all sequences with the same dinucleotide counts,
    the same first letter and the same last letter (Altschul & Erickson, 1985; Kandel et
    al., 1996): a random Eulerian trail of the sequence's transition multigraph. For each
    letter but the last, the final out-edge is chosen by Wilson's algorithm (a uniform
    spanning arborescence towards the last letter); the other out-edges are put in uniform
    random order. All steps are vectorised over the N * B trails. Works for any alphabet
    size (DNA, RNA, protein).

    Positions that are not one-hot (an N encoded as 1/A, or any other probability vector) are
    shuffled as one extra symbol of their own, so dinucleotides with N are kept too; the
    shuffled sequence's N positions receive the original non-one-hot vectors in their order.

    Args:
      x: ``(N, L, A)`` sequences: one-hot positions, and any other positions (such as N).
      num_shuffles: B, shuffles per sequence.
      seed: seed (None: a fresh random one).

    Returns:
      ``(N, B, L, A)`` array of x's dtype.
    """
    x = np.asarray(x)
    n, length, size = x.shape
    one_hot = np.all((x == 0) | (x == 1), axis=-1) & (x.sum(axis=-1) == 1)  # (N, L)
    letters = np.where(one_hot, np.argmax(x, axis=-1), size)  # symbol `size`: not one-hot
    letters = np.repeat(letters, num_shuffles, axis=0)  # (M, L)
    if length < 3:
        out = letters
    else:
        out = _random_eulerian_trails(letters, size + 1, _trail_keys(x, num_shuffles, seed))
    result = np.eye(size + 1, size, dtype=x.dtype)[out]  # the extra symbol: a zero row for now
    other = out == size
    if other.any():  # the non-one-hot vectors, in their original order within each shuffle
        repeated = np.repeat(x, num_shuffles, axis=0)
        result[other] = repeated[np.repeat(~one_hot, num_shuffles, axis=0)]
    return result.reshape(n, num_shuffles, length, size)


def _random_eulerian_trails(letters: np.ndarray, size: int, keys: np.ndarray) -> np.ndarray:
    """Uniform random sequences with the dinucleotide counts of each row of ``letters``.

    ``keys`` (M,) are the random-stream keys of the M trails.
    """
    trails, length = letters.shape
    rows = np.arange(trails)
    src, dst = letters[:, :-1], letters[:, 1:]  # edges (M, L-1)
    counts = np.zeros((trails, size, size), dtype=np.int64)
    np.add.at(counts, (rows[:, None], src, dst), 1)
    out_degree = counts.sum(axis=-1)  # (M, A)
    root = letters[:, -1]
    last_exit = _wilson_arborescence(counts, out_degree, root, keys)  # (M, A), -1 for none
    edges = np.arange(length - 1)

    # Random order of the out-edges of each letter; for every letter but the root, one
    # uniformly chosen edge towards its arborescence parent goes last.
    candidate = (dst == np.take_along_axis(last_exit, src, axis=1)) & (src != root[:, None])
    first = np.argsort(src * 4.0 + candidate * 2.0 + uniform(keys[:, None], _SORT_COUNTERS[0] + edges), axis=1)
    sorted_src = np.take_along_axis(src, first, axis=1)
    group_end = np.ones_like(sorted_src, dtype=bool)
    group_end[:, :-1] = sorted_src[:, :-1] != sorted_src[:, 1:]
    chosen = group_end & np.take_along_axis(candidate, first, axis=1)
    order_keys = uniform(keys[:, None], _SORT_COUNTERS[1] + edges)  # fresh: unbiased by the choice
    order_keys[rows[:, None].repeat(chosen.shape[1], 1)[chosen], first[chosen]] = 2.0
    order = np.argsort(src * 4.0 + order_keys, axis=1)
    successors = np.take_along_axis(dst, order, axis=1)  # grouped by source letter

    pointer = np.concatenate([np.zeros((trails, 1), np.int64), np.cumsum(out_degree, 1)[:, :-1]], 1)
    out = np.empty_like(letters)
    out[:, 0] = current = letters[:, 0]
    for position in range(1, length):
        slot = pointer[rows, current]
        pointer[rows, current] = slot + 1
        out[:, position] = current = successors[rows, slot]
    return out


def _wilson_arborescence(
    counts: np.ndarray, out_degree: np.ndarray, root: np.ndarray, keys: np.ndarray
) -> np.ndarray:
    """Uniform spanning arborescence towards ``root`` of each multigraph (Wilson, 1996).

    Returns ``(M, A)`` parent letters (the last exit of each letter), -1 where a letter has
    no out-edge or is the root.
    """
    trails, size = out_degree.shape
    rows = np.arange(trails)
    in_tree = np.zeros((trails, size), dtype=bool)
    in_tree[rows, root] = True
    parent = np.full((trails, size), -1, dtype=np.int64)
    cumulative = np.cumsum(counts, axis=-1)
    draws = np.zeros(trails, dtype=np.uint64)  # per-trail counters of the random stream
    for start in range(size):
        walking = (out_degree[:, start] > 0) & ~in_tree[:, start]
        started = walking.copy()
        current = np.full(trails, start)
        while walking.any():  # loop-erased random walk: later exits overwrite earlier ones
            idx = rows[walking]
            cur = current[idx]
            draw = uniform(keys[idx], draws[idx]) * out_degree[idx, cur]
            draws[idx] += np.uint64(1)
            nxt = np.argmax(cumulative[idx, cur] > draw[:, None], axis=1)
            parent[idx, cur] = nxt
            current[idx] = nxt
            walking[idx] = ~in_tree[idx, nxt]
        current[:] = start
        while started.any():  # add the loop-erased path to the tree
            idx = rows[started]
            in_tree[idx, current[idx]] = True
            current[idx] = parent[idx, current[idx]]
            started[idx] = ~in_tree[idx, current[idx]]
    parent[rows, root] = -1
    return parent


def make_baselines(
    x: np.ndarray,
    baseline: str | Any,
    num_baselines: int = 1,
    seed: int | None = None,
) -> np.ndarray:
    """Build baselines for ``x`` from a name or a user array.

    Args:
      x: ``(N, L, A)`` validated sequences.
      baseline: ``"zeros"``, ``"uniform"``, ``"shuffle"``, ``"dinucleotide_shuffle"``, an
        array: ``(L, A)`` (one reference for all), ``(N, L, A)`` (one per sequence),
        ``(N, B, L, A)`` (B per sequence) or ``(1, B, L, A)`` (B shared by all), or a callable
        ``baseline(x, num_baselines, seed) -> (N, num_baselines, L, A)`` (e.g. GC-matched
        references or a user's null model; for maps that do not depend on batching, its
        references for a sequence should depend only on that sequence and the seed).
      num_baselines: B for the shuffle and callable baselines (zeros/uniform: B = 1).
      seed: seed of the shuffles (passed to a callable).

    Returns:
      ``(N, B, L, A)`` or ``(1, B, L, A)`` array of x's dtype.
    """
    if isinstance(baseline, str):
        if baseline == "zeros":
            return zeros_baseline(x)
        if baseline == "uniform":
            return uniform_baseline(x)
        if num_baselines < 1:
            raise ValueError(f"num_baselines must be >= 1, got {num_baselines}")
        if baseline == "shuffle":
            return shuffle(x, num_baselines, seed)
        if baseline == "dinucleotide_shuffle":
            return dinucleotide_shuffle(x, num_baselines, seed)
        raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINE_NAMES} or pass an array")
    if callable(baseline):
        made = normalize_baseline_array(baseline(x, num_baselines, seed), None)
        if made.shape != (len(x), num_baselines) + x.shape[1:]:
            raise ValueError(f"the baseline function returned shape {made.shape}; expected (N, num_baselines, L, A) = "
                             f"{(len(x), num_baselines) + x.shape[1:]}")
        return made.astype(x.dtype, copy=False)
    return normalize_baseline_array(baseline, x.shape).astype(x.dtype, copy=False)


def normalize_baseline_array(baseline: Any, x_shape: tuple[int, ...] | None) -> np.ndarray:
    """A user's baseline array as ``(N, B, L, A)`` or ``(1, B, L, A)``.

    Accepts ``(L, A)``, ``(N, L, A)``, ``(N, B, L, A)`` and ``(1, B, L, A)``; checks that it
    fits sequences of shape ``x_shape`` ``(N, L, A)`` when given (a clear error otherwise).
    """
    array = np.asarray(baseline.numpy() if hasattr(baseline, "numpy") else baseline)
    if array.dtype.kind != "f":
        raise TypeError(f"baseline must be a float array, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError("baseline contains NaN/Inf values")
    if array.ndim in (2, 3):
        array = array[None, None] if array.ndim == 2 else array[:, None]
    if x_shape is None:
        return array
    n, seq_shape = x_shape[0], tuple(x_shape[1:])
    if array.ndim != 4 or array.shape[2:] != seq_shape or array.shape[0] not in (1, n) or (
        np.ndim(baseline) == 3 and len(array) != n
    ):
        raise ValueError(
            f"baseline of shape {np.shape(baseline)} does not fit inputs of shape {tuple(x_shape)}; expected "
            f"{seq_shape}, {(n,) + seq_shape}, (N, B) + {seq_shape} or (1, B) + {seq_shape}"
        )
    return array
