"""Per-sequence reproducible randomness.

Random draws made for a sequence (its shuffles, its SmoothGrad noise) depend only on the
sequence itself and the user's seed, never on its position in a batch or on how a batch is
chunked: streaming a million sequences gives the same maps as one large batch.

Keys are 64-bit hashes of each sequence; uniforms come from a counter-based generator
(SplitMix64: the n-th output of a stream with key k is ``mix(k + n * golden)``), so many
independent streams are drawn in one vectorised numpy call.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijective avalanche of uint64 values (elementwise)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):  # multiplication modulo 2**64 is intended
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def resolve_seed(seed: int | None) -> int:
    """The user's seed, or a fresh random one for ``None``."""
    return secrets.randbits(63) if seed is None else int(seed)


def sequence_keys(x: np.ndarray, seed: int) -> np.ndarray:
    """One uint64 key per sequence of ``x`` (N, L, A), from its content and ``seed``."""
    rows = np.ascontiguousarray(np.asarray(x, dtype=np.float32)).reshape(len(x), -1)
    digests = b"".join(hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in rows)
    hashes = np.frombuffer(digests, dtype="<u8").astype(np.uint64)
    with np.errstate(over="ignore"):
        return mix64(hashes ^ mix64(np.uint64(seed % 2**64) + _GOLDEN))


def substream_keys(keys: np.ndarray, count: int) -> np.ndarray:
    """``(N, count)`` independent keys derived from each key (e.g. one per shuffle)."""
    index = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(np.asarray(keys, np.uint64)[:, None] + index * _MIX1)


def uniform(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) for each (key, counter) pair (broadcast), float64."""
    with np.errstate(over="ignore"):
        z = mix64(np.asarray(keys, np.uint64) + np.asarray(counters, np.uint64) * _GOLDEN)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
