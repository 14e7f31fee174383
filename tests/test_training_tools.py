"""Training tools: angle regularizer, callback, initializers, constraint and folding, protocol."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from conftest import random_one_hot


def motif_data(n=512, length=40, seed=0):
    """Random sequences; every other one carries ACGTA, labelled 1."""
    x = random_one_hot(n, length, seed=seed)
    y = np.zeros(n, np.float32)
    motif = ks.one_hot_encode("ACGTA")[0]
    for i in range(0, n, 2):
        p = (i * 7) % (length - 5)
        x[i, p : p + 5] = motif
        y[i] = 1
    return x, y


def tiny_model(seed=1, padding="same", constraint=None, length=40):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((length, 4))
    h = keras.layers.Conv1D(8, 5, padding=padding, activation="relu", kernel_constraint=constraint)(inputs)
    h = keras.layers.Conv1D(4, 3, activation="relu")(h)
    h = keras.layers.GlobalMaxPooling1D()(h)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))


def fit_regularized(strength, jit_compile, schedule=None, penalty="angle_l2", epochs=4, logits=False):
    x, y = motif_data()
    model = tiny_model()
    regularized = ks.add_angle_regularizer(model, strength=strength, penalty=penalty, logits=logits)
    regularized.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", jit_compile=jit_compile)
    callback = ks.SimplexAngleCallback(x[:64], schedule=schedule)
    history = regularized.fit(x, y, epochs=epochs, batch_size=64, verbose=0, shuffle=False, callbacks=[callback])
    return model, regularized, history


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("penalty", ["angle_l2", "sine_squared"])
def test_regularized_training_lowers_angle_spread(jit_compile, penalty):
    x, _ = motif_data()
    plain, _, _ = fit_regularized(0.0, jit_compile, penalty=penalty)
    regularized, wrapper, history = fit_regularized(0.05 if penalty == "angle_l2" else 20.0, jit_compile, penalty=penalty)
    plain_std = ks.gradient_angles(plain, x[:128]).std()
    regularized_std = ks.gradient_angles(regularized, x[:128]).std()
    assert regularized_std < 0.5 * plain_std, (plain_std, regularized_std)
    # Inference through the wrapper is the backbone itself; the penalty is not in evaluate().
    np.testing.assert_allclose(wrapper.predict(x[:8], verbose=0), regularized.predict(x[:8], verbose=0), atol=1e-6)
    assert {"angle_mean_abs", "angle_std", "angle_above_30", "angle_above_45", "angle_above_60"} <= set(history.history)


def test_logit_gradient_option_trains():
    x, _ = motif_data()
    model, _, history = fit_regularized(0.05, False, logits=True)
    assert np.isfinite(history.history["loss"]).all()
    assert ks.gradient_angles(model, x[:64], logits=True).std() < 10


@pytest.mark.parametrize("jit_compile", [False, True])
def test_strength_changed_by_the_callback_takes_effect_mid_training(jit_compile):
    _, _, constant = fit_regularized(0.0, jit_compile, schedule=0.0, epochs=3)
    _, wrapper, switched = fit_regularized(0.0, jit_compile, schedule=lambda e: 0.0 if e < 2 else 0.05, epochs=3)
    np.testing.assert_allclose(switched.history["loss"][:2], constant.history["loss"][:2], rtol=1e-5)
    assert switched.history["loss"][2] > constant.history["loss"][2] + 1.0  # the penalty is in the loss
    assert switched.history["angle_strength"] == pytest.approx([0.0, 0.0, 0.05])
    assert float(wrapper.get_layer("simplex_angle_regularizer").strength.numpy()) == pytest.approx(0.05)


def test_warmup_schedule():
    schedule = ks.warmup(1e-2, 4)
    assert [schedule(e) for e in range(6)] == pytest.approx([0, 2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2])
    with pytest.raises(ValueError):
        ks.warmup(1.0, 0)


def test_paper_cnn_trains_with_the_regularizer_under_xla():
    x = random_one_hot(64, 200, seed=2)
    y = (np.arange(64) % 2).astype(np.float32)
    model = ks.add_angle_regularizer(ks.models.cnn_shallow(), strength=1e-3)
    model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=True)
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_regularizer_rejects_bad_options():
    with pytest.raises(ValueError, match="unknown penalty"):
        ks.SimplexAngleRegularizer(tiny_model(), penalty="l1")
    with pytest.raises(TypeError, match="callables"):
        ks.SimplexAngleRegularizer(tiny_model(), target=lambda y: y)
    with pytest.raises(ValueError, match="unknown penalty"):
        ks.angle_penalty(np.ones((1, 2, 4), np.float32), "l1")
    for strength in (-1e-3, float("nan"), float("inf"), "strong"):  # a negative one would maximise the angles
        with pytest.raises(ValueError, match="strength must be a"):
            ks.add_angle_regularizer(tiny_model(), strength=strength)
    inputs = keras.Input((40, 4))
    flat = keras.layers.Flatten()(inputs)
    heads = keras.Model(inputs, [keras.layers.Dense(1)(flat), keras.layers.Dense(2)(flat)])
    with pytest.raises(ValueError, match="2 outputs: concatenate them"):
        ks.add_angle_regularizer(heads)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, 160)))

    subclassed = Subclassed()
    subclassed(np.zeros((1, 40, 4), np.float32))
    with pytest.raises(ValueError, match="known input shape.*wrap a subclassed model"):
        ks.add_angle_regularizer(subclassed)


def numpy_angles(g):
    """Angles to the simplex in degrees, from the definition (float64)."""
    g = np.asarray(g, np.float64)
    norm = np.linalg.norm(g, axis=-1)
    sine = np.divide(g.sum(-1), np.sqrt(g.shape[-1]) * norm, out=np.zeros_like(norm), where=norm > 0)
    return np.degrees(np.arcsin(np.clip(sine, -1, 1)))


def test_angle_penalties_match_numpy():
    g = np.random.default_rng(0).normal(size=(3, 10, 4)).astype(np.float32)
    angles = numpy_angles(g)
    np.testing.assert_allclose(ks.angle_penalty(g, "angle_l2"), np.sqrt((angles**2).sum(-1)).mean(), rtol=1e-5)
    np.testing.assert_allclose(ks.angle_penalty(g, "sine_squared"), (np.sin(np.radians(angles)) ** 2).mean(), rtol=1e-5)
    assert ks.angle_penalty(np.zeros((1, 3, 4), np.float32), "sine_squared") == 0
    # Tiny gradients (a confident sigmoid's) keep their penalty: squares of 1e-22 underflow float32.
    for scale in (1e-20, 1e-30, 1e-40):
        np.testing.assert_allclose(ks.angle_penalty(g * np.float32(scale), "sine_squared"),
                                   (np.sin(np.radians(angles)) ** 2).mean(), rtol=1e-5)


def test_angle_penalty_gradients_stay_finite_at_ninety_degrees():
    """A gradient straight off the simplex, (c, c, c, c), has angle 90: arcsin's slope is infinite
    there, and a NaN derivative used to wreck the weights at the first step."""
    g = tf.Variable(np.concatenate([np.full((1, 2, 4), 0.5), np.random.default_rng(1).normal(size=(1, 3, 4))], 1),
                    dtype=tf.float32)
    for penalty in ks.regularizers.PENALTIES:
        with tf.GradientTape() as tape:
            value = ks.angle_penalty(g, penalty)
        assert np.isfinite(value) and np.isfinite(tape.gradient(value, g).numpy()).all(), penalty
    np.testing.assert_allclose(ks.angle_penalty(g, "angle_l2"), np.sqrt((numpy_angles(g.numpy()) ** 2).sum(-1)).mean(),
                               rtol=1e-6)
    near = tf.Variable([[[1.0, 1.0, 1.0, 1.0000001]]])  # within 0.003 degrees of 90: still a slope
    with tf.GradientTape() as tape:
        value = ks.angle_penalty(near, "angle_l2")
    slope = tape.gradient(value, near).numpy()
    assert np.isfinite(slope).all() and np.abs(slope).max() > 0


def test_a_slice_target_survives_saving(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((40, 4))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    regularized = ks.add_angle_regularizer(model, 0.1, target=slice(0, 2))
    assert find_regularizer(regularized).target == [0, 1]
    regularized.save(tmp_path / "r.keras")
    assert find_regularizer(keras.saving.load_model(tmp_path / "r.keras")).target == [0, 1]


def find_regularizer(model):
    return ks.regularizers.find_angle_regularizer(model)


def test_the_callback_checks_its_sequences_before_the_first_epoch():
    x, y = motif_data(64)
    regularized = ks.add_angle_regularizer(tiny_model(), 1e-3)
    regularized.compile(optimizer="adam", loss="binary_crossentropy")
    before = [w.numpy().copy() for w in regularized.weights]
    for bad, message in ((x[:4, :30], "length"), (x[:4] * 2, "simplex")):
        with pytest.raises(ValueError, match=message):
            regularized.fit(x, y, epochs=1, verbose=0, callbacks=[ks.SimplexAngleCallback(bad)])
        assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, regularized.weights))  # nothing trained
    with pytest.raises(ValueError, match="strength must be a finite number"):
        regularized.fit(x, y, epochs=1, verbose=0, callbacks=[ks.SimplexAngleCallback(schedule=float("nan"))])


def test_scaled_he_normal_and_fixed_sigma_normal():
    he = keras.initializers.HeNormal(seed=1)((19, 4, 4000)).numpy().std()
    scaled = ks.ScaledHeNormal(3.0, seed=1)((19, 4, 4000)).numpy().std()
    assert scaled / he == pytest.approx(3.0, rel=0.02)
    assert ks.FixedSigmaNormal(0.2, seed=0)((200, 200)).numpy().std() == pytest.approx(0.2, rel=0.02)
    layer = keras.layers.Conv1D(4, 3, kernel_initializer="keras_simplex>ScaledHeNormal")
    layer.build((None, 10, 4))
    assert isinstance(layer.kernel_initializer, ks.ScaledHeNormal)
    assert keras.initializers.get({"class_name": "keras_simplex>FixedSigmaNormal", "config": {"sigma": 0.3}}).stddev == 0.3
    with pytest.raises(ValueError):
        ks.ScaledHeNormal(0.0)


@pytest.mark.parametrize("make", [lambda: ks.ScaledHeNormal(2.0), lambda: ks.FixedSigmaNormal(0.1),
                                  lambda: ks.ScaledHeNormal(2.0, seed=3), lambda: keras.initializers.HeNormal()])
def test_one_initializer_instance_gives_every_layer_its_own_draws(make):
    """A Keras 3 initializer instance draws the same values at every call; the paper's models
    give each hidden layer its own copy, still reproducible."""
    def kernels():
        model = ks.models.cnn_deep(input_length=100, kernel_initializer=make())
        return [layer.kernel.numpy().ravel() for layer in model.layers if hasattr(layer, "kernel")][:-1]

    keras.utils.set_random_seed(5)
    first = kernels()
    standardized = [k[:456] / k.std() for k in first]  # the first layer has 19 * 4 * 24 = 1,824 values
    for other in standardized[1:]:
        assert abs(np.corrcoef(standardized[0], other)[0, 1]) < 0.2
    keras.utils.set_random_seed(5)
    assert all(np.array_equal(a, b) for a, b in zip(first, kernels()))


def test_models_with_consecutive_initializer_seeds_share_no_layer():
    def kernels(seed):
        model = ks.models.cnn_deep(input_length=100, kernel_initializer=ks.FixedSigmaNormal(0.1, seed=seed))
        return [layer.kernel.numpy().ravel()[:456] for layer in model.layers if hasattr(layer, "kernel")][:-1]

    three, four = kernels(3), kernels(4)
    assert all(not np.array_equal(a, b) for a in three for b in four)
    assert len(kernels(-1)) == 5  # any integer seed


@pytest.mark.parametrize("jit_compile", [False, True])
def test_constrained_model_has_zero_angles_everywhere(jit_compile):
    x, y = motif_data()
    model = tiny_model(constraint=ks.ZeroMeanAlphabet())
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", jit_compile=jit_compile)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    kernel = model.layers[1].kernel.numpy()
    np.testing.assert_allclose(kernel.mean(axis=1), 0, atol=1e-6)
    assert np.abs(ks.gradient_angles(model, x)).max() < 1e-3


def test_folding_keeps_predictions_and_makes_raw_gradients_corrected():
    x, y = motif_data()
    model = tiny_model(padding="valid")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    before = model.predict(x, verbose=0)
    folded = ks.fold_simplex_projection(model)
    np.testing.assert_allclose(folded.predict(x, verbose=0), before, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), before)  # the original is untouched
    np.testing.assert_allclose(ks.saliency(folded, x, correct=False), ks.saliency(model, x), atol=1e-5)
    assert np.abs(ks.gradient_angles(folded, x)).max() < 1e-3
    # With 'same' padding the zero-padded ends break the equivalence there.
    same = tiny_model(padding="same")
    assert not np.allclose(ks.fold_simplex_projection(same).predict(x, verbose=0), same.predict(x, verbose=0), atol=1e-5)


def test_folding_the_paper_cnn_with_valid_padding():
    model = ks.models.cnn_deep(first_layer={"padding": "valid"})
    x = random_one_hot(16, 200, seed=4)
    folded = ks.fold_simplex_projection(model)
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(ks.saliency(folded, x, correct=False), ks.saliency(model, x), atol=1e-5)


def test_paper_models_build_with_custom_shapes():
    shallow = ks.models.cnn_shallow(input_length=300, alphabet_size=20, num_outputs=3, first_activation="exponential")
    assert shallow.input_shape == (None, 300, 20) and shallow.output_shape == (None, 3)
    assert ks.models.basset().count_params() == 4_540_464
    for build, shortest in ((ks.models.cnn_shallow, 100), (ks.models.cnn_deep, 48), (ks.models.basset, 48)):
        assert build(input_length=shortest).output_shape == (None, 1 if build is not ks.models.basset else 164)
        with pytest.raises(ValueError, match=f"at least {shortest} positions"):
            build(input_length=shortest - 1)
    with pytest.raises(ValueError, match="at least 66 positions"):
        ks.models.cnn_deep(input_length=60, first_layer={"padding": "valid"})


def test_train_paper_protocol_on_arrays_and_tfds(tmp_path):
    from keras_simplex.datasets import build
    import tensorflow_datasets as tfds

    x, y = motif_data(n=256, length=200)
    model = ks.models.cnn_shallow()
    history = ks.train_paper_protocol(model, (x[:200], y[:200]), (x[200:], y[200:]), epochs=2, seed=0, verbose=0)
    assert {"loss", "auroc", "aupr", "val_auroc", "val_aupr", "learning_rate"} <= set(history.history)
    builder = build.build_dataset("synthetic_motifs/tiny", tmp_path)
    train, validation = (builder.as_dataset(split=s) for s in ("train", "validation"))
    monitor, _ = next(iter(tfds.as_numpy(builder.as_dataset(split="test", as_supervised=True).batch(16))))
    regularized = ks.add_angle_regularizer(ks.models.cnn_shallow(), strength=1e-4)
    history = ks.train_paper_protocol(
        regularized, train, validation, epochs=2, seed=0, verbose=0, callbacks=[ks.SimplexAngleCallback(monitor)]
    )
    assert len(history.history["val_auroc"]) == 2 and "angle_std" in history.history


def test_angle_statistics_reach_tensorboard(tmp_path):
    import tensorflow as tf

    x, y = motif_data(n=128)
    model = ks.add_angle_regularizer(tiny_model(), strength=1e-3)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path))
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[ks.SimplexAngleCallback(x[:32]), board])
    tags = set()
    for event_file in (tmp_path / "train").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)
    assert {"epoch_angle_std", "epoch_angle_mean_abs", "epoch_angle_above_60", "epoch_angle_strength"} <= tags


def test_repeated_batches_from_arrays_give_exact_reshuffled_epochs():
    from keras_simplex.training import repeated_batches

    x = np.arange(23, dtype=np.float32)[:, None, None] * np.ones((1, 2, 4), np.float32)
    y = np.arange(23)
    data, steps = repeated_batches((x, y), batch_size=5, shuffle=True, seed=3)
    assert steps == 5
    batches = list(data.take(3 * steps).as_numpy_iterator())
    epochs = [np.concatenate([b[1] for b in batches[i * steps:(i + 1) * steps]]) for i in range(3)]
    assert [len(b[1]) for b in batches[:steps]] == [5, 5, 5, 5, 3]
    for labels in epochs:
        np.testing.assert_array_equal(np.sort(labels), y)
    assert not np.array_equal(epochs[0], epochs[1])
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0, 0], yb)
    ordered, _ = repeated_batches((x, y), batch_size=5)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in ordered.take(10).as_numpy_iterator()]), np.tile(y, 2))
    with pytest.raises(ValueError, match="same, nonzero number"):
        repeated_batches((x, y[:-1]), batch_size=5)


def test_repeated_batches_from_datasets():
    import tensorflow as tf

    from keras_simplex.training import repeated_batches

    x, y = motif_data(n=30, length=10)
    examples = tf.data.Dataset.from_tensor_slices({"sequence": x, "label": y, "id": np.arange(30)})
    data, steps = repeated_batches(examples, batch_size=8, shuffle=True, seed=0)
    assert steps == 4
    epoch = list(data.take(steps).as_numpy_iterator())
    assert sorted(np.concatenate([b[1] for b in epoch]).tolist()) == sorted(y.tolist())
    pairs = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    assert repeated_batches(pairs, batch_size=100)[1] == 4
    unknown, steps = repeated_batches(pairs.filter(lambda a, b: True), batch_size=8)
    assert steps is None and len(list(unknown)) == 4
    with pytest.raises(ValueError, match="repeats forever"):
        repeated_batches(pairs.repeat(), batch_size=8)
    with pytest.raises(ValueError, match="'sequence' and 'label'"):
        repeated_batches(tf.data.Dataset.from_tensor_slices({"x": x}), batch_size=8)


def test_train_paper_protocol_keeps_one_training_iterator(monkeypatch):
    """Keras builds a fresh tf.data iterator each epoch unless fed a repeating dataset with a
    step count; the protocol feeds it one, so no epoch pays for tearing an iterator down.
    (Keras' evaluate still starts its validation iterator anew each epoch.)"""
    import traceback

    from tensorflow.python.data.ops import iterator_ops

    callers = []
    original = iterator_ops.OwnedIterator.__init__

    def recording_init(self, *args, **kwargs):
        names = {frame.name for frame in traceback.extract_stack()}
        if "_enumerate_iterator" in names:  # a real iterator, not a tracing placeholder
            callers.append("evaluate" if "evaluate" in names else "fit")
        original(self, *args, **kwargs)

    monkeypatch.setattr(iterator_ops.OwnedIterator, "__init__", recording_init)
    x, y = motif_data(n=120, length=40)
    history = ks.train_paper_protocol(tiny_model(), (x[:100], y[:100]), (x[100:], y[100:]), epochs=3, seed=0, verbose=0)
    assert len(history.history["val_auroc"]) == 3
    assert callers.count("fit") == 1 and callers.count("evaluate") == 3
