"""One-hot encoding of biological sequences (DNA, RNA, protein) and back."""

from __future__ import annotations

from typing import Iterable

import numpy as np

DNA = "ACGT"
RNA = "ACGU"
PROTEIN = "ACDEFGHIKLMNPQRSTVWY"


def one_hot_encode(
    sequences: str | Iterable[str],
    alphabet: str = DNA,
    unknown: str = "uniform",
    dtype=np.float32,
) -> np.ndarray:
    """Encode equal-length strings as one-hot arrays, case-insensitively.

    Args:
      sequences: one string or an iterable of strings of the same length L.
      alphabet: the A letters, in axis order (default ``"ACGT"``).
      unknown: what a letter outside the alphabet (``N``, ``X``, ...) becomes: ``"uniform"``
        (1/A everywhere, which stays on the simplex) or ``"error"``.
      dtype: float dtype of the result.

    Returns:
      ``(N, L, A)`` array (``(1, L, A)`` for a single string).
    """
    if isinstance(sequences, str):
        sequences = [sequences]
    sequences = list(sequences)
    if not sequences:
        raise ValueError("one_hot_encode got no sequences")
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1:
        raise ValueError(f"sequences must all have the same length, got lengths {sorted(lengths)}")
    if unknown not in ("uniform", "error"):
        raise ValueError(f"unknown must be 'uniform' or 'error', got {unknown!r}")
    size = len(alphabet)
    lookup = np.full(256, -1, dtype=np.int64)
    for index, letter in enumerate(alphabet):
        lookup[ord(letter.upper())] = index
        lookup[ord(letter.lower())] = index
    try:
        codes = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as error:
        raise ValueError(f"sequences contain non-ASCII characters: {error}") from None
    indices = lookup[codes].reshape(len(sequences), -1)
    unknown_mask = indices < 0
    if unknown == "error" and unknown_mask.any():
        seq, pos = np.argwhere(unknown_mask)[0]
        raise ValueError(
            f"letter {sequences[seq][pos]!r} at sequence {seq}, position {pos} is not in "
            f"the alphabet {alphabet!r}"
        )
    encoded = np.zeros(indices.shape + (size,), dtype=dtype)
    np.put_along_axis(encoded, np.maximum(indices, 0)[..., None], 1, axis=-1)
    encoded[unknown_mask] = 1.0 / size
    return encoded


def one_hot_decode(x: np.ndarray, alphabet: str = DNA, unknown: str = "N") -> list[str]:
    """Decode ``(N, L, A)`` one-hot arrays to strings (argmax; non-one-hot rows -> ``unknown``)."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != len(alphabet):
        raise ValueError(f"expected shape (N, L, {len(alphabet)}), got {x.shape}")
    letters = np.array(list(alphabet) + [unknown])
    indices = np.argmax(x, axis=-1)
    indices[x.max(axis=-1) < 1] = len(alphabet)
    return ["".join(row) for row in letters[indices]]
