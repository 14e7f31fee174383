"""Attribution methods checked against independent computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from conftest import box_muller_noise, random_one_hot, small_cnn


def linear_model(length=12, size=4, activation=None, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((length, size))
    outputs = keras.layers.Dense(1, activation=activation)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    weights = model.layers[-1].kernel.numpy().reshape(length, size)
    return model, weights


def test_linear_model_saliency_equals_weights():
    model, w = linear_model()
    x = random_one_hot(5, 12)
    np.testing.assert_allclose(ks.saliency(model, x, correct=False), np.broadcast_to(w, x.shape), atol=1e-6)
    centered = w - w.mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(ks.saliency(model, x), np.broadcast_to(centered, x.shape), atol=1e-6)
    np.testing.assert_allclose(ks.gradient_x_input(model, x), x * centered, atol=1e-6)


def test_logits_differentiate_the_pre_activation():
    model, w = linear_model(activation="sigmoid", seed=1)
    x = random_one_hot(4, 12, seed=1)
    np.testing.assert_allclose(ks.saliency(model, x, logits=True, correct=False), np.broadcast_to(w, x.shape), atol=1e-6)
    p = model(x).numpy()[:, :, None]
    np.testing.assert_allclose(ks.saliency(model, x, correct=False), p * (1 - p) * w, atol=1e-6)
    # The model itself is left untouched.
    np.testing.assert_allclose(model(x).numpy()[:, :, None], p)


def test_gradients_match_central_finite_differences():
    model = small_cnn(length=16, smooth=True, dtype="float64", seed=4)
    x = random_one_hot(2, 16, seed=4, dtype=np.float64)
    grad = ks.saliency(model, x, correct=False)
    assert grad.dtype == np.float64
    eps = 1e-6
    directions = np.eye(16 * 4).reshape(-1, 16, 4)
    for i in range(len(x)):
        plus = model(x[i] + eps * directions).numpy()[:, 0]
        minus = model(x[i] - eps * directions).numpy()[:, 0]
        numeric = ((plus - minus) / (2 * eps)).reshape(16, 4)
        np.testing.assert_allclose(grad[i], numeric, rtol=1e-5, atol=1e-9)


@pytest.fixture(scope="module")
def smooth_cnn():
    return small_cnn(smooth=True, seed=2)


@pytest.mark.parametrize("baseline", ["uniform", "zeros", "shuffle", "dinucleotide_shuffle"])
def test_integrated_gradients_completeness(cnn, smooth_cnn, x40, baseline):
    """sum(IG) = f(x) - f(b) within 1% at 200 steps: per sequence for a smooth network; in
    aggregate for a ReLU/max-pool one, whose kinks the trapezoid rule cannot resolve exactly."""
    starts = ks.make_baselines(x40, baseline, 1, seed=3)[:, 0]
    starts = np.broadcast_to(starts, x40.shape)
    for model, per_sequence in [(smooth_cnn, True), (cnn, False)]:
        ig = ks.integrated_gradients(model, x40, baseline=baseline, steps=200, seed=3, correct=False)
        expected = model(x40).numpy()[:, 0] - model(starts).numpy()[:, 0]
        error = np.abs(ig.sum(axis=(1, 2)) - expected)
        if per_sequence:
            assert np.all(error <= 0.01 * np.abs(expected)), (error, expected)
        else:
            assert error.sum() <= 0.01 * np.abs(expected).sum(), (error, expected)


def test_corrected_ig_keeps_position_sums_for_on_simplex_baselines(cnn, x40):
    raw = ks.integrated_gradients(cnn, x40, baseline="dinucleotide_shuffle", num_baselines=3, correct=False)
    corrected = ks.integrated_gradients(cnn, x40, baseline="dinucleotide_shuffle", num_baselines=3)
    np.testing.assert_allclose(corrected.sum(-1), raw.sum(-1), atol=1e-6)
    assert not np.allclose(corrected, raw)


def test_path_gradient_form_is_the_mean_path_gradient(cnn, x40):
    path = ks.integrated_gradients(cnn, x40, steps=30, multiply_by_inputs=False, correct=False)
    attribution = ks.integrated_gradients(cnn, x40, steps=30, correct=False)
    np.testing.assert_allclose(attribution, (x40 - 0.25) * path, atol=1e-6)
    corrected = ks.integrated_gradients(cnn, x40, steps=30, multiply_by_inputs=False)
    np.testing.assert_allclose(corrected, path - path.mean(-1, keepdims=True), atol=1e-6)


def test_integration_rules_are_exact_for_polynomials():
    for rule, degree in [("trapezoid", 1), ("riemann_midpoint", 1), ("gauss_legendre", 9)]:
        alphas, weights = ks.integration_rule(5, rule)
        assert np.isclose(weights.sum(), 1)
        assert np.isclose((weights * alphas**degree).sum(), 1 / (degree + 1))
    np.testing.assert_allclose(ks.integration_rule(4, "riemann_left")[0], [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(ks.integration_rule(4, "riemann_right")[0], [0.25, 0.5, 0.75, 1])
    with pytest.raises(ValueError, match="unknown integration rule"):
        ks.integration_rule(4, "simpson")
    with pytest.raises(ValueError, match="steps must be >= 2"):
        ks.integration_rule(1, "trapezoid")


def test_smoothgrad_with_vanishing_noise_is_saliency(cnn, x40):
    np.testing.assert_allclose(ks.smoothgrad(cnn, x40, sigma=1e-7, samples=4), ks.saliency(cnn, x40), atol=1e-5)
    noisy = ks.smoothgrad(cnn, x40, sigma=0.5, samples=4)
    assert not np.allclose(noisy, ks.saliency(cnn, x40), atol=1e-4)


def test_smoothgrad_is_the_mean_of_saliency_at_noisy_points(cnn, x40):
    """Reference: draw the same noise as documented and average gradients point by point."""
    import tensorflow as tf

    samples, sigma, seed = 3, 0.2, 11
    result = ks.smoothgrad(cnn, x40[:2], samples=samples, sigma=sigma, seed=seed, correct=False)
    keys = ks.seeding.sequence_keys(x40[:2], seed).view(np.int64)
    for i in range(2):
        noise = box_muller_noise(int(keys[i]), (samples, 40, 4))
        grads = ks.saliency(cnn, (x40[i] + sigma * noise).astype(np.float32), correct=False, check_simplex=False)
        np.testing.assert_allclose(result[i], grads.mean(0), atol=1e-6)


def test_the_noise_is_standard_normal_per_sequence_and_reproducible():
    import math

    from keras_simplex.kernel import sequence_noise

    noise = sequence_noise(tf.constant([[1, 0], [2, 0], [1, 0]], tf.int64), tf.constant([7, 5, 3])).numpy()
    assert noise.shape == (3, 7, 5, 3) and noise.dtype == np.float32  # 105 values: an odd count
    np.testing.assert_allclose(noise[0], box_muller_noise(1, (7, 5, 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(noise[0], noise[2], rtol=1e-6, atol=1e-6)  # vectorised cos/sin: rounding may differ
    assert np.abs(noise[0] - noise[1]).min() > 0
    z = sequence_noise(tf.constant([[5, 0]], tf.int64), tf.constant([200_000])).numpy()[0]
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.corrcoef(z[:100_000], z[100_000:])[0, 1]) < 0.01  # the cosine and sine halves
    ordered = np.sort(z)
    normal_cdf = 0.5 * (1 + np.vectorize(math.erf)(ordered / math.sqrt(2)))
    assert np.abs(normal_cdf - np.arange(1, len(z) + 1) / len(z)).max() < 0.005  # Kolmogorov-Smirnov


def test_expected_gradients_is_the_mean_of_per_baseline_ig(cnn, x40):
    baselines = ks.dinucleotide_shuffle(x40, 4, seed=2)
    eg = ks.expected_gradients(cnn, x40, baseline=baselines, steps=10)
    per_baseline = [ks.integrated_gradients(cnn, x40, baseline=baselines[:, b], steps=10) for b in range(4)]
    np.testing.assert_allclose(eg, np.mean(per_baseline, axis=0), atol=1e-6)
    # Named shuffles are drawn reproducibly from the seed.
    a = ks.expected_gradients(cnn, x40, num_baselines=3, steps=5, seed=1)
    np.testing.assert_allclose(a, ks.expected_gradients(cnn, x40, num_baselines=3, steps=5, seed=1))
    assert not np.allclose(a, ks.expected_gradients(cnn, x40, num_baselines=3, steps=5, seed=2))


METHODS = {
    "saliency": lambda m, x, **k: ks.saliency(m, x, **k),
    "gradient_x_input": lambda m, x, **k: ks.gradient_x_input(m, x, **k),
    "integrated_gradients": lambda m, x, **k: ks.integrated_gradients(m, x, steps=7, **k),
    "smoothgrad": lambda m, x, **k: ks.smoothgrad(m, x, samples=5, seed=3, **k),
    "expected_gradients": lambda m, x, **k: ks.expected_gradients(m, x, num_baselines=3, steps=4, **k),
}


@pytest.mark.parametrize("method", METHODS)
def test_batched_chunked_and_jit_results_agree(cnn, x40, method):
    run = METHODS[method]
    reference = run(cnn, x40, max_points=4096)
    for options in [{"max_points": 1}, {"max_points": 9}, {"jit_compile": True}, {"jit_compile": True, "max_points": 13}]:
        np.testing.assert_allclose(run(cnn, x40, **options), reference, atol=1e-5, err_msg=str(options))
    one_by_one = np.concatenate([run(cnn, x40[i : i + 1]) for i in range(0, 5)])
    np.testing.assert_allclose(one_by_one, reference[:5], atol=1e-5)


def test_engine_is_traced_once_for_all_batch_sizes(cnn):
    explainer = ks.Explainer(cnn, max_points=64)
    for n in (1, 3, 10, 100):
        ks.saliency(explainer, random_one_hot(n, 40, seed=n))
        ks.integrated_gradients(explainer, random_one_hot(n, 40, seed=n), steps=9)
    for form, at_inputs in (("gradient", True), ("contribution", False)):  # saliency, IG (corrected maps)
        function = explainer.engine.kernel().compiled_function(False, form, ("corrected",), at_inputs)
        assert function.experimental_get_tracing_count() == 1


def test_points_at_the_inputs_whatever_the_starts(cnn, x40):
    """Every alpha 1: the points are x itself, made without arithmetic. Integrated gradients
    with one right-Riemann step from 3 shuffles is the mean over them of (x - b) * gradient at x."""
    method = ks.methods.integrated_gradients("shuffle", steps=1, rule="riemann_right", num_baselines=3, seed=2)
    assert method.at_inputs and not ks.methods.integrated_gradients(steps=2, rule="riemann_right").at_inputs
    result = ks.Explainer(cnn).explain(x40, method)
    points = tf.constant(x40)
    with tf.GradientTape() as tape:
        tape.watch(points)
        total = tf.reduce_sum(cnn(points, training=False))
    gradient = tape.gradient(total, points).numpy()
    offsets = x40[:, None] - method.starts(x40)  # (N, 3, L, A)
    np.testing.assert_allclose(result.raw, (offsets * gradient[:, None]).mean(1), rtol=1e-5, atol=1e-7)
    projected = gradient - gradient.mean(-1, keepdims=True)
    np.testing.assert_allclose(result.corrected, (offsets * projected[:, None]).mean(1), rtol=1e-5, atol=1e-7)


def test_targets_select_outputs(multi_output_cnn, x40):
    model = multi_output_cnn
    column = [ks.saliency(model, x40, target=i, correct=False) for i in range(3)]
    np.testing.assert_allclose(ks.saliency(model, x40, target=[0, 2], correct=False), column[0] + column[2], atol=1e-6)
    np.testing.assert_allclose(ks.saliency(model, x40, target=slice(1, 3), correct=False), column[1] + column[2], atol=1e-6)
    np.testing.assert_allclose(
        ks.saliency(model, x40, target=lambda y: y[:, 1] - y[:, 0], correct=False), column[1] - column[0], atol=1e-6
    )
    with pytest.raises(ValueError, match="choose what to explain"):
        ks.saliency(model, x40)
    with pytest.raises(ValueError, match="out of range"):
        ks.saliency(model, x40, target=3)
    with pytest.raises(TypeError, match="target must be"):
        ks.saliency(model, x40, target=[1.5])


def test_corrected_saliency_entry_point(cnn, x40):
    explain = ks.CorrectedSaliency(cnn)
    result = explain(x40, return_all=True)
    # Alone, corrected maps come from the first convolution's projected gradient: equal to rounding.
    np.testing.assert_allclose(explain(x40), result.corrected, rtol=1e-5, atol=1e-6 * np.abs(result.corrected).max())
    np.testing.assert_allclose(result.corrected, result.raw - result.raw.mean(-1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(result.angles, ks.simplex_angle(result.raw).numpy(), atol=1e-4)
    np.testing.assert_allclose(ks.gradient_angles(cnn, x40), result.angles, atol=1e-4)
    # The same compiled engine serves the other methods.
    np.testing.assert_allclose(ks.integrated_gradients(explain, x40, steps=5), ks.integrated_gradients(cnn, x40, steps=5), atol=1e-6)


def test_bad_inputs_through_the_api(cnn, x40):
    np.testing.assert_array_equal(ks.saliency(cnn, x40.astype(np.int64)), ks.saliency(cnn, x40))  # cast, as tangermeme
    np.testing.assert_array_equal(ks.saliency(cnn, x40.astype(bool)), ks.saliency(cnn, x40))
    with pytest.raises(ValueError, match="alphabet size 5"):
        ks.saliency(cnn, random_one_hot(2, 40, 5))
    with pytest.raises(ValueError, match="length 30"):
        ks.saliency(cnn, random_one_hot(2, 30))
    with pytest.raises(ValueError, match="off the simplex"):
        ks.saliency(cnn, x40 * 0.5)
    assert ks.saliency(cnn, x40 * 0.5, check_simplex=False).shape == x40.shape
    with pytest.raises(ValueError, match="empty batch"):
        ks.saliency(cnn, x40[:0])
    with pytest.raises(ValueError, match="jit_compile"):
        ks.saliency(cnn, x40, jit_compile="yes")
    with pytest.raises(ValueError, match="samples"):
        ks.smoothgrad(cnn, x40, samples=0)
    with pytest.raises(ValueError, match="sigma"):
        ks.smoothgrad(cnn, x40, sigma=-1.0)


def test_models_without_recorded_inputs_need_a_sequence_shape():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, 40)))

    model = Subclassed()
    with pytest.raises(ValueError, match=r"Explainer\(model, sequence_shape=\(L, A\)\)"):
        ks.saliency(model, random_one_hot(3, 10))
    engine = ks.Explainer(model, sequence_shape=(10, 4))
    x = random_one_hot(3, 10)
    w = model.dense.kernel.numpy().reshape(10, 4)
    np.testing.assert_allclose(ks.saliency(engine, x, correct=False), np.broadcast_to(w, x.shape), atol=1e-6)
    with pytest.raises(ValueError, match="logits=True needs"):
        ks.Explainer(model, logits=True, sequence_shape=(10, 4))


@pytest.mark.parametrize("max_points", [3, 4096])  # 3: the steps of a sequence span calls
def test_engine_computes_only_the_outputs_asked_for(cnn, x40, max_points):
    explainer = ks.Explainer(cnn, max_points=max_points)
    full = explainer.integrated_gradients(x40[:6], steps=7)
    only_angles = explainer.integrated_gradients(x40[:6], steps=7, outputs=("angles",))
    assert only_angles.raw is None and only_angles.corrected is None
    np.testing.assert_allclose(only_angles.angles, full.angles, atol=1e-3)
    np.testing.assert_allclose(only_angles.angles, ks.simplex_angle(full_path_gradient(cnn, x40[:6])), atol=1e-3)
    with pytest.raises(ValueError, match="holds no raw map"):
        only_angles.select(correct=False)
    with pytest.raises(ValueError, match="outputs must be"):
        explainer.integrated_gradients(x40[:6], steps=7, outputs=("gradient",))


def full_path_gradient(model, x, steps=7):
    """Trapezoid path-averaged gradient from the uniform baseline, one eager tape per step."""
    alphas, weights = ks.integration_rule(steps)
    total = 0
    for alpha, weight in zip(alphas, weights):
        points = tf.constant(0.25 + alpha * (x - 0.25), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(points)
            value = tf.reduce_sum(model(points))
        total = total + weight * tape.gradient(value, points).numpy()
    return total


def test_expected_gradients_of_sequences_with_n(cnn, x40):
    """Peaks hold Ns: the default dinucleotide-shuffle baselines shuffle them as their own symbol."""
    x = x40[:4].copy()
    x[:, 10:13] = 0.25
    maps = ks.expected_gradients(cnn, x, num_baselines=3, steps=5, correct=False)
    starts = ks.make_baselines(x, "dinucleotide_shuffle", 3, seed=0)
    assert np.isclose(starts, 0.25).all(-1).sum(-1).tolist() == [[3, 3, 3]] * 4  # three Ns in every shuffle
    np.testing.assert_allclose(maps, ks.integrated_gradients(cnn, x, baseline=starts, steps=5, correct=False), atol=1e-6)
