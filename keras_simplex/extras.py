"""Optional dependencies: the core package needs TensorFlow, Keras, numpy and h5py only; a
feature that needs more imports it through ``require``, whose error names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, feature: str) -> ModuleType:
    """``import module``, or an ImportError saying ``feature`` needs ``pip install
    'keras_simplex[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{feature} needs the {module.split('.')[0]!r} package: "
                          f"pip install 'keras_simplex[{extra}]'") from error
