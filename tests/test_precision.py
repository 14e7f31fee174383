"""precision="bfloat16": the model's passes in bfloat16, everything else in float32."""

import warnings

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot, small_cnn
from zoo import subclassed

BF16_EPS = 2.0**-8  # bfloat16 keeps 8 bits of mantissa


def cosines(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def linear_model(length=30, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((length, 4))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))


def test_a_linear_models_saliency_is_its_weights_rounded_to_bfloat16():
    model = linear_model()
    weights = model.layers[-1].kernel.numpy().reshape(30, 4)
    x = random_one_hot(5, 30, seed=1)
    explainer = ks.Explainer(model, precision="bfloat16")
    result = explainer.saliency(x)
    assert result.raw.dtype == np.float32 and result.angles.dtype == np.float32
    # The gradient of x @ W is W, read in bfloat16: within one rounding of W.
    np.testing.assert_allclose(result.raw, np.broadcast_to(weights, x.shape), rtol=BF16_EPS, atol=0)
    assert np.abs(result.raw - weights).max() > 0  # really rounded: not the float32 gradient
    np.testing.assert_allclose(result.corrected, result.raw - result.raw.mean(-1, keepdims=True), atol=1e-7)
    assert explainer.precision == "bfloat16" and ks.Explainer(model).precision == "float32"


def test_maps_are_close_to_float32_and_the_model_is_untouched():
    model = small_cnn(length=40, smooth=True, seed=3)
    before = [w.copy() for w in model.get_weights()]
    x = random_one_hot(32, 40, seed=2)
    full = ks.Explainer(model).integrated_gradients(x, steps=8)
    half = ks.Explainer(model, precision="bfloat16").integrated_gradients(x, steps=8)
    assert np.median(cosines(full.corrected, half.corrected)) > 0.99
    assert np.abs(half.corrected - full.corrected).max() < 0.1 * np.abs(full.corrected).max()
    assert not np.array_equal(half.corrected, full.corrected)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}


def test_the_copy_computes_in_bfloat16_with_float32_weights():
    model = ks.models.cnn_deep(input_length=60)
    copy = ks.precision.precision_copy(model, "bfloat16")
    layers = [layer for layer in copy.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert {layer.compute_dtype for layer in layers} == {"bfloat16"}
    assert {str(w.dtype) for w in copy.weights} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), copy.get_weights()))


def test_the_rewrites_run_in_bfloat16_and_keep_its_accuracy():
    keras.utils.set_random_seed(4)
    model = ks.models.cnn_deep(input_length=60, output_activation=None)
    x = random_one_hot(16, 60, seed=5)
    full = ks.Explainer(model).saliency(x).corrected
    fast = ks.Explainer(model, precision="bfloat16")
    rewritten = fast.saliency(x).corrected
    plain = ks.Explainer(model, precision="bfloat16", fast=False).saliency(x).corrected
    assert fast.engine.rewritten
    error = [np.sqrt(np.mean((maps - full) ** 2)) for maps in (rewritten, plain)]
    assert error[0] <= 3 * error[1]  # about as close to float32 as the copy without rewrites


def test_ism_xla_and_the_functional_api_in_bfloat16():
    model = small_cnn(length=40, seed=6)
    x = random_one_hot(6, 40, seed=7)
    full = ks.Explainer(model).ism(x)
    half = ks.Explainer(model, precision="bfloat16").ism(x)
    assert np.median(cosines(full, half)) > 0.98 and half.dtype == np.float32
    xla = ks.Explainer(model, precision="bfloat16", jit_compile=True).saliency(x).corrected
    graph = ks.saliency(model, x, precision="bfloat16")
    np.testing.assert_allclose(xla, graph, atol=0.05 * np.abs(graph).max())
    explainer = ks.Explainer(model)
    with pytest.raises(ValueError, match="precision"):
        ks.saliency(explainer, x, precision="bfloat16")  # a setting that differs from the explainer's


def test_deep_lift_shap_runs_the_model_as_it_is():
    model = small_cnn(length=40, seed=8, activation=None)
    x = random_one_hot(4, 40, seed=9)
    full = ks.Explainer(model).deep_lift_shap(x, num_references=3)
    half = ks.Explainer(model, precision="bfloat16").deep_lift_shap(x, num_references=3)
    np.testing.assert_array_equal(full.corrected, half.corrected)


def test_bad_precisions_are_clear_errors():
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, got 'float16'"):
        ks.Explainer(small_cnn(), precision="float16")
    with pytest.raises(ValueError, match="needs a functional or Sequential model"):
        ks.Explainer(subclassed(), sequence_shape=(40, 4), precision="bfloat16")


def test_the_command_line_attributes_in_bfloat16(tmp_path):
    import h5py

    from conftest import command_in_process

    model = small_cnn(length=40, seed=10)
    model.save(tmp_path / "model.keras")
    x = random_one_hot(8, 40, seed=11)
    np.savez(tmp_path / "x.npz", x=x)
    common = ["attribute", "--model", tmp_path / "model.keras", "--input", tmp_path / "x.npz"]
    code, _, err = command_in_process(*common, "--output", tmp_path / "o.h5", "--precision", "bfloat16")
    assert code == 0, err
    with h5py.File(tmp_path / "o.h5") as f:
        assert f.attrs["precision"] == "bfloat16"
        # The command computes raw maps and angles too, so the kernel projects (rather than the
        # first convolution, which it does for corrected maps alone: other bfloat16 rounding).
        expected = ks.Explainer(model, precision="bfloat16").explain(x, "saliency").corrected
        np.testing.assert_array_equal(f["corrected"][()], expected)
    code, _, err = command_in_process(*common, "--output", tmp_path / "d.h5", "--precision", "bfloat16",
                                      "--method", "deep_lift_shap")
    assert code == 1 and "--precision applies to gradient methods and ism" in err


SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
NO_AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_fp16\n"


def test_amx_is_read_from_the_cpu_flags():
    assert ks.precision.cpu_has_amx(SAPPHIRE_RAPIDS) is True
    assert ks.precision.cpu_has_amx(NO_AMX) is False
    assert ks.precision.cpu_has_amx("Hardware\t: some ARM board\n") is None  # no flags line: cannot tell
    assert ks.precision.cpu_has_amx() in (True, False, None)  # this machine's own, read without error


@pytest.mark.parametrize("cpuinfo, warned", [(NO_AMX, True), (SAPPHIRE_RAPIDS, False), ("", False)],
                         ids=["no AMX", "AMX", "unknown"])
def test_bfloat16_on_a_cpu_without_amx_warns_once(monkeypatch, tmp_path, cpuinfo, warned):
    from keras_simplex import engine

    (tmp_path / "cpuinfo").write_text(cpuinfo)
    monkeypatch.setattr(ks.precision, "CPUINFO", str(tmp_path / "cpuinfo"))
    monkeypatch.setattr(ks.precision, "x86", lambda: True)
    monkeypatch.setattr(ks.precision, "_warned_slow", False)
    monkeypatch.setattr(engine, "has_gpu", lambda: False)
    model = small_cnn(length=40, seed=12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            ks.Explainer(model, precision="bfloat16")
        ks.Explainer(model)
    slow = [w for w in caught if "without AMX" in str(w.message)]
    assert len(slow) == int(warned)
    if warned:
        assert "0.60-0.66x the speed of float32" in str(slow[0].message)
        assert slow[0].filename == __file__  # points at the caller's line


def test_a_bfloat16_explainer_follows_the_models_new_weights():
    """The bfloat16 copy is updated before every run: after training (set_weights here) the
    maps are those of the new weights, as a new explainer's."""
    model = small_cnn(length=40, seed=8)
    x = random_one_hot(6, 40, seed=8)
    explainer = ks.Explainer(model, precision="bfloat16")
    before = explainer.saliency(x).corrected
    cached = ks.saliency(model, x, precision="bfloat16")  # the functional API's cached explainer
    model.set_weights([w * 1.5 + 0.01 for w in model.get_weights()])
    after = explainer.saliency(x).corrected
    fresh = ks.Explainer(model, precision="bfloat16").saliency(x).corrected
    np.testing.assert_allclose(after, fresh, rtol=1e-6, atol=1e-7)
    assert np.abs(after - before).max() > 0.1 * np.abs(before).max()
    # (the functional API projects inside the first layer: another bfloat16 rounding than fresh's)
    again = ks.saliency(model, x, precision="bfloat16")
    assert np.abs(again - fresh).max() < 0.02 * np.abs(fresh).max() < np.abs(again - cached).max()
    np.testing.assert_allclose(explainer.ism(x), ks.Explainer(model, precision="bfloat16").ism(x), rtol=1e-6, atol=1e-7)


def test_an_adapted_normalization_layer_keeps_its_statistics_in_bfloat16():
    keras.utils.set_random_seed(9)
    x = random_one_hot(8, 30, seed=9)
    normalization = keras.layers.Normalization()
    normalization.adapt(x * 3.0 + 1.0)  # a mean and variance far from 0 and 1
    inputs = keras.Input((30, 4))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(normalization(inputs))))
    copy = ks.precision.precision_copy(model, "bfloat16")
    np.testing.assert_allclose(copy(x), model(x), rtol=0.02, atol=0.02 * np.abs(model(x)).max())


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def twins(length=40, seed=10):
    """The same small CNN built under the mixed_float16 policy and under float32."""
    models = []
    for policy in ("mixed_float16", "float32"):
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((length, 4))
        x = keras.layers.MaxPooling1D(2)(keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs))
        x = keras.layers.Flatten()(keras.layers.Conv1D(6, 3, activation="relu")(x))
        models.append(keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x)))
    models[0].set_weights(models[1].get_weights())
    keras.mixed_precision.set_global_policy("mixed_float16")  # as a user's session is
    return models


def test_a_mixed_float16_model_is_attributed_in_float32(mixed_float16, tmp_path):
    """A model built under mixed_float16: precision="float32" maps equal its float32 twin's,
    also where float16 underflows (a confident sigmoid: its float16 gradient is 0)."""
    import tensorflow as tf

    half, full = twins()
    assert half.layers[1].compute_dtype == "float16"
    last = full.layers[-1]
    for model in (half, full):  # a confident output: p ~ 1 - 1e-4
        model.layers[-1].bias.assign(last.bias.numpy() + 12.0)
    x = random_one_hot(5, 40, seed=11)
    expected = ks.Explainer(full).saliency(x)
    got = ks.Explainer(half).saliency(x)
    assert np.abs(expected.raw).max() > 0 and np.abs(expected.raw).max() < 1e-3
    np.testing.assert_allclose(got.raw, expected.raw, rtol=1e-5, atol=1e-6 * np.abs(expected.raw).max())
    np.testing.assert_allclose(got.angles, expected.angles, atol=1e-3)
    np.testing.assert_allclose(ks.Explainer(half).ism(x), ks.Explainer(full).ism(x), rtol=1e-5, atol=1e-9)
    deep = [ks.Explainer(m).deep_lift_shap(x, num_references=2).corrected for m in (half, full)]
    np.testing.assert_allclose(deep[0], deep[1], rtol=1e-5, atol=1e-6 * np.abs(deep[1]).max())
    served = tf.saved_model.load(ks.export_saved_model(half, tmp_path / "1", ig_steps=4))
    np.testing.assert_allclose(served.signatures["corrected_saliency"](sequences=tf.constant(x))["corrected_saliency"],
                               expected.corrected, rtol=1e-5, atol=1e-6 * np.abs(expected.corrected).max())
    half.set_weights([w * 0.5 for w in full.get_weights()])  # the float32 copy follows new weights
    full.set_weights([w * 0.5 for w in full.get_weights()])
    np.testing.assert_allclose(ks.saliency(half, x), ks.saliency(full, x), rtol=1e-5, atol=1e-9)


def test_the_angle_regularizer_trains_under_mixed_policies(mixed_float16):
    half, full = twins(seed=12)
    x = random_one_hot(16, 40, seed=12)
    y = np.arange(16, dtype=np.float32) % 2
    penalties = []
    for model in (half, full):
        regularized = ks.add_angle_regularizer(model, strength=1e-3)
        regularized(x, training=True)
        penalties.append(float(regularized.losses[0]))
        regularized.compile("adam", "binary_crossentropy")
        history = regularized.fit(x, y, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    assert penalties[0] == pytest.approx(penalties[1], rel=0.01)


def test_a_subclassed_16_bit_model_runs_as_it_is_with_a_warning(mixed_float16):
    model = subclassed()  # built under mixed_float16: cannot be cloned with another policy
    with pytest.warns(UserWarning, match="cannot be copied to float32"):
        explainer = ks.Explainer(model, sequence_shape=(24, 4))
    assert np.isfinite(explainer.saliency(random_one_hot(2, 24, seed=1)).raw).all()


def test_a_16_bit_model_inside_a_wrapper_layer_warns_with_the_reason(mixed_float16):
    half, _ = twins(seed=13)
    with pytest.warns(UserWarning, match="keep their 16-bit policy in the copy"):
        ks.Explainer(ks.add_angle_regularizer(half))
