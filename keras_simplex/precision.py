"""Reduced-precision attribution: the model's forward and backward passes in bfloat16.

``precision="bfloat16"`` (``ks.Explainer``, the functional API, ``attribute --precision``) runs
a copy of the model under Keras' ``mixed_bfloat16`` policy: its variables stay float32, its
layers compute in bfloat16 (batch normalization computes in float32, as Keras does), and
the points, the correction, the reductions and the angles stay float32. CPUs with AMX or
AVX512-BF16 and recent GPUs run bfloat16 matrix products natively. bfloat16 keeps 8 bits
of mantissa (a relative rounding error of 2^-9 per operation), so maps differ from float32
maps; docs/performance.md measures by how much. The model itself is not changed.
"""

from __future__ import annotations

import keras

from keras_simplex.functional_graph import functional_graph

PRECISIONS = ("float32", "bfloat16")


def check_precision(precision: str | None) -> str:
    """``precision`` validated (None: ``"float32"``)."""
    precision = "float32" if precision is None else precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def reduced_precision_copy(model: keras.Model, precision: str) -> keras.Model:
    """A copy of ``model`` (functional or Sequential, nested models included) whose layers
    compute in ``precision`` with float32 variables, holding the same weights."""
    if functional_graph(model) is None:
        raise ValueError(f"precision={precision!r} needs a functional or Sequential model (its layers are cloned "
                         f"with a new dtype policy); {type(model).__name__} is subclassed")
    policy = keras.DTypePolicy(f"mixed_{precision}")

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy
