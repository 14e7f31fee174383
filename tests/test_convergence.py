"""Convergence deltas and baseline functions (issue: reference methods, items 3-4)."""

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot
from zoo import randomize_batch_norm

WITH_DELTA = ("raw", "corrected", "angles", "delta")


def smooth_cnn(outputs=1, seed=2):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((20, 4))
    x = keras.layers.BatchNormalization()(keras.layers.Conv1D(6, 5, padding="same", activation="softplus")(inputs))
    outputs = keras.layers.Dense(outputs, activation="sigmoid")(keras.layers.Flatten()(x))
    return randomize_batch_norm(keras.Model(inputs, outputs))


def expected_delta(model, x, starts, raw, column=0):
    """f(x) - mean_b f(b) - sum(raw), with the model called directly."""
    f_x = model(x, training=False).numpy()[:, column]
    flat = starts.reshape((-1,) + x.shape[1:])
    f_b = model(flat, training=False).numpy()[:, column].reshape(starts.shape[:2]).mean(1)
    return f_x - f_b - raw.sum(axis=(-1, -2))


@pytest.mark.parametrize("options", [
    {"steps": 5, "baseline": "uniform"},
    {"steps": 4, "baseline": "zeros", "rule": "gauss_legendre"},
    {"steps": 6, "baseline": "dinucleotide_shuffle", "num_baselines": 3, "seed": 1},
])
@pytest.mark.parametrize("settings", [{}, {"max_points": 5}, {"jit_compile": True}])
def test_delta_is_the_completeness_error(options, settings):
    model = smooth_cnn()
    x = random_one_hot(6, 20, seed=7)
    method = ks.methods.integrated_gradients(**options)
    result = ks.Explainer(model, **settings).explain(x, method, outputs=WITH_DELTA)
    starts = np.broadcast_to(method.starts(x), (6,) + method.starts(x).shape[1:])
    np.testing.assert_allclose(result.delta, expected_delta(model, x, starts, result.raw), atol=2e-6)
    hypothetical = ks.Explainer(model).explain(x, method.hypothetical_form(), outputs=("delta",))
    np.testing.assert_allclose(hypothetical.delta, result.delta, atol=2e-6)


def test_delta_shrinks_with_more_steps():
    model = smooth_cnn()
    x = random_one_hot(8, 20, seed=8)
    deltas = [np.abs(ks.Explainer(model).integrated_gradients(x, steps=s, outputs=("delta",)).delta).mean()
              for s in (2, 8, 64)]
    assert deltas[0] > deltas[1] > deltas[2]


def test_delta_per_target_strands_and_ensembles():
    model = smooth_cnn(outputs=3)
    x = random_one_hot(5, 20, seed=9)
    explainer = ks.Explainer(model, "all")
    result = explainer.integrated_gradients(x, steps=4, outputs=WITH_DELTA)
    assert result.delta.shape == (5, 3)
    for t in range(3):
        single = ks.Explainer(model, t).integrated_gradients(x, steps=4, outputs=WITH_DELTA)
        np.testing.assert_allclose(result.delta[:, t], single.delta, atol=1e-6)
    both = explainer.integrated_gradients(x, steps=4, outputs=("delta",), average_strands=True).delta
    other = explainer.integrated_gradients(np.ascontiguousarray(x[:, ::-1, ::-1]), steps=4, outputs=("delta",)).delta
    np.testing.assert_allclose(both, (result.delta + other) / 2, atol=1e-6)
    ensemble = ks.EnsembleExplainer([model, smooth_cnn(outputs=3, seed=3)], "all")
    mean = ensemble.integrated_gradients(x, steps=4, outputs=("delta",)).delta
    second = ks.Explainer(ensemble.explainers[1].model, "all").integrated_gradients(x, steps=4, outputs=("delta",))
    np.testing.assert_allclose(mean, (result.delta + second.delta) / 2, atol=1e-6)


def test_delta_needs_a_contribution_map():
    model = smooth_cnn()
    x = random_one_hot(2, 20)
    with pytest.raises(ValueError, match="convergence delta"):
        ks.Explainer(model).saliency(x, outputs=("delta",))
    with pytest.raises(ValueError, match="convergence delta"):
        ks.Explainer(model).integrated_gradients(x, multiply_by_inputs=False, outputs=("delta",))


def gc_matched(x, count, seed):
    """A user's null: per sequence, ``count`` random sequences with its GC content per position
    block, drawn from a generator seeded by the sequence and the seed."""
    references = np.zeros((len(x), count) + x.shape[1:], x.dtype)
    for n, sequence in enumerate(x):
        rng = np.random.default_rng([seed, int(sequence.argmax(-1) @ (np.arange(sequence.shape[0]) % 7))])
        gc = sequence[:, 1:3].sum() / len(sequence)
        probabilities = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
        letters = rng.choice(4, size=(count, len(sequence)), p=probabilities)
        references[n] = np.eye(4, dtype=x.dtype)[letters]
    return references


def test_baseline_functions_equal_the_same_arrays():
    model = smooth_cnn()
    x = random_one_hot(7, 20, seed=10)
    explainer = ks.Explainer(model)
    from_function = explainer.expected_gradients(x, baseline=gc_matched, num_baselines=3, steps=4, seed=5)
    from_array = explainer.expected_gradients(x, baseline=gc_matched(x, 3, 5), num_baselines=3, steps=4)
    np.testing.assert_allclose(from_function.corrected, from_array.corrected, atol=1e-6)
    one_by_one = np.concatenate([explainer.expected_gradients(x[i : i + 1], baseline=gc_matched, num_baselines=3,
                                                              steps=4, seed=5).corrected for i in range(7)])
    np.testing.assert_allclose(one_by_one, from_function.corrected, atol=1e-6)
    assert ks.methods.integrated_gradients(baseline=gc_matched).options()["baseline"] == "function gc_matched"
    with pytest.raises(ValueError, match="baseline function returned shape"):
        explainer.integrated_gradients(x, baseline=lambda x, n, seed: x[:, None, :10], steps=3)
