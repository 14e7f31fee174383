"""SavedModel export: every signature loaded standalone, compared with in-process results."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot, small_cnn

CALL_SIGNATURES = """
import json, sys
import numpy as np, tensorflow as tf   # no keras_simplex here: the export must stand alone
loaded = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
outputs = {}
for name in loaded.signatures:
    for key, value in loaded.signatures[name](sequences=tf.constant(x)).items():
        outputs[f"{name}/{key}"] = value.numpy()
np.savez(sys.argv[3], **outputs)
errors = {}
bad = {"length": x[:, :30], "off_simplex": x * 0.5, "not_one_hot": np.full_like(x, 0.25),
       "nan": np.where(x == 1, np.nan, 0).astype(np.float32)}
for label, value in bad.items():
    try:
        loaded.signatures["corrected_saliency"](sequences=tf.constant(value))
        errors[label] = None
    except Exception as error:
        errors[label] = type(error).__name__
print(json.dumps({"signatures": sorted(loaded.signatures), "errors": errors}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    model = small_cnn(seed=5)
    x = random_one_hot(6, 40, seed=9)
    path = ks.export_saved_model(model, out / "model" / "1", ig_steps=16)
    np.save(out / "x.npy", x)
    return model, x, path, out


def test_every_signature_matches_the_in_process_functions(exported):
    model, x, path, out = exported
    result = subprocess.run([sys.executable, "-c", CALL_SIGNATURES, path, str(out / "x.npy"), str(out / "y.npz")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["signatures"] == sorted(ks.serving.SIGNATURES)
    y = np.load(out / "y.npz")
    predictions = model.predict(x, verbose=0)
    expected = {
        "serving_default/predictions": predictions,
        "corrected_saliency/corrected_saliency": ks.saliency(model, x),
        "raw_saliency/raw_saliency": ks.saliency(model, x, correct=False),
        "angles/angles": ks.gradient_angles(model, x),
        "integrated_gradients/integrated_gradients": ks.integrated_gradients(model, x, steps=16),
        "integrated_gradients/raw_integrated_gradients": ks.integrated_gradients(model, x, steps=16, correct=False),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(y[key], value, atol=1e-5, err_msg=key)
    for name in ("corrected_saliency", "raw_saliency", "integrated_gradients", "angles"):
        np.testing.assert_allclose(y[f"{name}/predictions"], predictions, atol=1e-6)
    # Malformed requests are INVALID_ARGUMENT errors, not wrong maps.
    assert report["errors"] == {label: "InvalidArgumentError" for label in ("length", "off_simplex", "not_one_hot", "nan")}


def test_saved_model_cli_show_and_run(exported):
    _, x, path, out = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = subprocess.run([cli, "show", "--dir", path, "--tag_set", "serve", "--signature_def", "angles"],
                          capture_output=True, text=True, timeout=120)
    assert show.returncode == 0, show.stderr[-2000:]
    assert "sequences" in show.stdout and "(-1, 40, 4)" in show.stdout and "tensorflow/serving/predict" in show.stdout
    run = subprocess.run([cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", "angles",
                          "--inputs", f"sequences={out / 'x.npy'}", "--outdir", str(out / "cli"), "--overwrite"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    np.testing.assert_allclose(np.load(out / "cli" / "angles.npy"), ks.gradient_angles(exported[0], x), atol=1e-4)


def test_export_options_and_errors(tmp_path):
    model = small_cnn(seed=6)
    x = random_one_hot(3, 40, seed=1)
    baseline = random_one_hot(1, 40, seed=2)[0]
    import tensorflow as tf

    path = ks.export_saved_model(model, tmp_path / "b", ig_baseline=baseline, ig_steps=8, require_one_hot=False)
    loaded = tf.saved_model.load(path)
    ig = loaded.signatures["integrated_gradients"](sequences=tf.constant(x))["integrated_gradients"].numpy()
    np.testing.assert_allclose(ig, ks.integrated_gradients(model, x, baseline=baseline, steps=8), atol=1e-5)
    soft = np.full_like(x, 0.25)  # on the simplex, accepted without the one-hot requirement
    assert loaded.signatures["angles"](sequences=tf.constant(soft))["angles"].shape == (3, 40)
    with pytest.raises(tf.errors.InvalidArgumentError, match="a request needs at least one sequence"):
        loaded.signatures["corrected_saliency"](sequences=tf.constant(x[:0]))


def test_an_export_records_its_settings(exported):
    """What the maps explain travels with the SavedModel (once nothing did: two exports of
    other targets had identical signatures)."""
    settings = ks.serving.export_settings(exported[2])
    assert settings == {**settings, "target": None, "per_target": False, "logits": False, "ig_steps": 16,
                        "ig_rule": "trapezoid", "ig_baseline": "uniform", "require_one_hot": True,
                        "sequence_length": 40, "alphabet_size": 4, "keras_simplex_version": ks.__version__,
                        "signatures": list(ks.serving.SIGNATURES)}


def test_a_model_of_any_length_exports_at_a_given_length(tmp_path):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, 4))
    pooled = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(6, 5, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    with pytest.raises(ValueError, match="any length: give the length"):
        ks.export_saved_model(model, tmp_path / "none", target=1)
    path = ks.export_saved_model(model, tmp_path / "m" / "1", target=[0, 2], length=30, ig_rule="gauss_legendre",
                                 ig_steps=5)
    x = random_one_hot(3, 30, seed=4)
    loaded = tf.saved_model.load(path)
    np.testing.assert_allclose(loaded.signatures["corrected_saliency"](sequences=tf.constant(x))["corrected_saliency"],
                               ks.saliency(model, x, target=[0, 2]), atol=1e-6)
    np.testing.assert_allclose(loaded.signatures["integrated_gradients"](sequences=tf.constant(x))["integrated_gradients"],
                               ks.integrated_gradients(model, x, target=[0, 2], steps=5, rule="gauss_legendre"), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="length 30"):
        loaded.signatures["angles"](sequences=tf.constant(random_one_hot(1, 31)))
    assert ks.serving.export_settings(path)["target"] == [0, 2] and ks.serving.export_settings(path)["sequence_length"] == 30
    with pytest.raises(ValueError, match="length 31, but the model reads sequences of 40"):
        ks.export_saved_model(small_cnn(seed=1), tmp_path / "fixed", length=31)
    with pytest.raises(ValueError, match="metadata may not set target: the export records them itself"):
        ks.export_saved_model(small_cnn(seed=1), tmp_path / "meta", metadata={"target": 3, "model": "m.keras"})


def test_an_export_onto_a_file_fails_before_any_work(tmp_path):
    """It once traced every signature, then failed renaming onto the file, naming the temporary."""
    (tmp_path / "victim.keras").write_text("keep me")
    with pytest.raises(FileExistsError, match="victim.keras is a file; the SavedModel is a folder"):
        ks.export_saved_model(small_cnn(seed=1), tmp_path / "victim.keras")
    assert (tmp_path / "victim.keras").read_text() == "keep me"


def test_a_model_with_two_heads_exports_each_heads_predictions(tmp_path):
    """A list-output model: predictions_0/1 in every signature, maps of the callable target."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    inputs = keras.Input((40, 4))
    hidden = keras.layers.Flatten()(keras.layers.Conv1D(6, 5, activation="relu")(inputs))
    model = keras.Model(inputs, [keras.layers.Dense(1, activation="sigmoid")(hidden),
                                 keras.layers.Dense(2, activation="softmax")(hidden)])
    x = random_one_hot(4, 40, seed=3)

    def target(outputs):
        return outputs[1][:, 1]

    loaded = tf.saved_model.load(ks.export_saved_model(model, tmp_path / "two" / "1", target=target, ig_steps=4))
    heads = model(x)
    with tf.GradientTape() as tape:  # independent of the package: the head's input gradient
        inputs = tf.constant(x)
        tape.watch(inputs)
        picked = model(inputs)[1][:, 1]
    gradient = tape.gradient(picked, inputs).numpy()
    for name in ks.serving.SIGNATURES:
        outputs = loaded.signatures[name](sequences=tf.constant(x))
        assert {"predictions_0", "predictions_1"} <= set(outputs) and "predictions" not in outputs, name
        np.testing.assert_allclose(outputs["predictions_1"], heads[1], atol=1e-6)
    saliency = loaded.signatures["corrected_saliency"](sequences=tf.constant(x))["corrected_saliency"].numpy()
    np.testing.assert_allclose(saliency, gradient - gradient.mean(-1, keepdims=True), atol=1e-6)
