"""The explainer, the registry and the seams around the engine: regression tests for the
cases that crashed or were silently wrong (issue: Engine v2, items 2-7)."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from conftest import random_one_hot, small_cnn
from keras_simplex._fast.rewrite import fast_paths_enabled
from keras_simplex.explainer import explainer_for
from zoo import randomize_batch_norm


def conv_bn_model(padding="same", length=30, input_dtype=None, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((length, 4), dtype=input_dtype)
    x = keras.layers.Conv1D(6, 5, padding=padding, dilation_rate=2 if padding == "causal" else 1)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x))
    return randomize_batch_norm(keras.Model(inputs, outputs))


def assert_same_maps_as_unrewritten(model, x, expect_rewritten=True, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the rewrite handles the model
        fast = ks.Explainer(model, **settings)
        maps = fast.integrated_gradients(x, steps=4)
    plain = ks.Explainer(model, fast=False, **settings).integrated_gradients(x, steps=4)
    assert fast.engine.rewritten == expect_rewritten
    for field in ("raw", "corrected"):
        expected = getattr(plain, field)
        np.testing.assert_allclose(getattr(maps, field), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


# --- 3. the rewrite never breaks a valid model ---------------------------------------------


def test_causal_convolution_before_batch_norm_is_folded_correctly():
    assert_same_maps_as_unrewritten(conv_bn_model("causal"), random_one_hot(6, 30))


def test_input_dtype_other_than_the_layers_is_cast_as_keras_does():
    model = conv_bn_model(input_dtype="float64")
    assert_same_maps_as_unrewritten(model, random_one_hot(6, 30, dtype=np.float64))


@pytest.mark.parametrize("policy", ["float64", "float16", "bfloat16"])
def test_global_dtype_policies(policy):
    """16-bit models are explained through a float32 copy (keras_simplex.precision), which the
    rewrites handle as any float32 model."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = conv_bn_model()
    finally:
        keras.config.set_dtype_policy(previous)
    x = random_one_hot(6, 30)
    fast, plain = ks.Explainer(model), ks.Explainer(model, fast=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = fast.saliency(x, outputs=("raw",)).raw
    expected = plain.saliency(x, outputs=("raw",)).raw
    assert fast.engine.rewritten and np.isfinite(maps).all()
    assert maps.dtype == np.float32  # the input's dtype
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_length_agnostic_model_longer_than_the_old_probe():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, 4))
    x = keras.layers.Conv1D(8, 70)(inputs)  # needs at least 70 positions
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    model = randomize_batch_norm(keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalMaxPooling1D()(x))))
    assert_same_maps_as_unrewritten(model, random_one_hot(5, 100))


def test_a_rewrite_that_fails_falls_back_with_one_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported layer")

    monkeypatch.setattr("keras_simplex._fast.rewrite.folded_call", broken)
    model, x = conv_bn_model(), random_one_hot(4, 30)
    with pytest.warns(UserWarning, match="unsupported layer") as caught:
        explainer = ks.Explainer(model)
        maps = explainer.saliency(x).raw
        explainer.integrated_gradients(x, steps=3)
    assert len([w for w in caught if "speed rewrite" in str(w.message)]) == 1
    np.testing.assert_allclose(maps, ks.Explainer(model, fast=False).saliency(x).raw, rtol=1e-5, atol=1e-7)


def test_the_fast_switch(monkeypatch):
    model, x = conv_bn_model(), random_one_hot(4, 30)
    assert fast_paths_enabled()
    monkeypatch.setenv("KERAS_SIMPLEX_FAST_PATHS", "0")
    assert not fast_paths_enabled() and fast_paths_enabled(True)
    monkeypatch.delenv("KERAS_SIMPLEX_FAST_PATHS")
    ks.set_fast_paths(False)
    try:
        explainer = ks.Explainer(model)
        explainer.saliency(x)
        assert not explainer.fast and not explainer.engine.rewritten
        assert ks.Explainer(model, fast=True).fast
        ks.saliency(model, x)  # the functional API's cached explainers follow the switch too
        assert not explainer_for(model).engine.rewritten
    finally:
        ks.set_fast_paths(None)
    explainer = ks.Explainer(model)
    explainer.saliency(x)
    assert explainer.engine.rewritten
    np.testing.assert_allclose(ks.saliency(model, x, fast=False), ks.saliency(model, x), rtol=1e-4, atol=1e-6)


def test_export_without_the_fast_paths(tmp_path):
    model, x = conv_bn_model(), random_one_hot(3, 30)
    path = ks.export_saved_model(model, tmp_path / "plain", fast=False)
    loaded = tf.saved_model.load(path)
    served = loaded.signatures["corrected_saliency"](sequences=tf.constant(x))["corrected_saliency"].numpy()
    np.testing.assert_allclose(served, ks.saliency(model, x), rtol=1e-4, atol=1e-6)


# --- 4. logits=True never returns probabilities ---------------------------------------------


def logit_and_probability_models(kind):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((20, 4))
    logits = keras.layers.Dense(3)(keras.layers.Flatten()(keras.layers.Conv1D(4, 3, activation="relu")(inputs)))
    outputs = {"softmax_layer": lambda z: keras.layers.Softmax()(z),
               "sigmoid_op": lambda z: keras.ops.sigmoid(z),
               "softmax_op": lambda z: keras.ops.softmax(z),
               "activation_layer": lambda z: keras.layers.Activation("sigmoid")(z)}[kind](logits)
    return keras.Model(inputs, outputs), keras.Model(inputs, logits)


@pytest.mark.parametrize("kind", ["softmax_layer", "sigmoid_op", "softmax_op", "activation_layer"])
def test_logits_of_activation_layers_and_ops(kind):
    model, logit_model = logit_and_probability_models(kind)
    x = random_one_hot(4, 20)
    expected = ks.saliency(logit_model, x, target=1, correct=False)
    np.testing.assert_allclose(ks.saliency(model, x, target=1, logits=True, correct=False), expected, atol=1e-6)
    assert not np.allclose(ks.saliency(model, x, target=1, correct=False), expected, atol=1e-6)


def test_logits_of_a_lambda_output_is_a_clear_error():
    inputs = keras.Input((20, 4))
    score = keras.layers.Dense(1)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Lambda(lambda z: 1 / (1 + keras.ops.exp(-z)), name="squash")(score))
    with pytest.raises(ValueError, match=r"'squash' \(Lambda\).*Activation"):
        ks.saliency(model, random_one_hot(2, 20), logits=True)


# --- 5. angles: scale-invariant, exact in low precision ------------------------------------


def test_saturated_model_reports_the_angles_of_its_twin():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((20, 4))
    score = keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.Conv1D(4, 3, activation="tanh")(inputs)))
    twin = keras.Model(inputs, keras.layers.Activation("sigmoid")(score))
    saturated = keras.models.clone_model(twin)
    saturated.set_weights(twin.get_weights())
    dense = saturated.layers[-2]
    dense.bias.assign(dense.bias - 45.0)  # sigmoid at a logit near -45: gradients ~1e-20
    x = random_one_hot(4, 20)
    gradients = ks.saliency(saturated, x, correct=False)
    assert 0 < np.abs(gradients).max() < 1e-17
    np.testing.assert_allclose(ks.gradient_angles(saturated, x), ks.gradient_angles(twin, x), atol=0.05)


# --- 6. odd arguments give errors --------------------------------------------------------------


def test_odd_arguments(multi_output_cnn, x40):
    model = multi_output_cnn
    with pytest.raises(ValueError, match="selects none"):
        ks.saliency(model, x40, target=slice(5, 9))
    with pytest.raises(ValueError, match="selects no output"):
        ks.saliency(model, x40, target=[])
    for sigma in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="sigma must be a finite number"):
            ks.smoothgrad(model, x40, target=0, sigma=sigma)
    with pytest.raises(ValueError, match="max_points must be >= 1"):
        ks.saliency(model, x40, target=0, max_points=0)
    with pytest.raises(ValueError, match="max_points must be >= 1"):
        ks.Explainer(model, target=0, max_points=0)
    with pytest.raises(TypeError, match="steps must be an integer"):
        ks.integrated_gradients(model, x40, target=0, steps=2.5)
    np.testing.assert_allclose(ks.saliency(model, x40, target=np.int64(1)), ks.saliency(model, x40, target=1))
    np.testing.assert_allclose(ks.saliency(model, x40, target=np.array([0, 2])), ks.saliency(model, x40, target=[0, 2]))


def test_settings_conflicting_with_an_explainer_are_errors(multi_output_cnn, x40):
    explainer = ks.Explainer(multi_output_cnn, target=1, max_points=64)
    expected = explainer.saliency(x40).corrected  # with raw maps: projected by the kernel, so equal to rounding
    np.testing.assert_allclose(ks.saliency(explainer, x40, target=1, max_points=64, jit_compile=False), expected,
                               rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    for setting in [{"target": 2}, {"logits": True}, {"jit_compile": True}, {"max_points": 128},
                    {"fast": False}]:
        with pytest.raises(ValueError, match="conflicts with the explainer"):
            ks.integrated_gradients(explainer, x40, steps=3, **setting)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ks.saliency(explainer, x40, steps=3)


def test_an_explainer_of_every_unit_reads_and_accepts_reduce_none(multi_output_cnn, x40):
    explainer = ks.Explainer(multi_output_cnn, target="all")  # one map per unit whatever reduce says
    assert explainer.reduce is None and ks.Explainer(multi_output_cnn, target=[0, 1]).reduce == "sum"
    expected = explainer.saliency(x40[:4]).corrected
    assert expected.shape[1] == multi_output_cnn.output_shape[-1]
    np.testing.assert_allclose(ks.saliency(explainer, x40[:4], reduce=None), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ks.saliency(explainer, x40[:4], target="all", reduce="sum"), expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="reduce='sum' conflicts with the explainer"):
        ks.saliency(ks.Explainer(multi_output_cnn, target=[0, 1], reduce=None), x40[:4], reduce="sum")
    # target="all" keeps one map per unit whatever reduce says, given or not (as it always did)
    np.testing.assert_allclose(ks.saliency(explainer, x40[:4], reduce="sum"), expected, rtol=1e-5, atol=1e-7)
    ensemble = ks.EnsembleExplainer([explainer, explainer], reduce="".join(["s", "um"]))  # an equal, not the same, str
    assert ensemble.explainers == [explainer, explainer]


# --- 7. per-sequence baselines for any N ------------------------------------------------------


def test_per_sequence_baseline_arrays_for_more_sequences_than_a_block():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((6, 4))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    w = model.layers[-1].kernel.numpy().reshape(6, 4)
    x = random_one_hot(5000, 6, seed=5)
    baselines = random_one_hot(5000, 6, seed=6)
    ig = ks.integrated_gradients(model, x, baseline=baselines, steps=2, correct=False)
    np.testing.assert_allclose(ig, (x - baselines) * w, atol=1e-5)
    two = np.stack([baselines, random_one_hot(5000, 6, seed=7)], axis=1)  # (N, B, L, A)
    ig = ks.integrated_gradients(model, x, baseline=two, steps=2, correct=False)
    np.testing.assert_allclose(ig, (x - two.mean(1)) * w, atol=1e-5)
    with pytest.raises(ValueError, match="does not fit"):
        ks.integrated_gradients(model, x, baseline=baselines[:4999], steps=2)


# --- 1. methods as values ------------------------------------------------------------------


def test_methods_are_values_shared_by_every_entry_point(cnn, x40):
    method = ks.methods.integrated_gradients(baseline="shuffle", steps=6, seed=3)
    explainer = ks.Explainer(cnn)
    by_value = explainer.explain(x40, method)
    by_name = explainer.explain(x40, "integrated_gradients", baseline="shuffle", steps=6, seed=3)
    np.testing.assert_array_equal(by_value.corrected, by_name.corrected)
    # Corrected maps alone (the functional API) are projected by the first convolution: equal to rounding.
    np.testing.assert_allclose(ks.integrated_gradients(cnn, x40, baseline="shuffle", steps=6, seed=3),
                               by_value.corrected, rtol=1e-5, atol=1e-6 * np.abs(by_value.corrected).max())
    assert ks.methods.method_options("smoothgrad") == ("samples", "sigma", "seed", "multiply_by_inputs")
    with pytest.raises(ValueError, match="unknown method"):
        explainer.explain(x40, "occlusion")
    with pytest.raises(TypeError, match="go with a method name"):
        explainer.explain(x40, method, steps=3)


def test_verbose_draws_a_progress_bar_and_changes_nothing(capsys):
    model = conv_bn_model()
    x = random_one_hot(9, 30, seed=3)
    explainer = ks.Explainer(model, max_points=8)  # several chunks
    quiet = {"eg": explainer.expected_gradients(x, num_baselines=2, steps=2).corrected,
             "ism": explainer.ism(x), "shap": explainer.deep_lift_shap(x, num_references=2).raw}
    assert capsys.readouterr().out == ""
    loud = {"eg": explainer.expected_gradients(x, num_baselines=2, steps=2, verbose=1, average_strands=False).corrected,
            "ism": explainer.ism(x, verbose=1), "shap": explainer.deep_lift_shap(x, num_references=2, verbose=1).raw}
    out = capsys.readouterr().out
    assert out.count("9/9") == 3 and "sequence" in out
    for name in quiet:
        np.testing.assert_array_equal(loud[name], quiet[name])


def test_the_default_chunk_fits_the_models_activations():
    """max_points=None: 2,048 points per call, or fewer where their forward activations would
    exceed 4 GiB (a wide model on long sequences); an explicit value wins."""
    from keras_simplex.engine import ACTIVATION_BUDGET, DEFAULT_MAX_POINTS, activation_bytes

    inputs = keras.Input((4096, 4))
    hidden = keras.layers.Conv1D(512, 3, padding="same", activation="relu")(inputs)  # 8 MiB per sequence
    wide = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(hidden)))
    per_point = activation_bytes(wide)
    assert per_point in (4096 * 512 * 4 + 512 * 4 + 4, 4096 * 4 * 4 + 4096 * 512 * 4 + 512 * 4 + 4)  # (input), conv, pool, dense
    assert DEFAULT_MAX_POINTS == 2048
    assert ks.Explainer(wide).max_points == ACTIVATION_BUDGET // per_point < 1024
    assert ks.Explainer(wide, max_points=1024).max_points == 1024
    assert ks.Explainer(small_cnn()).max_points == 2048
    basset = ks.models.basset()
    assert ks.Explainer(basset, 0).max_points == ACTIVATION_BUDGET // activation_bytes(basset)
    explainer = ks.Explainer(wide)
    assert explainer_for(explainer, max_points=None) is explainer  # None: the model's default
    with pytest.raises(ValueError, match="max_points"):
        explainer_for(explainer, max_points=1024)


def test_points_differentiated_in_pieces_are_the_points_of_one_call():
    """On CPU a call differentiates its points in independent slices; with any number of
    slices, including slices that would be empty (fewer points than slices), every point gets
    its own gradient once."""
    from keras_simplex.kernel import in_pieces

    for count in range(1, 8):
        for pieces in range(1, 5):
            calls = []

            def rows(begin, end):
                calls.append((int(begin), int(end)))
                return tf.range(begin, end)[None]  # (1, points): the points' axis is 1

            assert in_pieces(rows, tf.constant(count), pieces, axis=1).numpy().tolist() == [list(range(count))]
            assert all(0 <= begin < end <= count for begin, end in calls) and len(calls) == pieces

    model = small_cnn(outputs=3, seed=5)
    x = random_one_hot(5, 40, seed=6)

    def explainer(pieces, **settings):
        explainer = ks.Explainer(model, **settings)
        explainer.engine.kernel(40).pieces = pieces
        return explainer

    assert ks.Explainer(model, 0).engine.kernel(40).pieces == 2  # the CPU default
    methods = (("saliency", {}), ("integrated_gradients", {"steps": 3}))
    for settings in ({"target": 1}, {"target": "all"}):
        one = explainer(1, **settings)
        expected = [one.explain(x, method, **options) for method, options in methods]
        many = explainer(7, **settings, max_points=9)  # 7 slices: some empty for one sequence's saliency
        for (method, options), reference in zip(methods, expected):
            result = many.explain(x, method, **options)
            for name in ("raw", "corrected", "angles"):  # equal up to the kernels' rounding
                value = getattr(reference, name)
                np.testing.assert_allclose(getattr(result, name), value, rtol=1e-5, atol=1e-6 * np.abs(value).max())


def test_the_functional_api_frees_models_and_bounds_its_cache():
    """Its cached explainers once lived in a global weak-keyed table whose values held the
    model: no model passed to ks.saliency was ever freed. A new lambda target per call is a
    new cache entry; at most 16 are kept per model."""
    import gc
    import weakref

    x = random_one_hot(3, 20)
    references = []
    for _ in range(2):
        inputs = keras.Input((20, 4))
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
        ks.saliency(model, x, target=0)
        ks.integrated_gradients(model, x, target=1, steps=4)
        references.append(weakref.ref(model))
        del model
    gc.collect()
    assert [reference() for reference in references] == [None, None]
    inputs = keras.Input((20, 4))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    for _ in range(20):
        maps = ks.saliency(model, x, target=lambda outputs: outputs[:, 0])
    np.testing.assert_allclose(maps, ks.saliency(model, x, target=0), atol=1e-6)
    assert len(model.__dict__["_keras_simplex_explainers"]) == 16


def test_one_output_named_as_a_string():
    """outputs="corrected" once read as the letters ('c', 'o', ...) and was refused."""
    inputs = keras.Input((10, 4))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    x = random_one_hot(2, 10)
    result = ks.Explainer(model).saliency(x, outputs="corrected")
    assert result.raw is None and result.angles is None
    np.testing.assert_allclose(result.corrected, ks.saliency(model, x), atol=1e-7)
