"""Whether the engine compiles with XLA: the faster mode for the devices present."""

from __future__ import annotations

import tensorflow as tf


def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU."""
    return bool(tf.config.list_logical_devices("GPU"))


def resolve_jit_compile(jit_compile: bool | str | None) -> bool:
    """``None``/``"auto"`` picks the faster mode for the devices present.

    XLA on a GPU; plain graph mode on CPU only, where XLA measured 1.3-2x slower for
    attribution (see benchmarks/). ``True``/``False`` force the choice.
    """
    if jit_compile is None or jit_compile == "auto":
        return has_gpu()
    if not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be True, False, None or 'auto', got {jit_compile!r}")
    return jit_compile
