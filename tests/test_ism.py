"""In-silico mutagenesis against analytic results and a brute-force loop (issue: reference methods)."""

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot
from zoo import randomize_batch_norm


def linear_model(length=12, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((length, 4))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))


def cnn(outputs=1, length=25, seed=1):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((length, 4))
    x = keras.layers.BatchNormalization()(keras.layers.Conv1D(6, 5, padding="same")(inputs))
    x = keras.layers.MaxPooling1D(2)(keras.layers.Activation("exponential")(x))
    outputs = keras.layers.Dense(outputs, activation="sigmoid")(keras.layers.Flatten()(x))
    return randomize_batch_norm(keras.Model(inputs, outputs))


def brute_force_ism(model, x, column=0):
    """Every mutant built and predicted one sequence at a time, in numpy."""
    result = np.zeros(x.shape)
    for n in range(len(x)):
        mutants = np.repeat(x[n][None, None], x.shape[1], 0).repeat(4, 1)  # (L, A, L, A)
        for position in range(x.shape[1]):
            mutants[position, :, position] = np.eye(4)
        values = model(mutants.reshape((-1,) + x.shape[1:]), training=False).numpy()[:, column].reshape(x.shape[1], 4)
        result[n] = values - model(x[n : n + 1], training=False).numpy()[0, column]
    return result


def test_ism_of_a_linear_model_is_analytic_and_equals_taylor_ism():
    model = linear_model()
    x = random_one_hot(4, 12, seed=2)
    weights = model.layers[-1].kernel.numpy().reshape(12, 4)
    expected = weights[None] - np.sum(x * weights[None], axis=-1, keepdims=True)
    result = ks.ism(model, x)
    np.testing.assert_allclose(result, expected, atol=1e-5)
    assert (result[x == 1] == 0).all()  # exactly 0 at the observed letters
    np.testing.assert_allclose(ks.taylor_ism(model, x), expected, atol=1e-5)


@pytest.mark.parametrize("settings", [{}, {"max_points": 7}, {"jit_compile": True}, {"fast": False}])
def test_ism_equals_the_brute_force_loop(settings):
    model = cnn()
    x = random_one_hot(3, 25, seed=3)
    np.testing.assert_allclose(ks.Explainer(model, **settings).ism(x), brute_force_ism(model, x), rtol=1e-4, atol=1e-6)


def test_windows_centring_targets_and_n():
    model = cnn(outputs=3)
    x = random_one_hot(3, 25, seed=4)
    x[1, 7] = 0.25  # an N: every letter is a real substitution there
    full = ks.ism(model, x, target="all")
    assert full.shape == (3, 3, 25, 4)
    for t in range(3):
        np.testing.assert_allclose(full[:, t], brute_force_ism(model, x, t), rtol=1e-4, atol=1e-6)
    assert (full[1, :, 7] != 0).all()
    window = ks.ism(model, x, target=2, positions=slice(5, 15))
    np.testing.assert_allclose(window, full[:, 2, 5:15], atol=1e-6)
    picked = ks.ism(model, x, target=2, positions=[20, 3], mean_centered=True)
    chosen = full[:, 2, [20, 3]]
    np.testing.assert_allclose(picked, chosen - chosen.mean(-1, keepdims=True), atol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        ks.ism(model, x, target=2, positions=[25])
    with pytest.raises(ValueError, match="no position"):
        ks.ism(model, x, target=2, positions=slice(3, 3))
    with pytest.raises(ValueError, match=r"positions \[\] select no position"):  # was "not a list of integers"
        ks.ism(model, x, target=2, positions=[])


def test_taylor_ism_is_the_hypothetical_form_of_the_corrected_gradient():
    model = cnn()
    x = random_one_hot(5, 25, seed=5)
    corrected = ks.saliency(model, x)
    np.testing.assert_allclose(ks.taylor_ism(model, x), corrected - np.sum(x * corrected, -1, keepdims=True),
                               rtol=1e-5, atol=1e-7)
