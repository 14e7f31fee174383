"""The paper's CNNs (Majdandzic & Koo, Appendix A; after Koo & Ploenzke 2021).

All convolutions use 'same' padding, L2 1e-6 on kernels of hidden layers and batch
normalization before each activation. Only the first layer's activation changes between the
'relu' and 'exponential' variants. ``kernel_initializer`` applies to every hidden layer (the
initialization study), each layer drawing its own values (an initializer instance is copied per
layer, an integer seed mixed with the layer's index: one Keras 3 initializer instance draws the
same values at every call); the output layer keeps Glorot-uniform. ``first_layer`` passes extra
arguments to the first convolution, e.g. ``{"kernel_constraint": ZeroMeanAlphabet()}`` or
``{"padding": "valid"}``.
"""

from __future__ import annotations

import itertools
import numbers
from typing import Any, Callable

import keras
import numpy as np


def _conv_block(x, filters: int, width: int, activation: Any, dropout: float, pool: int, options: Callable[[], dict],
                **conv: Any):
    x = keras.layers.Conv1D(filters, width, **{"padding": "same", **options(), **conv})(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation(activation)(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout)(x)
    if pool > 1:
        x = keras.layers.MaxPooling1D(pool)(x)
    return x


def _head(x, num_outputs: int, output_activation: Any, options: Callable[[], dict], hidden: tuple = (96,),
          dropout: float = 0.5):
    x = keras.layers.Flatten()(x)
    for units in hidden:
        x = keras.layers.Dense(units, **options())(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(num_outputs, activation=output_activation, name="output")(x)


def _check_length(name: str, input_length: int, pools: tuple[int, ...], first_layer: dict | None) -> None:
    """Raise unless ``input_length`` leaves at least one position after the model's pools (and
    a first convolution of width 19 with ``"valid"`` padding)."""
    shrink = 18 if (first_layer or {}).get("padding") == "valid" else 0
    shortest = int(np.prod(pools)) + shrink
    if not isinstance(input_length, numbers.Integral) or input_length < shortest:
        raise ValueError(f"{name} needs sequences of at least {shortest} positions (its pools: "
                         f"{' x '.join(map(str, pools))}), got input_length {input_length!r}")


def _options(kernel_initializer: Any, l2: float) -> Callable[[], dict]:
    """The options of each next hidden layer: its own initializer, and the L2 penalty."""
    index = itertools.count()
    return lambda: {"kernel_initializer": _own_initializer(kernel_initializer, next(index)),
                    "kernel_regularizer": keras.regularizers.L2(l2)}


def _own_initializer(initializer: Any, index: int) -> Any:
    """A copy of an initializer instance for the ``index``-th layer: unseeded (each copy draws
    its own seed, reproducible under ``keras.utils.set_random_seed``) or, for an integer seed,
    the first layer keeps it and the others get a seed mixed from it and ``index`` (seeds 3 and
    4 share no layer). Passed on as they are: names (Keras makes an instance per layer),
    ``SeedGenerator``-seeded instances (new values at every call) and initializers that draw
    nothing (no seed)."""
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    config = initializer.get_config()
    if "seed" not in config or not (config["seed"] is None or isinstance(config["seed"], numbers.Integral)):
        return initializer
    if config["seed"] is not None and index > 0:
        config["seed"] = int(np.random.SeedSequence([config["seed"] % 2**32, index]).generate_state(1)[0] >> 1)
    return type(initializer).from_config(config)


def cnn_shallow(
    input_length: int = 200,
    alphabet_size: int = 4,
    num_outputs: int = 1,
    first_activation: str = "relu",
    output_activation: str | None = "sigmoid",
    kernel_initializer: Any = "he_normal",
    l2: float = 1e-6,
    first_layer: dict | None = None,
    name: str | None = None,
) -> keras.Model:
    """CNN-shallow: conv(24, 19) -> pool 50 -> conv(48, 3) -> pool 2 -> dense(96) -> output.

    Input ``(input_length, alphabet_size)``; 15,433 parameters at L=200, A=4, one output.
    """
    _check_length("cnn_shallow", input_length, (50, 2), first_layer)
    options = _options(kernel_initializer, l2)
    inputs = keras.Input((input_length, alphabet_size), name="sequence")
    x = _conv_block(inputs, 24, 19, first_activation, 0.1, 50, options, **(first_layer or {}))
    x = _conv_block(x, 48, 3, "relu", 0.2, 2, options)
    outputs = _head(x, num_outputs, output_activation, options)
    return keras.Model(inputs, outputs, name=name or f"cnn_shallow_{first_activation}")


def cnn_deep(
    input_length: int = 200,
    alphabet_size: int = 4,
    num_outputs: int = 1,
    first_activation: str = "relu",
    output_activation: str | None = "sigmoid",
    kernel_initializer: Any = "he_normal",
    l2: float = 1e-6,
    first_layer: dict | None = None,
    name: str | None = None,
    first_filters: int = 24,
) -> keras.Model:
    """CNN-deep: conv(24, 19) -> conv(32, 7) -> pool 4 -> conv(48, 7) -> pool 4 -> conv(64, 3)
    -> pool 3 -> dense(96) -> output (``first_filters``: the first layer's 24 filters, varied
    by the paper's ensembles from 12 to 30).

    Input ``(input_length, alphabet_size)``; 53,161 parameters at L=200, A=4, one output.
    """
    _check_length("cnn_deep", input_length, (4, 4, 3), first_layer)
    options = _options(kernel_initializer, l2)
    inputs = keras.Input((input_length, alphabet_size), name="sequence")
    x = _conv_block(inputs, first_filters, 19, first_activation, 0.1, 1, options, **(first_layer or {}))
    x = _conv_block(x, 32, 7, "relu", 0.2, 4, options)
    x = _conv_block(x, 48, 7, "relu", 0.3, 4, options)
    x = _conv_block(x, 64, 3, "relu", 0.4, 3, options)
    outputs = _head(x, num_outputs, output_activation, options)
    return keras.Model(inputs, outputs, name=name or f"cnn_deep_{first_activation}")


def basset(
    input_length: int = 600,
    alphabet_size: int = 4,
    num_outputs: int = 164,
    first_activation: str = "relu",
    output_activation: str | None = "sigmoid",
    kernel_initializer: Any = "he_normal",
    l2: float = 1e-6,
    first_layer: dict | None = None,
    name: str | None = None,
) -> keras.Model:
    """Basset-style multitask CNN (Kelley et al. 2016; Koo & Ploenzke 2021, task 4):
    conv(300, 19) -> pool 3 -> conv(200, 11) -> pool 4 -> conv(200, 7) -> pool 4 ->
    dense(1000) -> dense(1000) -> ``num_outputs`` sigmoid outputs.

    4,540,464 parameters at L=600, A=4, 164 outputs.
    """
    _check_length("basset", input_length, (3, 4, 4), first_layer)
    options = _options(kernel_initializer, l2)
    inputs = keras.Input((input_length, alphabet_size), name="sequence")
    x = _conv_block(inputs, 300, 19, first_activation, 0.0, 3, options, **(first_layer or {}))
    x = _conv_block(x, 200, 11, "relu", 0.0, 4, options)
    x = _conv_block(x, 200, 7, "relu", 0.0, 4, options)
    outputs = _head(x, num_outputs, output_activation, options, hidden=(1000, 1000), dropout=0.3)
    return keras.Model(inputs, outputs, name=name or f"basset_{first_activation}")
