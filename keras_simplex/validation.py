"""Input checks for one-hot sequence batches, with messages that name the problem."""

from __future__ import annotations

from typing import Any

import numpy as np

SIMPLEX_ATOL = 1e-3


ALPHABET_SIZES = (4, 5, 20, 21)  # DNA/RNA, with N, protein, with X


def check_layout(shape: tuple, channels_first: bool, name: str, fix: str) -> None:
    """Raise when an array of ``shape``, read as ``(N, L, A)`` (``(N, A, L)`` with
    ``channels_first``), has an alphabet axis that is not an alphabet size while its other axis
    is one: the other layout, which would give wrong maps or angles without an error. ``fix``:
    how to read it the other way (said in the error)."""
    if len(shape) != 3:
        return
    length, size = (shape[2], shape[1]) if channels_first else (shape[1], shape[2])
    if size not in ALPHABET_SIZES and length in ALPHABET_SIZES:
        layout = "(N, L, A)" if channels_first else "(N, A, L), as tangermeme and captum write"
        raise ValueError(f"{name} has shape {tuple(shape)}, {size} letters at {length} positions: it looks {layout}; "
                         f"{fix}")


def check_sequences(
    x: Any,
    *,
    alphabet_size: int | None = None,
    length: int | None = None,
    check_simplex: bool = True,
    atol: float = SIMPLEX_ATOL,
    dtype: Any = np.float32,
    name: str = "x",
    first_index: int = 0,
) -> np.ndarray:
    """Validate a batch of one-hot (or probabilistic) sequences and return it as an array.

    Args:
      x: ``(N, L, A)`` array-like: N sequences, L positions, alphabet of A letters; float,
        or integer/boolean 0/1 arrays (cast to ``dtype``).
      alphabet_size: required A (e.g. the model's), or None to accept any A >= 2.
      length: required L, or None to accept any.
      check_simplex: require every position to be a probability vector (entries >= 0,
        sum 1 within ``atol``). Pass False for inputs deliberately off the simplex.
      atol: tolerance of the simplex check.
      dtype: float dtype of the returned array.
      name: the argument's name, used in error messages.
      first_index: the index of ``x[0]`` in a larger collection (e.g. a file read in
        batches), so that messages name a sequence by its index there.

    Returns:
      ``np.ndarray`` of shape ``(N, L, A)`` and ``dtype``.

    Raises:
      TypeError: non-numeric input, or an integer (N, L) array (letter indices?).
      ValueError: wrong rank, empty batch, alphabet or length mismatch, NaN/Inf values, or
        positions off the simplex.
    """
    array = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if array.dtype.kind in "biu":  # 0/1 one-hot arrays as integers or booleans: cast
        if array.ndim == 2:
            raise TypeError(
                f"{name} is a {array.dtype} array of shape {array.shape}; if these are letter indices, "
                f"one-hot encode them first (keras_simplex.one_hot_encode)"
            )
        array = array.astype(dtype)
    if array.dtype.kind in "USO" and array.size and isinstance(array.flat[0], str):
        raise TypeError(f"{name} holds strings; one-hot encode sequences first (keras_simplex.one_hot_encode)")
    if array.dtype.kind not in "f":
        raise TypeError(f"{name} must be a float array, got dtype {array.dtype}")
    if array.ndim != 3:
        hint = " (for one sequence use x[None])" if array.ndim == 2 else ""
        raise ValueError(f"{name} must have shape (N, L, A), got shape {array.shape}{hint}")
    n, seq_len, size = array.shape
    if n == 0:
        raise ValueError(f"{name} is an empty batch (N = 0): nothing to attribute")
    if size < 2:
        raise ValueError(f"{name} has an alphabet axis of size {size}; it must be >= 2")
    if alphabet_size is not None and size != alphabet_size:
        raise ValueError(
            f"{name} has alphabet size {size} (last axis) but the model expects "
            f"{alphabet_size}; inputs must be (N, L, A) with the alphabet last"
        )
    if length is not None and seq_len != length:
        raise ValueError(f"{name} has length {seq_len} but the model expects {length}")
    if check_simplex:
        # A sum letter by letter: 3x faster than sum()/einsum over a short last axis, and no
        # BLAS call (OpenBLAS threads spin after one and slow the TensorFlow call that follows).
        # In float32 at least: float16 sums of 20 letters round past the tolerance.
        sums = np.add(array[..., 0], array[..., 1], dtype=np.promote_types(array.dtype, np.float32))
        for letter in range(2, size):
            sums += array[..., letter]
        # Written so that NaN fails it (max and min propagate NaN): positions on the simplex are
        # finite, so the common case needs no separate pass for NaN/Inf.
        if not (sums.max() <= 1.0 + atol and sums.min() >= 1.0 - atol and array.min() >= -atol):
            _check_finite(array, name, first_index)
            off = (np.abs(sums - 1.0) > atol) | (array.min(axis=-1) < -atol)
            seq, pos = np.argwhere(off)[0]
            raise ValueError(
                f"{name} has {int(off.sum())} positions off the simplex (each position must "
                f"be non-negative and sum to 1 over the alphabet); first at sequence {first_index + seq}, "
                f"position {pos}: {_shown(array[seq, pos])}. Pass check_simplex=False (command line: "
                f"--allow-off-simplex) for inputs that are deliberately off the simplex."
            )
    else:
        _check_finite(array, name, first_index)
    return array.astype(dtype, copy=False)


def _shown(values: np.ndarray, most: int = 8) -> str:
    """``values`` as a short list (the first ``most``)."""
    shown = ", ".join(f"{value:g}" for value in values[:most])
    return f"[{shown}{', ...' if len(values) > most else ''}] ({len(values)} values)"


def _check_finite(array: np.ndarray, name: str, first_index: int) -> None:
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN/Inf values "
            f"(first at sequence {first_index + bad[0]}, position {bad[1]})"
        )
