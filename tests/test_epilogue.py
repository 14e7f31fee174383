"""Activation and max pooling taken into a rewritten convolution's call: which layers, and the
model's own outputs and input gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from conftest import explainer_on, random_one_hot
from keras_simplex._fast.epilogue import max_pool_epilogue
from keras_simplex._fast.rewrite import _identity, speed_replacements
from keras_simplex.functional_graph import functional_graph


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("activation", ["relu", "elu"])
@pytest.mark.parametrize("pool,strides,padding", [(4, None, "valid"), (3, 2, "same"), (2, 3, "valid")])
def test_max_pool_epilogue_equals_the_layers(activation, pool, strides, padding, jit_compile):
    """Values and input gradients against TensorFlow's own gradient of the activation and the
    Keras pooling layer, with windows where every value is negative (pooled ReLU 0), tied
    windows, overlapping and gapped windows, under XLA too."""
    pooling = keras.layers.MaxPooling1D(pool, strides, padding)
    epilogue = max_pool_epilogue(pooling, keras.activations.get(activation))
    rng = np.random.default_rng(pool)
    z = rng.normal(size=(3, 29, 5)) - 0.5
    z[0, :8] = -1.0 - rng.random((8, 5))  # all negative
    z[1, 4:12] = 0.75  # tied
    z = tf.constant(z, tf.float32)
    upstream = tf.constant(rng.normal(size=pooling(keras.activations.get(activation)(z)).shape), tf.float32)

    @tf.function(jit_compile=jit_compile)
    def ours(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            outputs = tf.squeeze(epilogue(tf.expand_dims(z, 1)), 1)
        return outputs, tape.gradient(outputs, z, output_gradients=upstream)

    with tf.GradientTape() as tape:
        tape.watch(z)
        expected = pooling(keras.activations.get(activation)(z))
    expected_gradient = tape.gradient(expected, z, output_gradients=upstream)
    outputs, gradient = ours(z)
    np.testing.assert_allclose(outputs, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-6, atol=1e-7)
    if activation == "relu":
        assert np.all(np.asarray(gradient)[0, :4] == 0)


def blocks_model():
    """Four convolution blocks: BN, ReLU, dropout, overlapping pooling; own ReLU and pooling;
    a ReLU layer without pooling; ELU and pooling; then a dense output."""
    keras.utils.set_random_seed(21)
    inputs = keras.Input((60, 4))
    x = keras.layers.Conv1D(12, 7, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.MaxPooling1D(3, 2, padding="same")(x)
    x = keras.layers.Conv1D(16, 5, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.ReLU()(keras.layers.Conv1D(16, 3, padding="same")(x))
    x = keras.layers.Activation("elu")(keras.layers.Conv1D(8, 3, padding="valid")(x))
    x = keras.layers.MaxPooling1D(2)(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    rng = np.random.default_rng(22)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, 12), rng.normal(0, 0.2, 12), rng.normal(0, 0.2, 12),
                               rng.uniform(0.5, 1.5, 12)])
    return model


def test_which_layers_the_convolutions_take_over():
    model = blocks_model()
    replacements, _ = speed_replacements(functional_graph(model))
    taken = [type(layer).__name__ for layer in model.layers if replacements.get(id(layer)) is _identity]
    assert taken == ["BatchNormalization", "Activation", "MaxPooling1D", "MaxPooling1D", "ReLU", "Activation",
                     "MaxPooling1D"]
    assert all(id(layer) in replacements for layer in model.layers if isinstance(layer, keras.layers.Conv1D))
    without_pooling, _ = speed_replacements(functional_graph(model), pool_first=False)
    assert not any(isinstance(layer, keras.layers.MaxPooling1D) and id(layer) in without_pooling
                   for layer in model.layers)


def test_maps_equal_the_model():
    """Random sequences and repeated letters (tied windows), the first block's bias shifted so
    that whole windows are negative: the rewritten model's maps are the model's own."""
    model = blocks_model()
    first = model.layers[1]
    first.bias.assign(first.bias - 0.4)
    x = np.concatenate([random_one_hot(6, 60, seed=23), np.tile(np.eye(4, dtype=np.float32)[[2]], (2, 60, 1))])
    fast, plain = explainer_on(model, target=1), explainer_on(model, target=1, fast=False)
    for method in (ks.saliency, lambda m, v: ks.integrated_gradients(m, v, steps=6)):
        expected = method(plain, x)
        np.testing.assert_allclose(method(fast, x), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert fast.engine.rewritten


@pytest.mark.parametrize("own", [True, False])
def test_an_activation_making_the_output_stays_for_logits(own):
    """A sigmoid that makes the model's output (the convolution's own, or an Activation layer
    after it) is left to its layer, so that ``logits=True`` removes it: the rewrite is used and
    its maps are the logit's."""
    keras.utils.set_random_seed(24)
    inputs = keras.Input((40, 4))
    x = keras.layers.MaxPooling1D(2)(keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs))
    if own:
        outputs = keras.layers.Conv1D(2, 3, activation="sigmoid")(x)
    else:
        outputs = keras.layers.Activation("sigmoid")(keras.layers.Conv1D(2, 3)(x))
    model = keras.Model(inputs, outputs)
    x = random_one_hot(5, 40, seed=25)
    fast = explainer_on(model, target=0, logits=True)
    expected = ks.saliency(explainer_on(model, target=0, logits=True, fast=False), x)
    np.testing.assert_allclose(ks.saliency(fast, x), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert fast.engine.rewritten
    assert not np.allclose(ks.saliency(explainer_on(model, target=0, fast=False), x), expected, atol=1e-3)
