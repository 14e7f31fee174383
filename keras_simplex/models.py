"""The paper's CNNs (Majdandzic & Koo, Appendix A; after Koo & Ploenzke 2021).

All convolutions use 'same' padding, L2 1e-6 on kernels of hidden layers and batch
normalization before each activation. Only the first layer's activation changes between the
'relu' and 'exponential' variants.
"""

from __future__ import annotations

from typing import Any

import keras


def _conv_block(x, filters: int, width: int, activation: Any, dropout: float, pool: int, options: dict):
    x = keras.layers.Conv1D(filters, width, padding="same", **options)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation(activation)(x)
    x = keras.layers.Dropout(dropout)(x)
    if pool > 1:
        x = keras.layers.MaxPooling1D(pool)(x)
    return x


def _head(x, num_outputs: int, output_activation: Any, options: dict):
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(96, **options)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    return keras.layers.Dense(num_outputs, activation=output_activation)(x)


def _options(kernel_initializer: Any, l2: float) -> dict:
    return {"kernel_initializer": kernel_initializer, "kernel_regularizer": keras.regularizers.L2(l2)}


def cnn_shallow(
    input_length: int = 200,
    alphabet_size: int = 4,
    num_outputs: int = 1,
    first_activation: str = "relu",
    output_activation: str | None = "sigmoid",
    kernel_initializer: Any = "he_normal",
    l2: float = 1e-6,
    name: str | None = None,
) -> keras.Model:
    """CNN-shallow: conv(24, 19) -> pool 50 -> conv(48, 3) -> pool 2 -> dense(96) -> output.

    Input ``(input_length, alphabet_size)``; 15,433 parameters at L=200, A=4, one output.
    """
    options = _options(kernel_initializer, l2)
    inputs = keras.Input((input_length, alphabet_size), name="sequence")
    x = _conv_block(inputs, 24, 19, first_activation, 0.1, 50, options)
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
    name: str | None = None,
) -> keras.Model:
    """CNN-deep: conv(24, 19) -> conv(32, 7) -> pool 4 -> conv(48, 7) -> pool 4 -> conv(64, 3)
    -> pool 3 -> dense(96) -> output.

    Input ``(input_length, alphabet_size)``; 53,161 parameters at L=200, A=4, one output.
    """
    options = _options(kernel_initializer, l2)
    inputs = keras.Input((input_length, alphabet_size), name="sequence")
    x = _conv_block(inputs, 24, 19, first_activation, 0.1, 1, options)
    x = _conv_block(x, 32, 7, "relu", 0.2, 4, options)
    x = _conv_block(x, 48, 7, "relu", 0.3, 4, options)
    x = _conv_block(x, 64, 3, "relu", 0.4, 3, options)
    outputs = _head(x, num_outputs, output_activation, options)
    return keras.Model(inputs, outputs, name=name or f"cnn_deep_{first_activation}")
