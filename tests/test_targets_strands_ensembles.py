"""Several targets, both strands and several models in one call (issue: peaks to motifs, item 5)."""

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot
from zoo import randomize_batch_norm

METHODS = {  # small settings
    "saliency": {},
    "gradient_x_input": {},
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"samples": 3, "seed": 4},
    "expected_gradients": {"num_baselines": 2, "steps": 3, "seed": 5},
}


def multitask_cnn(units=5, length=30, seed=0):
    """Conv + batch norm (the fast path folds it) + max pooling, ``units`` sigmoid outputs."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((length, 4))
    x = keras.layers.BatchNormalization()(keras.layers.Conv1D(8, 5, padding="same")(inputs))
    x = keras.layers.MaxPooling1D(2)(keras.layers.ReLU()(x))
    outputs = keras.layers.Dense(units, activation="sigmoid")(keras.layers.Flatten()(x))
    return randomize_batch_norm(keras.Model(inputs, outputs))


@pytest.fixture(scope="module")
def model():
    return multitask_cnn()


@pytest.fixture(scope="module")
def x():
    return random_one_hot(7, 30, seed=3)


def assert_close(actual, expected, tolerance=1e-5):
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())


@pytest.mark.parametrize("method", list(METHODS))
def test_all_targets_equal_the_per_target_maps(model, x, method):
    result = ks.Explainer(model, "all").explain(x, method, **METHODS[method])
    assert result.raw.shape == (7, 5, 30, 4) and result.angles.shape == (7, 5, 30)
    for t in range(5):
        single = ks.Explainer(model, t).explain(x, method, **METHODS[method])
        for field in ("raw", "corrected", "angles"):
            assert_close(getattr(result, field)[:, t], getattr(single, field))


@pytest.mark.parametrize("settings", [dict(max_points=4), dict(jit_compile=True), dict(logits=True), dict(fast=False)])
def test_target_lists_keep_their_order_under_every_engine_setting(model, x, settings):
    method = ks.methods.method("expected_gradients", hypothetical=True, **METHODS["expected_gradients"])
    result = ks.Explainer(model, [3, 0], reduce=None, **settings).explain(x, method)
    assert result.corrected.shape == (7, 2, 30, 4)
    for column, t in enumerate([3, 0]):
        single = ks.Explainer(model, t, logits=settings.get("logits", False)).explain(x, method)
        assert_close(result.corrected[:, column], single.corrected)
        assert_close(result.raw[:, column], single.raw)


def test_reduce_sum_and_slices(model, x):
    per_target = ks.saliency(model, x, target=slice(1, 4), reduce=None)
    assert per_target.shape == (7, 3, 30, 4)
    summed = ks.saliency(model, x, target=[1, 2, 3])
    assert_close(summed, per_target.sum(axis=1))
    assert ks.gradient_angles(model, x, target="all").shape == (7, 5, 30)


def test_per_target_errors(model):
    with pytest.raises(ValueError, match="reduce=None keeps one map per output unit"):
        ks.Explainer(model, 2, reduce=None)
    with pytest.raises(ValueError, match="reduce must be 'sum' or None"):
        ks.Explainer(model, [1, 2], reduce="mean")
    with pytest.raises(ValueError, match="out of range"):
        ks.Explainer(model, [1, 7], reduce=None)
    with pytest.raises(TypeError, match="'all'"):
        ks.Explainer(model, "every")
    with pytest.raises(ValueError, match=r"target \(1, -4\) names an output unit more than once \(units \(1, 1\)\)"):
        ks.Explainer(model, [1, -4], reduce=None)


def test_negative_indices_count_from_the_end_in_lists_too(model, x):
    """As a single index does (Python's rule): -1 is the last of the 5 units."""
    for reduce in (None, "sum"):
        from_end = ks.Explainer(model, [-1, 0], reduce=reduce).saliency(x)
        assert ks.Explainer(model, [-1, 0], reduce=reduce).engine.per_target == ((4, 0) if reduce is None else None)
        assert_close(from_end.corrected, ks.Explainer(model, [4, 0], reduce=reduce).saliency(x).corrected, 0)
    assert_close(ks.saliency(model, x, target=-2), ks.saliency(model, x, target=3), 0)


def other_strand(maps):
    return maps[..., ::-1, ::-1]


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "smoothgrad", "expected_gradients"])
def test_average_strands_is_the_mean_with_the_other_strands_map(model, x, method):
    explainer = ks.Explainer(model, "all")
    averaged = explainer.explain(x, method, average_strands=True, **METHODS[method])
    forward = explainer.explain(x, method, **METHODS[method])
    reverse = explainer.explain(np.ascontiguousarray(other_strand(x)), method, **METHODS[method])
    for field in ("raw", "corrected"):
        assert_close(getattr(averaged, field), (getattr(forward, field) + other_strand(getattr(reverse, field))) / 2)
    gradient = ks.Explainer(model, "all")  # angles are those of the averaged gradient
    g_forward = gradient.saliency(x).raw
    g_reverse = other_strand(gradient.saliency(np.ascontiguousarray(other_strand(x))).raw)
    expected_angles = ks.simplex_angle((g_forward + g_reverse) / 2).numpy()
    np.testing.assert_allclose(explainer.saliency(x, average_strands=True).angles, expected_angles, atol=1e-3)


def test_average_strands_of_an_equivariant_model_changes_nothing(x):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((30, 4))
    conv = keras.layers.Conv1D(4, 5, activation="relu")
    pool = keras.layers.GlobalMaxPooling1D()
    both = keras.layers.Add()([pool(conv(inputs)), pool(conv(keras.layers.Lambda(lambda t: t[:, ::-1, ::-1])(inputs)))])
    model = keras.Model(inputs, keras.layers.Dense(1)(both))
    plain = ks.saliency(model, x)
    assert_close(ks.saliency(model, x, average_strands=True), plain)
    assert_close(other_strand(ks.saliency(model, np.ascontiguousarray(other_strand(x)))), plain)


def test_average_strands_reads_baseline_arrays_on_the_other_strand(model, x):
    baselines = random_one_hot(7 * 2, 30, seed=9).reshape(7, 2, 30, 4)
    explainer = ks.Explainer(model, 1)
    averaged = explainer.integrated_gradients(x, baseline=baselines, steps=3, average_strands=True)
    forward = explainer.integrated_gradients(x, baseline=baselines, steps=3)
    reverse = explainer.integrated_gradients(np.ascontiguousarray(other_strand(x)), steps=3,
                                             baseline=np.ascontiguousarray(other_strand(baselines)))
    assert_close(averaged.corrected, (forward.corrected + other_strand(reverse.corrected)) / 2)


def test_average_strands_needs_four_letters():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 20))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="4-letter"):
        ks.saliency(model, random_one_hot(2, 10, 20), average_strands=True)


def test_ensemble_mean_dispersion_and_angles(x):
    models = [multitask_cnn(seed=s) for s in range(3)]
    result = ks.EnsembleExplainer(models, target=2).integrated_gradients(x, steps=4)
    singles = [ks.Explainer(m, 2).integrated_gradients(x, steps=4) for m in models]
    assert result.models == 3
    for field in ("raw", "corrected"):
        maps = np.stack([getattr(s, field) for s in singles]).astype(np.float64)
        mean = maps.mean(0)
        assert_close(getattr(result, field), mean)
        spread = np.sqrt(np.mean(np.sum((maps - mean) ** 2, axis=-1), axis=0))  # (N, L)
        assert_close(getattr(result, f"{field}_dispersion"), spread)
    mean_gradient = np.mean([ks.Explainer(m, 2).integrated_gradients(x, steps=4, multiply_by_inputs=False).raw
                             for m in models], axis=0)
    np.testing.assert_allclose(result.angles, ks.simplex_angle(mean_gradient).numpy(), atol=1e-3)


def test_ensemble_of_one_model_twice_has_no_dispersion(model, x):
    result = ks.EnsembleExplainer([model, ks.Explainer(model, "all")], target="all").saliency(x, average_strands=True)
    assert result.corrected.shape == (7, 5, 30, 4) and result.corrected_dispersion.shape == (7, 5, 30)
    np.testing.assert_allclose(result.corrected_dispersion, 0, atol=1e-7)
    assert_close(result.corrected, ks.saliency(model, x, target="all", average_strands=True))


def test_ensemble_errors(model):
    with pytest.raises(ValueError, match="at least one model"):
        ks.EnsembleExplainer([])
    with pytest.raises(ValueError, match=r"differ in their input \(L, A\)"):
        ks.EnsembleExplainer([model, multitask_cnn(length=20)], target=0)
    with pytest.raises(ValueError, match="differ in the target units they explain"):
        ks.EnsembleExplainer([ks.Explainer(model, "all"), ks.Explainer(model, [1, 2], reduce=None)])
    with pytest.raises(ValueError, match="differ in the target units they explain"):  # summed: 0 is not 1
        ks.EnsembleExplainer([ks.Explainer(model, 0), ks.Explainer(model, 1)])
    ks.EnsembleExplainer([ks.Explainer(model, -1), ks.Explainer(model, 4)])  # the same unit
    # Members of other output counts: "the last unit" or a slice once meant other units in each.
    for target in (slice(-1, None), 0, [0, 1]):
        with pytest.raises(ValueError, match=r"differ in their outputs \(shape\): model 0: \(None, 5\), model 1: \(None, 3\)"):
            ks.EnsembleExplainer([model, multitask_cnn(units=3)], target=target)
    # Settings given with Explainer members are checked, and members must agree (a logit map
    # was once averaged with a probability map).
    with pytest.raises(ValueError, match="logits=True conflicts with the explainer"):
        ks.EnsembleExplainer([ks.Explainer(model, 0), ks.Explainer(model, 0)], target=0, logits=True)
    with pytest.raises(ValueError, match="differ in logits: model 0: False, model 1: True"):
        ks.EnsembleExplainer([ks.Explainer(model, 0), ks.Explainer(model, 0, logits=True)])
    with pytest.raises(ValueError, match="differ in reduce"):
        ks.EnsembleExplainer([ks.Explainer(model, [0, 1]), ks.Explainer(model, [0, 1], reduce=None)])
    with pytest.raises(ValueError, match="ism explains one model"):
        ks.EnsembleExplainer([model, model], target=0).explain(random_one_hot(2, 30), "ism")


def test_the_ensemble_offers_every_gradient_method(model, x):
    ensemble = ks.EnsembleExplainer([model, multitask_cnn(seed=1)], target=2)
    members = [ks.Explainer(m, 2) for m in (model, multitask_cnn(seed=1))]
    for name, options in (("gradient_x_input", {}), ("smoothgrad", {"samples": 3, "seed": 1})):
        expected = np.mean([getattr(e, name)(x, **options).corrected for e in members], axis=0)
        assert_close(getattr(ensemble, name)(x, verbose=1, **options).corrected, expected)
    mean_gradient = np.mean([e.saliency(x, outputs=("raw",)).raw for e in members], axis=0)
    assert_close(ensemble.angles(x), ks.simplex_angle(mean_gradient).numpy(), 1e-4)


def test_an_explainer_passed_back_with_its_own_target_is_accepted(model, x):
    """The functional API compares a target given with an explainer as the explainer resolved it."""
    for target, reduce in (([-1, 0], None), ([-1, 0], "sum"), ("all", None), (-1, "sum")):
        explainer = ks.Explainer(model, target, reduce=reduce)
        kwargs = {} if reduce == "sum" else {"reduce": None}
        assert_close(ks.saliency(explainer, x, target=target, **kwargs), explainer.saliency(x).corrected)
    with pytest.raises(ValueError, match="conflicts with the explainer"):
        ks.saliency(ks.Explainer(model, [-1, 0], reduce=None), x, target=[0, 4], reduce=None)


def test_ensembles_of_many_models_are_not_reported_as_retracing(x):
    """Each model's kernels are traced once; TensorFlow must not warn of "retracing" (it counts
    traces per code object, across kernels) for a 6-model ensemble or a loop of explainers."""
    import logging

    import tensorflow as tf

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    tf.get_logger().addHandler(handler)
    try:
        models = [multitask_cnn(seed=s) for s in range(6)]
        ensemble = ks.EnsembleExplainer(models, target=1)
        ensemble.saliency(x)
        ensemble.integrated_gradients(x, steps=2)
        for m in models:
            ks.Explainer(m, 1).deep_lift_shap(x, num_references=2)
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [r.getMessage() for r in records if "retracing" in r.getMessage()]


@pytest.mark.parametrize("target", [0, -1, [0], "all"])
def test_an_index_target_on_an_output_of_one_scalar_per_sequence(target):
    """A model ending in a squeeze outputs ``(N,)``: index 0 is its one unit. It once indexed
    the batch (each compiled chunk explained its first sequence's output for every sequence)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 4))
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, keras.ops.squeeze(dense(keras.layers.Flatten()(inputs)), -1))
    x = random_one_hot(3, 10)
    weights = dense.get_weights()[0][:, 0].reshape(10, 4)  # the model is linear: this is its gradient
    expected = np.broadcast_to(weights, x.shape)
    for jit in (False, True):
        explainer = ks.Explainer(model, target=target, jit_compile=jit)
        raw = explainer.saliency(x).raw
        np.testing.assert_allclose(raw[:, 0] if target == "all" else raw, expected, rtol=1e-5, atol=1e-6)
        ism = np.asarray(explainer.ism(x))  # f(mutant) - f(x) = w[l, a] - w[l, observed letter]
        np.testing.assert_allclose(ism[:, 0] if target == "all" else ism, weights - (x * weights).sum(-1, keepdims=True),
                                   rtol=1e-4, atol=1e-5)
