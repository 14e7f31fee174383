"""The Conv1D rewrite (fusable forward, transposed or blocked input gradient), against numpy and TensorFlow."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from keras_simplex.geometry import project_to_simplex
from conftest import explainer_on, random_one_hot
from keras_simplex._fast.convolution import (block_size, conv1d, convolution_call, projected_input_gradients,
                                             rewritable)
from keras_simplex._fast.rewrite import projecting_convolution, rewritten_convolutions, speed_replacements
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
        outputs = conv1d(x_tensor, kernel_tensor, padding, block=block)
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
            total = tf.reduce_sum(tf.sin(conv1d(x, kernel, "same", block=4)))
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
    assert block_size(built(keras.layers.Conv1D(8, 5, padding="causal"))) == 4
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
        assert speed_replacements(functional_graph(model), fold_batch_norm=False)[0]  # something to block
        plain = explainer_on(model, logits=logits, fast=False)
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
    expected = ks.saliency(explainer_on(model, fast=False), x)
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


@pytest.mark.parametrize("options", [dict(strides=2, padding="same"), dict(strides=3, padding="valid"),
                                     dict(dilation_rate=3, padding="same"), dict(dilation_rate=2, padding="causal"),
                                     dict(padding="causal"), dict(padding="same", activation="exponential")])
def test_every_rewritable_conv1d_call_equals_the_layer(options):
    """Values and input gradients of ``convolution_call`` (transposed or blocked input gradient)
    against the Keras layer, at a length no block size divides."""
    keras.utils.set_random_seed(7)
    layer = keras.layers.Conv1D(6, 5, **{"activation": "relu", **options})
    x = tf.constant(np.random.default_rng(1).normal(size=(3, 37, 4)), tf.float32)
    layer(x)
    assert rewritable(layer)
    block = block_size(layer)
    assert (block is None) == (options.get("strides", 1) > 1 or options.get("dilation_rate", 1) > 1)
    for call in {convolution_call(layer), convolution_call(layer, block)}:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            expected, rewritten = layer(x), call(x)
        np.testing.assert_allclose(rewritten, expected, rtol=1e-5, atol=1e-5)
        upstream = tf.constant(np.random.default_rng(2).normal(size=expected.shape), tf.float32)
        np.testing.assert_allclose(tape.gradient(rewritten, x, output_gradients=upstream),
                                   tape.gradient(expected, x, output_gradients=upstream), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", [dict(padding="same"), dict(padding="valid", kernel_size=1),
                                     dict(strides=2, padding="same"), dict(dilation_rate=3, padding="causal")])
@pytest.mark.parametrize("size", [4, 20])  # DNA (blocked input gradient) and protein
def test_a_projecting_convolution_gives_the_projected_input_gradient(options, size):
    """Within ``projected_input_gradients`` a call built with ``projects`` has the layer's input
    gradient minus its mean over the alphabet; outside it, the input gradient itself."""
    keras.utils.set_random_seed(11)
    layer = keras.layers.Conv1D(6, **{"kernel_size": 5, "activation": "relu", **options})
    rng = np.random.default_rng(12)
    x = tf.constant(rng.random((3, 37, size)), tf.float32)
    upstream = tf.constant(rng.normal(size=layer(x).shape), tf.float32)
    call = convolution_call(layer, block_size(layer), projects=True)

    def gradient(function):
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = function(x)
        return tape.gradient(values, x, output_gradients=upstream).numpy()

    expected = gradient(layer)
    assert np.abs(expected.sum(-1)).max() > 0.1  # far from projected by itself
    with projected_input_gradients():
        projected = gradient(call)
    np.testing.assert_allclose(projected, expected - expected.mean(-1, keepdims=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gradient(call), expected, rtol=1e-5, atol=1e-5)


def test_only_the_sole_reader_of_the_input_projects():
    inputs = keras.Input((30, 4))
    first = keras.layers.Conv1D(4, 3)
    chained = keras.Model(inputs, first(keras.layers.Conv1D(4, 3)(inputs)))
    graph = functional_graph(chained)
    assert projecting_convolution(graph, rewritten_convolutions(graph)) is chained.layers[1]
    assert projecting_convolution(graph, set()) is None  # not rewritten (GPU, or convolutions=False)
    two_readers = keras.Model(inputs, keras.layers.Concatenate()([keras.layers.Conv1D(4, 3)(inputs),
                                                                   keras.layers.Conv1D(4, 3)(inputs)]))
    shared = keras.Model(inputs, first(first(inputs)))  # one layer called twice
    for model in (two_readers, shared):
        graph = functional_graph(model)
        assert projecting_convolution(graph, rewritten_convolutions(graph)) is None


@pytest.mark.parametrize("jit_compile", [False, True])
def test_corrected_maps_alone_are_projected_by_the_first_convolution(jit_compile, monkeypatch):
    """Asked for corrected maps alone, the engine projects no gradient itself, and its maps
    equal the unrewritten model's, for every gradient form."""
    projections = []
    monkeypatch.setattr("keras_simplex.kernel.project_to_simplex",
                        lambda gradients: projections.append(gradients) or project_to_simplex(gradients))
    keras.utils.set_random_seed(13)
    model = ks.models.cnn_deep(input_length=60)
    x = random_one_hot(8, 60, seed=14)
    fast, plain = explainer_on(model, jit_compile=jit_compile), explainer_on(model, fast=False)
    for method in (ks.methods.saliency(), ks.methods.integrated_gradients(steps=4),
                   ks.methods.integrated_gradients(steps=4, hypothetical=True)):
        expected = plain.explain(x, method).corrected
        projections.clear()
        corrected = fast.explain(x, method, outputs=("corrected",)).corrected
        assert not projections  # traced without a projection
        np.testing.assert_allclose(corrected, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        fast.explain(x, method)
        assert projections  # with raw maps too, the kernel projects
    assert fast.engine.kernel().projection is not None


def test_the_rewritten_forward_fuses_the_convolution():
    """The reason for the rewrite: in a gradient graph, TensorFlow's graph optimizer fuses
    ``conv1d``'s convolution with the bias add and ReLU after it (one oneDNN convolution, no
    ReLU of its own), and not TensorFlow's own convolution, whose recorded gradient reads the
    convolution's output shape."""
    rng = np.random.default_rng(8)
    kernel, bias = (rng.normal(size=shape).astype(np.float32) for shape in ((7, 24, 32), (32,)))

    def operations(convolve):
        """The labels of the operations run by the gradient graph: "name = Type(inputs)"."""
        @tf.function(input_signature=[tf.TensorSpec([None, 50, 24])])
        def gradient(x):  # constants made in the graph: nothing captured to feed
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(convolve(x, tf.constant(kernel), tf.constant(bias)) ** 2)
            return tape.gradient(total, x)

        graph = gradient.get_concrete_function().graph
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        metadata = tf.compat.v1.RunMetadata()
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(graph.outputs, {graph.inputs[0].name: np.ones((2, 50, 24), np.float32)}, options=options,
                        run_metadata=metadata)
        return [node.timeline_label for device in metadata.step_stats.dev_stats for node in device.node_stats]

    def types(labels):
        return {label.split(" = ")[1].split("(")[0] for label in labels if " = " in label}

    ours = types(operations(lambda x, w, b: conv1d(x, w, "same", bias=b, epilogue=tf.nn.relu)))
    assert "Relu" not in ours and "BiasAdd" not in ours and any("FusedConv2D" in name for name in ours)
    theirs = types(operations(lambda x, w, b: tf.nn.relu(tf.nn.bias_add(tf.nn.conv1d(x, w, 1, "SAME"), b))))
    assert "Relu" in theirs and not any("Fused" in name for name in theirs)


def test_a_dilated_residual_model_is_rewritten_and_keeps_its_maps():
    """Dilated convolutions are computed as Keras computes them (space-to-batch), so the
    rewrite rounds their outputs alike and no ReLU flips between the two: a BPNet-like model is
    rewritten, with the same maps."""
    keras.utils.set_random_seed(9)
    inputs = keras.Input((400, 4))
    x = keras.layers.Conv1D(16, 21, padding="same", activation="relu")(inputs)
    for dilation in (2, 4, 8, 16, 32, 64, 128):
        x = keras.layers.Add()([x, keras.layers.Conv1D(16, 3, dilation_rate=dilation, padding="same",
                                                       activation="relu")(x)])
    model = keras.Model(inputs, keras.layers.Flatten()(keras.layers.Conv1D(1, 25, padding="same")(x)))
    x = random_one_hot(6, 400, seed=10)
    fast, plain = (explainer_on(model, target=slice(150, 250), fast=setting) for setting in (True, False))
    for method in (ks.saliency, lambda m, v: ks.integrated_gradients(m, v, steps=4)):
        expected = method(plain, x)
        np.testing.assert_allclose(method(fast, x), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert fast.engine.rewritten
