"""Max pooling moved before a non-decreasing activation, or taken with the activation into a
rewritten convolution's call: the same maps, only where it is exact."""

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import explainer_on, random_one_hot
from keras_simplex._fast.pooling import non_decreasing
from keras_simplex._fast.rewrite import _identity, speed_replacements
from keras_simplex.functional_graph import functional_graph


def pooled_model(activation="relu", between=(), own_activation=False, pool=4, length=48):
    """conv(8, 5) -> [activation] -> ``between`` layers -> max pool -> dense(1); the activation
    is the convolution's own with ``own_activation``."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((length, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", activation=activation if own_activation else None)(inputs)
    if not own_activation:
        x = keras.layers.Activation(activation)(x)
    for layer in between:
        x = layer(x)
    x = keras.layers.MaxPooling1D(pool)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def rewritten_pooling(model, convolutions=True):
    """How each max pooling layer of ``model`` is rewritten: "epilogue" (taken into a
    convolution's call), "first" (moved before its activation) or None."""
    replacements, _ = speed_replacements(functional_graph(model), convolutions=convolutions)
    kinds = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D)):
            replacement = replacements.get(id(layer))
            kinds.append(None if replacement is None else "epilogue" if replacement is _identity else "first")
    return kinds


def test_non_decreasing_activations_only():
    for name in ("relu", "exponential", "sigmoid", "tanh", "softplus", "elu", "selu"):
        assert non_decreasing(keras.activations.get(name))
    for name in ("gelu", "silu", "mish", "softmax", "hard_silu", "linear"):
        assert not non_decreasing(keras.activations.get(name))


def test_which_poolings_are_rewritten():
    assert rewritten_pooling(pooled_model()) == ["epilogue"]
    assert rewritten_pooling(pooled_model(), convolutions=False) == ["first"]
    assert rewritten_pooling(pooled_model(between=[keras.layers.Dropout(0.3), keras.layers.SpatialDropout1D(0.2)])) == [
        "epilogue"]
    assert rewritten_pooling(pooled_model(own_activation=True)) == ["epilogue"]
    assert rewritten_pooling(pooled_model(own_activation=True), convolutions=False) == [None]  # the layer applies it
    assert rewritten_pooling(pooled_model("gelu")) == [None]  # not monotone: max(gelu(z)) != gelu(max(z))
    assert rewritten_pooling(pooled_model(between=[keras.layers.LayerNormalization()])) == [None]

    keras.utils.set_random_seed(12)
    inputs = keras.Input((48, 4))
    activated = keras.layers.Activation("relu")(keras.layers.Conv1D(8, 5, padding="same")(inputs))
    pooled = keras.layers.Flatten()(keras.layers.MaxPooling1D(4)(activated))
    read_twice = keras.Model(inputs, keras.layers.Concatenate()([pooled, keras.layers.Flatten()(activated)]))
    assert rewritten_pooling(read_twice) == [None]  # the activation's output is used unpooled too

    inputs = keras.Input((8, 8, 4))
    activated = keras.layers.Activation("relu")(keras.layers.Conv2D(8, 3, padding="same")(inputs))
    pooled = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(activated))
    assert rewritten_pooling(keras.Model(inputs, pooled)) == ["first"]  # no Conv1D rewrite to take it


@pytest.mark.parametrize("activation,own", [("relu", False), ("exponential", True), ("tanh", False)])
def test_maps_equal_the_model_with_tied_windows(activation, own):
    """Equal activations in a window (repeated letters tie every window) route the gradient to
    the same position as the model's own pooling does; random sequences agree too."""
    model = pooled_model(activation, own_activation=own, between=[keras.layers.Dropout(0.5)])
    x = np.concatenate([random_one_hot(6, 48, seed=4), np.tile(np.eye(4, dtype=np.float32)[[0]], (2, 48, 1)),
                        np.tile(np.eye(4, dtype=np.float32)[[1, 1, 2, 2]], (2, 12, 1))])
    fast, plain = explainer_on(model), explainer_on(model, fast=False)
    for method in (ks.saliency, lambda m, v: ks.integrated_gradients(m, v, steps=6)):
        expected = method(plain, x)
        np.testing.assert_allclose(method(fast, x), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert fast.engine.rewritten
