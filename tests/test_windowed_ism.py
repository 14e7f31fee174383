"""ISM on windows around each mutation (keras_simplex._fast.windowed_ism) against full forward
passes and a numpy-free brute-force loop of the model itself."""

import warnings

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot
from keras_simplex._fast import windowed_ism
from zoo import randomize_batch_norm


def every_local_layer(length=29):
    """Each kind of layer the windows handle, with the geometry that makes edges hard: valid,
    even-kernel same, causal and dilated convolutions, overlapping average pooling, max pooling
    that drops a tail, a batch norm that is not folded, and several activations."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((length, 4))
    x = keras.layers.Conv1D(6, 4, padding="same")(inputs)  # even kernel: one more position on the right
    x = keras.layers.BatchNormalization()(x)  # folded into the convolution
    x = keras.layers.LeakyReLU(0.1)(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Conv1D(5, 3, dilation_rate=2, padding="valid", activation="elu")(x)
    x = keras.layers.BatchNormalization()(x)  # after an activation: its own stage
    x = keras.layers.AveragePooling1D(3, strides=2)(x)  # overlapping windows
    x = keras.layers.Conv1D(7, 3, padding="causal")(x)
    x = keras.layers.Activation("exponential")(x)
    x = keras.layers.MaxPooling1D(2)(x)  # odd length: the last position is dropped
    x = keras.layers.ReLU()(keras.layers.Conv1D(4, 2, padding="same")(x))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    return randomize_batch_norm(keras.Model(inputs, outputs))


def mutant_loop(model, x, column):
    """Every single-letter mutant through the model, one sequence at a time."""
    result = np.zeros(x.shape)
    for n in range(len(x)):
        mutants = np.repeat(x[n][None, None], x.shape[1], 0).repeat(4, 1)
        mutants[np.arange(x.shape[1]), :, np.arange(x.shape[1])] = np.eye(4)
        values = model(mutants.reshape((-1,) + x.shape[1:]), training=False).numpy()[:, column]
        result[n] = values.reshape(x.shape[1], 4) - model(x[n : n + 1], training=False).numpy()[0, column]
    return result


def sequences(n=4, length=29, seed=1):
    x = random_one_hot(n, length, seed=seed)
    x[1, [0, 13, 28]] = 0.25  # N at both ends and inside: every letter is a substitution there
    return x


@pytest.mark.filterwarnings("error:keras_simplex. the windowed ISM:UserWarning")
@pytest.mark.parametrize("settings", [{}, {"jit_compile": True}, {"max_points": 9}])
def test_windows_equal_every_mutant_through_the_model(settings):
    model = every_local_layer()
    x = sequences()
    explainer = ks.Explainer(model, target="all", **settings)
    result = explainer.ism(x)
    assert explainer.engine._mutagenesis.mutants is not None
    stages = explainer.engine._mutagenesis.mutants.stages
    assert [stage.kind for stage in stages] == ["conv", "conv", "pool", "conv", "pool", "conv"]
    assert stages[0].norm is not None and stages[1].norm is None  # folded; after the ELU it is not
    for column in range(3):
        expected = mutant_loop(model, x, column)
        np.testing.assert_allclose(result[:, column], expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    edges = ks.Explainer(model, target=1).ism(x, positions=[28, 0, 1, 27], mean_centered=True)
    chosen = result[:, 1][:, [28, 0, 1, 27]]
    np.testing.assert_allclose(edges, chosen - chosen.mean(-1, keepdims=True), atol=1e-5)


@pytest.mark.filterwarnings("error:keras_simplex. the windowed ISM:UserWarning")
def test_logits_and_a_window_that_spans_the_sequence():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((40, 4))
    x = keras.layers.Conv1D(16, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling1D(4)(keras.layers.Conv1D(16, 5, padding="same", activation="relu")(x))
    x = keras.layers.Conv1D(4, 9, padding="same", activation="relu")(x)  # its windows span the 10 positions
    x = keras.layers.Conv1D(2, 3, padding="same", activation="tanh")(x)  # so this one runs in full
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x)))
    logit = keras.Model(inputs, keras.layers.Dense(1)(model.layers[-2].output))
    logit.layers[-1].set_weights(model.layers[-1].get_weights())
    x = random_one_hot(3, 40, seed=5)
    explainer = ks.Explainer(model, logits=True)
    result = explainer.ism(x)
    assert explainer.engine._mutagenesis.mutants is not None
    assert len(explainer.engine._mutagenesis.mutants.stages) == 5
    np.testing.assert_allclose(result, mutant_loop(logit, x, 0), rtol=1e-4, atol=1e-6)


def test_a_wrong_window_falls_back_with_one_warning(monkeypatch):
    model = every_local_layer()
    x = sequences()
    expected = ks.Explainer(model, target=0, fast=False).ism(x)
    advance = windowed_ism._advance

    def shifted(*args):
        window, start, width = advance(*args)
        return window + 0.01, start, width

    monkeypatch.setattr(windowed_ism, "_advance", shifted)
    explainer = ks.Explainer(model, target=0)
    with pytest.warns(UserWarning, match="windowed ISM was not used for this model .its mutants' outputs differed"):
        result = explainer.ism(x)
    assert explainer.engine._mutagenesis.mutants is None
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explainer.ism(x)  # one warning per explainer

    def broken(*args):
        raise RuntimeError("no such window")

    monkeypatch.setattr(windowed_ism, "_advance", broken)
    with pytest.warns(UserWarning, match="windowed ISM was not used for this model .no such window"):
        np.testing.assert_allclose(ks.Explainer(model, target=0).ism(x), expected, rtol=1e-4,
                                   atol=1e-5 * np.abs(expected).max())


@pytest.mark.filterwarnings("error")
def test_full_passes_where_windows_do_not_apply_or_are_switched_off():
    model = every_local_layer()
    x = sequences()
    assert ks.Explainer(model, target=0, fast=False).engine._mutagenesis is None
    for explainer in (ks.Explainer(model, target=0, fast=False),):
        explainer.ism(x)
        assert explainer.engine._mutagenesis.mutants is None
    ks.set_fast_paths(False)
    try:
        explainer = ks.Explainer(model, target=0)
        explainer.ism(x)
        assert explainer.engine._mutagenesis.mutants is None
    finally:
        ks.set_fast_paths(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bfloat16 on a CPU without AMX warns that it is slow
        explainer = ks.Explainer(model, target=0, precision="bfloat16")
        explainer.ism(x)
    assert explainer.engine._mutagenesis.mutants is None  # windows run in the model's own float32
    keras.utils.set_random_seed(5)
    inputs = keras.Input((29, 4))
    dense_first = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    cheap_first = keras.layers.Flatten()(keras.layers.Conv1D(2, 3, padding="same")(inputs))
    cheap_first = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(64, activation="relu")(cheap_first)))
    for model in (dense_first, cheap_first):  # nothing local first; windows that would save 14% of the work
        explainer = ks.Explainer(model)
        explainer.ism(x)  # no warning
        assert explainer.engine._mutagenesis.mutants is None
