"""Reduced-precision attribution: the model's forward and backward passes in bfloat16.

``precision="bfloat16"`` (``ks.Explainer``, the functional API, ``attribute --precision``) runs
a copy of the model under Keras' ``mixed_bfloat16`` policy: its variables stay float32, its
layers compute in bfloat16 (batch normalization computes in float32, as Keras does), and
the points, the correction, the reductions and the angles stay float32. It is faster only
where bfloat16 matrix products have their own units: CPUs with AMX (Intel Xeon, Sapphire
Rapids and newer) and recent GPUs. On a CPU without AMX it is slower than float32, AVX512-BF16
or not (0.60-0.66x measured), and the engine warns. bfloat16 keeps 8 bits of mantissa (a
relative rounding error of 2^-9 per operation), so maps differ from float32 maps;
docs/performance.md measures by how much and how fast. The model itself is not changed.

``precision="float32"`` (the default) means float32 passes too: a model built under a global
``mixed_float16``/``mixed_bfloat16`` policy (its layers computing in 16 bits) is attributed
through a float32 copy, as a float16 backward pass underflows (a confident sigmoid rounds to
1, and its gradient to 0 everywhere). A copy takes the model's weights before every run, so
maps follow the model's current weights after more training (a layer adapted again, such as a
``Normalization``, needs a new explainer: its statistics are constants of the traced calls).
"""

from __future__ import annotations

import warnings

import keras

from keras_simplex._fast.cpu_defaults import x86
from keras_simplex.functional_graph import functional_graph

PRECISIONS = ("float32", "bfloat16")
CPUINFO = "/proc/cpuinfo"
_warned_slow = False


def check_precision(precision: str | None) -> str:
    """``precision`` validated (None: ``"float32"``)."""
    precision = "float32" if precision is None else precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def computes_in_16_bits(model: keras.Model) -> bool:
    """Whether a layer of ``model`` (nested ones included) computes in float16 or bfloat16."""
    return bool(_16_bit_layers(model))


def precision_copy(model: keras.Model, precision: str) -> keras.Model:
    """A copy of ``model`` (functional or Sequential, nested models included) whose layers
    compute in ``precision`` (``"float32"``, or ``"bfloat16"`` with float32 variables), holding
    the same weights (``sync_copy`` updates them)."""
    if functional_graph(model) is None:
        raise ValueError(f"precision={precision!r} needs a functional or Sequential model (its layers are cloned "
                         f"with a new dtype policy); {type(model).__name__} is subclassed")
    policy = keras.DTypePolicy("float32" if precision == "float32" else f"mixed_{precision}")

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    kept = _16_bit_layers(copy) if precision == "float32" else []  # e.g. a model inside a wrapper layer
    if kept:
        raise ValueError(f"layers {', '.join(kept)} keep their 16-bit policy in the copy")
    sync_copy(copy, model)
    for layer in _layers(copy):  # state derived from weights: an adapted Normalization's mean and variance
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()
    return copy


def sync_copy(copy: keras.Model, model: keras.Model) -> None:
    """Give ``copy`` (``precision_copy``) the current weights of ``model``."""
    for target, source in zip(copy.weights, model.weights, strict=True):
        target.assign(keras.ops.cast(source, target.dtype))


def _16_bit_layers(model: keras.Model) -> list[str]:
    """The names of the layers of ``model`` that compute in float16 or bfloat16."""
    return sorted({layer.name for layer in _layers(model) if layer.compute_dtype in ("float16", "bfloat16")})


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model``, nested ones included, without its input layers."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if not isinstance(layer, keras.layers.InputLayer)]


def cpu_has_amx(cpuinfo: str | None = None) -> bool | None:
    """Whether this x86 CPU has AMX bfloat16 units: the ``amx_bf16`` flag of Linux's
    ``/proc/cpuinfo`` (or of the given text). None: cannot tell (not x86 Linux)."""
    if cpuinfo is None:
        if not x86():
            return None
        try:
            with open(CPUINFO, encoding="utf-8", errors="replace") as file:
                cpuinfo = file.read()
        except OSError:
            return None
    flags = [line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
             if line.startswith("flags") and ":" in line]
    return ("amx_bf16" in flags[0]) if flags else None


def warn_if_bfloat16_is_slow() -> None:
    """Warn once when ``precision="bfloat16"`` runs on a CPU known to lack AMX (call it only
    when no GPU is used): there bfloat16 is slower than float32."""
    global _warned_slow
    if _warned_slow or cpu_has_amx() is not False:
        return
    _warned_slow = True
    warnings.warn(
        "precision='bfloat16' on a CPU without AMX (no amx_bf16 flag in /proc/cpuinfo): TensorFlow runs "
        "bfloat16 here on AVX-512 at best, which measured 0.60-0.66x the speed of float32 for attribution "
        "(docs/performance.md). float32 is faster on this machine, and more accurate.",
        stacklevel=4,
    )
