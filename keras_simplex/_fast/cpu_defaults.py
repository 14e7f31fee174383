"""TensorFlow's oneDNN CPU kernels: whether they are on, and a warning when they were left off.

TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with AVX-512 VNNI or newer
instructions; elsewhere convolutions run on Eigen kernels, which computed input gradients of
the paper's CNN-deep 1.9x slower on a 2-core AVX2 CPU (docs/performance.md). TensorFlow reads
the switch, the ``TF_ENABLE_ONEDNN_OPTS`` environment variable, once, when it is imported.
Importing keras_simplex does not set it; the command line and the demo do
(``keras_simplex_cli.prepare_process``), and in your own programs set
``TF_ENABLE_ONEDNN_OPTS=1`` before importing TensorFlow (0 keeps the Eigen kernels).
"""

from __future__ import annotations

import os
import platform
import warnings

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
_warned = False


def x86() -> bool:
    """Whether this is an x86-64 CPU."""
    return platform.machine().lower() in ("x86_64", "amd64")


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN kernels in this process (None: cannot tell)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def warn_if_onednn_missed() -> None:
    """Warn once when oneDNN is off on an x86 CPU without the user having chosen so
    (``TF_ENABLE_ONEDNN_OPTS`` unset): attributions then run on the slower kernels."""
    global _warned
    if _warned or ONEDNN_VARIABLE in os.environ or not x86():
        return
    _warned = True
    if onednn_enabled() is False:
        warnings.warn(
            "TensorFlow's oneDNN CPU kernels are off (not the default on this CPU); input gradients "
            "may run ~2x slower. Set TF_ENABLE_ONEDNN_OPTS=1 (0 to silence this) before importing "
            "TensorFlow; the keras-simplex command does.",
            stacklevel=3,
        )
