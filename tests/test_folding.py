"""Folding inference BatchNormalization into the layer before it: same maps, only where safe."""

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import explainer_on, random_one_hot
from keras_simplex._fast.folding import foldable_pairs


def randomize_batch_norm(model, seed=0):
    """Non-trivial moving statistics, scales and offsets (fresh layers are identities)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else rng.normal(0, 0.3, w.shape)
                               for i, w in enumerate(layer.get_weights())])


def conv_bn(x, activation=None, **norm):
    x = keras.layers.Conv1D(6, 5, padding="same", activation=activation)(x)
    return keras.layers.BatchNormalization(**norm)(x)


def functional(body, length=30):
    inputs = keras.Input((length, 4))
    x = keras.layers.Flatten()(keras.layers.Activation("relu")(body(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    randomize_batch_norm(model)
    return model


@pytest.fixture(scope="module")
def deep():
    keras.utils.set_random_seed(0)
    model = ks.models.cnn_deep(input_length=60, output_activation="sigmoid")
    randomize_batch_norm(model)
    return model


def test_cnn_deep_folds_every_batch_norm_and_keeps_its_maps(deep):
    assert len(foldable_pairs(deep)) == 5  # four conv blocks and the hidden dense layer
    x = random_one_hot(16, 60, seed=1)
    folded = explainer_on(deep)
    plain = explainer_on(deep, fast=False)
    for logits in (False, True):
        for method in (ks.saliency, ks.smoothgrad, lambda m, v, **k: ks.integrated_gradients(m, v, steps=5, **k)):
            a = method(explainer_on(deep, logits=logits), x)
            b = method(explainer_on(deep, logits=logits, fast=False), x)
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
    xla = explainer_on(deep, jit_compile=True)
    np.testing.assert_allclose(ks.saliency(xla, x), ks.saliency(plain, x), rtol=1e-4, atol=1e-6)
    ks.saliency(folded, x)
    assert folded.engine.rewritten and xla.engine.rewritten and not plain.engine.rewritten


def test_folded_weights_are_read_live(deep):
    x = random_one_hot(8, 60, seed=2)
    engine = explainer_on(deep)
    before = ks.saliency(engine, x)
    original = [layer.get_weights() for layer in deep.layers]
    try:
        randomize_batch_norm(deep, seed=5)  # as if the model trained further
        after = ks.saliency(engine, x)
        expected = ks.saliency(explainer_on(deep, fast=False), x)
    finally:
        for layer, weights in zip(deep.layers, original):
            layer.set_weights(weights)
    assert not np.allclose(after, before, atol=1e-4)
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("body, folds", [
    pytest.param(lambda x: conv_bn(x, activation="relu"), 0, id="activation-before-norm"),
    pytest.param(lambda x: conv_bn(x, axis=1), 0, id="norm-over-positions"),
    pytest.param(lambda x: keras.layers.Add()([conv_bn(x), keras.layers.Conv1D(6, 1)(x)]), 1, id="in-a-branch"),
])
def test_only_safe_pairs_fold(body, folds):
    model = functional(body)
    assert len(foldable_pairs(model)) == folds
    x = random_one_hot(6, 30, seed=3)
    np.testing.assert_allclose(ks.saliency(model, x), ks.saliency(explainer_on(model, fast=False), x),
                               rtol=1e-4, atol=1e-6)


def test_a_conv_output_read_twice_is_not_folded():
    def body(x):
        z = keras.layers.Conv1D(6, 5, padding="same")(x)
        return keras.layers.Add()([keras.layers.BatchNormalization()(z), z])

    assert foldable_pairs(functional(body)) == []


def test_sequential_models_fold_and_subclassed_models_are_called_as_they_are():
    sequential = keras.Sequential([keras.Input((30, 4)), keras.layers.Conv1D(6, 5), keras.layers.BatchNormalization(),
                                   keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(1)])
    randomize_batch_norm(sequential)
    x = random_one_hot(6, 30, seed=4)
    engine = explainer_on(sequential)
    np.testing.assert_allclose(ks.saliency(engine, x),
                               ks.saliency(explainer_on(sequential, fast=False), x), rtol=1e-4, atol=1e-6)
    assert engine.engine.rewritten

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv, self.norm, self.dense = keras.layers.Conv1D(3, 3), keras.layers.BatchNormalization(), keras.layers.Dense(1)

        def call(self, x):
            return self.dense(keras.ops.sum(self.norm(self.conv(x)), axis=1))

    subclassed = ks.Explainer(Subclassed(), sequence_shape=(30, 4))
    subclassed.saliency(x)
    assert not subclassed.engine.rewritten


def test_mixed_precision_layers_are_not_folded():
    inputs = keras.Input((30, 4))
    x = keras.layers.Conv1D(6, 5, dtype="mixed_float16")(inputs)
    x = keras.layers.BatchNormalization(dtype="mixed_float16")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(keras.layers.Flatten()(x)))
    assert foldable_pairs(model) == []


def test_a_rewrite_that_changes_outputs_is_refused(deep, monkeypatch):
    monkeypatch.setattr("keras_simplex._fast.rewrite.graph_forward", lambda *args: lambda x: deep(x, training=False) + 1e-3)
    explainer = ks.Explainer(deep)
    with pytest.warns(UserWarning, match="changed the outputs"):
        explainer.saliency(random_one_hot(2, 60))
    assert not explainer.engine.rewritten
