"""TensorFlow's oneDNN CPU kernels: asked for when keras_simplex is imported first.

TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with AVX-512 VNNI or newer
instructions; elsewhere convolutions run on Eigen kernels, which computed input gradients of
the paper's CNN-deep 1.9x slower on a 2-core AVX2 CPU (docs/performance.md). TensorFlow reads
the switch, the ``TF_ENABLE_ONEDNN_OPTS`` environment variable, once, when it is imported, so
``import keras_simplex`` sets it (to 1, on x86 only) when TensorFlow is not imported yet and
the user has not set it. Set ``TF_ENABLE_ONEDNN_OPTS=0`` to keep the Eigen kernels.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
_warned = False


def prefer_onednn() -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` unless the user chose, TensorFlow is already imported
    (too late to matter) or the CPU is not x86. Returns whether it was set."""
    if ONEDNN_VARIABLE in os.environ or "tensorflow" in sys.modules or not _x86():
        return False
    os.environ[ONEDNN_VARIABLE] = "1"
    return True


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN kernels in this process (None: cannot tell)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def warn_if_onednn_missed() -> None:
    """Warn once when TensorFlow was imported before keras_simplex and left oneDNN off on an
    x86 CPU, so attributions run on the slower kernels without the user having chosen so."""
    global _warned
    if _warned or ONEDNN_VARIABLE in os.environ or not _x86():
        return
    _warned = True
    if onednn_enabled() is False:
        warnings.warn(
            "TensorFlow's oneDNN CPU kernels are off (TensorFlow was imported before keras_simplex "
            "on a CPU where they are not the default); input gradients may run ~2x slower. Import "
            "keras_simplex first, or set TF_ENABLE_ONEDNN_OPTS=1 (0 to silence this) before "
            "importing TensorFlow.",
            stacklevel=3,
        )
