"""A zoo of small Keras models for the contract battery (tests/test_contract.py).

Each entry builds a model of ``(N, length, 4)`` one-hot sequences, the explainer settings that
fit it, and an independent way to get the explained scalar: ``score(model, points) -> (P,)``
on the original model (no rewrite, no logit machinery of the package).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    name: str
    build: Callable[[], keras.Model]
    length: int = 24
    settings: dict = dataclasses.field(default_factory=dict)  # Explainer(model, **settings)
    score: Callable[[keras.Model, Any], Any] = lambda model, points: model(points, training=False)[:, 0]
    rtol: float = 1e-4  # of the largest |value| of a map
    jit: bool = True  # also run the XLA path
    # the model the references are computed on: the model, or its float32 twin for 16-bit layers
    # (which the package explains in float32: keras_simplex.precision)
    reference: Callable[[keras.Model], keras.Model] = lambda model: model


def randomize_batch_norm(model: keras.Model, seed: int = 0) -> keras.Model:
    """Give every BatchNormalization non-trivial statistics (as after training)."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])
    return model


def _seeded(build: Callable[[], keras.Model]) -> Callable[[], keras.Model]:
    def seeded():
        keras.utils.set_random_seed(7)
        return randomize_batch_norm(build())

    return seeded


def _head(x, units: int = 1, activation: str | None = "sigmoid"):
    return keras.layers.Dense(units, activation=activation)(keras.layers.Flatten()(x))


def plain_cnn():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling1D(2)(x)
    return keras.Model(inputs, _head(x))


def batch_norm_placements():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, padding="same")(inputs)  # conv -> BN: folded
    x = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv1D(6, 3, activation="relu")(x)  # activation -> BN: not folded
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dense(5)(keras.layers.Flatten()(x))  # dense -> BN: folded
    x = keras.layers.Activation("tanh")(keras.layers.BatchNormalization()(x))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def causal_dilated_batch_norm():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 3, padding="causal", dilation_rate=2)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv1D(8, 3, padding="causal")(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    return keras.Model(inputs, _head(x))


def strided_grouped_separable():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv1D(8, 3, groups=2, padding="same")(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.SeparableConv1D(6, 3, activation="elu")(x)
    return keras.Model(inputs, _head(x))


def recurrent():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, activation="relu")(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(6))(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def attention():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.MultiHeadAttention(2, 4)(x, x)
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.LayerNormalization()(x))
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def multi_output():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalMaxPooling1D()(x)
    return keras.Model(inputs, {"binding": keras.layers.Dense(1, activation="sigmoid")(x),
                                "profile": keras.layers.Dense(3)(x)})


def multi_task():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, _head(x, 4))


def softmax_output():
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Softmax()(_head(x, 3, None)))


class SubclassedCNN(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv1D(8, 5, activation="relu")
        self.norm = keras.layers.BatchNormalization()
        self.dense = keras.layers.Dense(1)

    def call(self, x, training=False):
        return self.dense(keras.ops.max(self.norm(self.conv(x), training=training), axis=1))


def subclassed():
    model = SubclassedCNN()
    model(np.zeros((1, 24, 4), np.float32))
    return model


def length_agnostic():
    inputs = keras.Input((None, 4))
    x = keras.layers.Conv1D(8, 70, activation="relu")(inputs)  # needs at least 70 positions
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Conv1D(8, 3)(x)))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalMaxPooling1D()(x)))


def float64_model():
    inputs = keras.Input((24, 4), dtype="float64")
    x = keras.layers.Conv1D(8, 5, padding="same", dtype="float64")(inputs)
    x = keras.layers.ReLU(dtype="float64")(keras.layers.BatchNormalization(dtype="float64")(x))
    x = keras.layers.Flatten(dtype="float64")(x)
    return keras.Model(inputs, keras.layers.Dense(1, dtype="float64")(x))


def float64_input_float32_layers():
    inputs = keras.Input((24, 4), dtype="float64")
    x = keras.layers.Conv1D(8, 5, padding="same")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    return keras.Model(inputs, _head(x))


def mixed_precision(policy: str = "mixed_float16"):
    inputs = keras.Input((24, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu", dtype=policy)(inputs)
    x = keras.layers.BatchNormalization(dtype=policy)(x)
    x = keras.layers.Flatten(dtype=policy)(x)
    return keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(x))


def float32_twin(model: keras.Model) -> keras.Model:
    """``mixed_precision``'s model with float32 layers and the same (float32) weights."""
    twin = mixed_precision("float32")
    twin.set_weights(model.get_weights())
    return twin


def _logit_of(layer_index: int) -> Callable:
    def score(model, points):
        return keras.Model(model.inputs, model.layers[layer_index].output)(points, training=False)[:, 1]

    return score


ZOO = [
    ZooEntry("plain_cnn", _seeded(plain_cnn)),
    ZooEntry("plain_cnn_logits", _seeded(plain_cnn), settings={"logits": True},
             score=lambda model, points: keras.ops.log(model(points)[:, 0] / (1 - model(points)[:, 0]))),
    ZooEntry("batch_norm_placements", _seeded(batch_norm_placements)),
    ZooEntry("causal_dilated_batch_norm", _seeded(causal_dilated_batch_norm)),
    ZooEntry("strided_grouped_separable", _seeded(strided_grouped_separable)),
    ZooEntry("recurrent", _seeded(recurrent)),
    ZooEntry("attention", _seeded(attention)),
    ZooEntry("multi_output", _seeded(multi_output),
             settings={"target": lambda outputs: outputs["binding"][:, 0] + outputs["profile"][:, 2]},
             score=lambda model, points: model(points)["binding"][:, 0] + model(points)["profile"][:, 2]),
    ZooEntry("multi_task", _seeded(multi_task), settings={"target": [1, 3]},
             score=lambda model, points: model(points)[:, 1] + model(points)[:, 3]),
    ZooEntry("softmax_output_logits", _seeded(softmax_output), settings={"target": 1, "logits": True},
             score=_logit_of(-2)),
    ZooEntry("subclassed", _seeded(subclassed), settings={"sequence_shape": (24, 4)}),
    ZooEntry("length_agnostic", _seeded(length_agnostic), length=80),
    ZooEntry("float64", _seeded(float64_model), rtol=1e-9),
    ZooEntry("float64_input_float32_layers", _seeded(float64_input_float32_layers)),
    ZooEntry("mixed_precision", _seeded(mixed_precision), reference=float32_twin),
]
