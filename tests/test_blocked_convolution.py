"""Blocked input gradients of narrow Conv1D layers, against numpy and TensorFlow's own."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from conftest import explainer_on, random_one_hot
from keras_simplex._fast.blocked_convolution import block_size, blocked_conv1d
from keras_simplex._fast.rewrite import speed_replacements
from keras_simplex.functional_graph import functional_graph


def numpy_conv1d(x, kernel, padding):
    """Cross-correlation as Keras computes it, written out: (N, L, A) x (K, A, C)."""
    size = kernel.shape[0]
    left, right = ((size - 1) // 2, size - 1 - (size - 1) // 2) if padding == "same" else (0, 0)
    padded = np.pad(x, [(0, 0), (left, right), (0, 0)])
    length = padded.shape[1] - size + 1
    return sum(np.einsum("nla,ac->nlc", padded[:, k:k + length], kernel[k]) for k in range(size))


def numpy_input_gradient(upstream, kernel, length, padding):
    """d(sum(upstream * conv1d(x)))/dx by the chain rule, one tap at a time: (N, L, A)."""
    size = kernel.shape[0]
    left = (size - 1) // 2 if padding == "same" else 0
    gradient = np.zeros((upstream.shape[0], length + size, kernel.shape[1]))  # room for the padding
    for k in range(size):
        for position in range(upstream.shape[1]):
            source = position + k - left  # input position tap k of output position reads
            if 0 <= source < length:
                gradient[:, source] += upstream[:, position] @ kernel[k].T
    return gradient[:, :length]


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("size,channels,block,length", [(19, 4, 4, 50), (1, 4, 4, 9), (2, 3, 6, 11), (20, 5, 4, 33),
                                                        (7, 1, 16, 7), (5, 4, 7, 64)])
def test_values_and_gradients_match_numpy(padding, size, channels, block, length):
    rng = np.random.default_rng(size * 100 + block)
    x = rng.normal(size=(3, length, channels))
    kernel = rng.normal(size=(size, channels, 6))
    expected = numpy_conv1d(x, kernel, padding)
    upstream = rng.normal(size=expected.shape)
    x_tensor, kernel_tensor = tf.constant(x, tf.float32), tf.constant(kernel, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x_tensor, kernel_tensor])
        outputs = blocked_conv1d(x_tensor, kernel_tensor, padding, block)
        plain = tf.nn.conv1d(x_tensor, kernel_tensor, 1, padding.upper())
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-4)
    x_gradient = tape.gradient(outputs, x_tensor, output_gradients=tf.constant(upstream, tf.float32))
    np.testing.assert_allclose(x_gradient, numpy_input_gradient(upstream, kernel, length, padding), rtol=1e-5, atol=1e-4)
    kernel_gradient = tape.gradient(outputs, kernel_tensor, output_gradients=tf.constant(upstream, tf.float32))
    expected_kernel = tape.gradient(plain, kernel_tensor, output_gradients=tf.constant(upstream, tf.float32))
    np.testing.assert_allclose(kernel_gradient, expected_kernel, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_unknown_lengths_and_xla(jit_compile):
    kernel = tf.constant(np.random.default_rng(0).normal(size=(9, 4, 8)), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 4])], jit_compile=jit_compile)
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(tf.sin(blocked_conv1d(x, kernel, "same", 4)))
        return tape.gradient(total, x)

    for length in (13, 40):
        x = tf.constant(random_one_hot(2, length, seed=length))
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(tf.sin(tf.nn.conv1d(x, kernel, 1, "SAME")))
        np.testing.assert_allclose(gradient(x), tape.gradient(total, x), rtol=1e-5, atol=1e-5)


def test_only_plain_narrow_conv1d_layers_are_blocked():
    def built(layer, channels=4):
        layer.build((None, *[30] * (len(layer.kernel_size)), channels))
        return layer

    assert block_size(built(keras.layers.Conv1D(8, 19, padding="same"))) == 4
    assert block_size(built(keras.layers.Conv1D(8, 5), channels=5)) == 4
    assert block_size(built(keras.layers.Conv1D(8, 5), channels=16)) is None
    assert block_size(built(keras.layers.Conv1D(8, 5, strides=2))) is None
    assert block_size(built(keras.layers.Conv1D(8, 5, dilation_rate=2))) is None
    assert block_size(built(keras.layers.Conv1D(8, 5, padding="causal"))) is None
    assert block_size(built(keras.layers.Conv1D(8, 5, dtype="mixed_float16"))) is None
    assert block_size(built(keras.layers.Conv2D(8, 5), channels=4)) is None


def unfolded_model(first_activation="exponential"):
    """A narrow first Conv1D with bias and activation and no BatchNormalization after it."""
    inputs = keras.Input((60, 4))
    x = keras.layers.Conv1D(12, 11, padding="same", activation=first_activation)(inputs)
    x = keras.layers.MaxPooling1D(4)(x)
    x = keras.layers.Conv1D(8, 5, padding="valid", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


@pytest.mark.parametrize("logits", [False, True])
def test_engine_maps_equal_the_unrewritten_model(logits):
    keras.utils.set_random_seed(3)
    x = random_one_hot(16, 60, seed=5)
    for model in (unfolded_model(), ks.models.cnn_deep(input_length=60)):
        assert speed_replacements(functional_graph(model), fold_batch_norm=False)  # something to block
        plain = explainer_on(model, logits=logits, fold_batch_norm=False, block_convolutions=False)
        blocked = explainer_on(model, logits=logits)
        for method in (ks.saliency, ks.integrated_gradients):
            expected = method(plain, x, correct=False)
            np.testing.assert_allclose(method(blocked, x, correct=False), expected, rtol=1e-4,
                                       atol=1e-5 * np.abs(expected).max())


def test_blocked_layers_read_live_weights():
    keras.utils.set_random_seed(4)
    model = unfolded_model("relu")
    engine = explainer_on(model, fold_batch_norm=False)
    x = random_one_hot(4, 60, seed=6)
    before = ks.saliency(engine, x)
    first = model.layers[1]
    first.kernel.assign(first.kernel * 2.0)
    after = ks.saliency(engine, x)
    expected = ks.saliency(explainer_on(model, block_convolutions=False, fold_batch_norm=False), x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6)


def test_a_rewrite_that_changes_input_gradients_is_refused(monkeypatch):
    model = unfolded_model()

    def same_outputs_other_gradients(*args):
        def forward(x):
            extra = tf.reduce_sum(x * x, axis=[1, 2])[:, None]
            return model(x, training=False) + extra - tf.stop_gradient(extra)

        return forward

    monkeypatch.setattr("keras_simplex._fast.rewrite.graph_forward", same_outputs_other_gradients)
    explainer = ks.Explainer(model)
    with pytest.warns(UserWarning, match="outputs or input gradients"):
        explainer.saliency(random_one_hot(2, 60))
    assert not explainer.engine.rewritten
