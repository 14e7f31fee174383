"""Every Keras component survives a .keras round trip, loaded in a fresh process."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot

LOAD_AND_PREDICT = """
import json, sys
import numpy as np, keras
import keras_simplex  # registers the package's classes
reports = []
for model_path, x_path, y_path in json.loads(sys.argv[1]):
    model = keras.saving.load_model(model_path, safe_mode=True)
    x = np.load(x_path)
    np.save(y_path, model.predict(x, verbose=0))
    layer = keras_simplex.regularizers.find_angle_regularizer(model)
    first = layer.backbone.layers[1] if layer else None
    history = model.fit(x, np.arange(len(x)) % 2, epochs=1, verbose=0)  # the compiled state works too
    reports.append({
        "strength": None if layer is None else float(layer.strength.numpy()),
        "jit_compile": bool(model.jit_compile),
        "initializer": type(first.kernel_initializer).__name__ if layer else None,
        "constraint": type(first.kernel_constraint).__name__ if layer else None,
        "loss": history.history["loss"][0],
    })
print(json.dumps(reports))
"""


def components_model(kind):
    if kind == "regularized":
        backbone = ks.models.cnn_shallow(
            input_length=100,
            kernel_initializer=ks.ScaledHeNormal(0.5),
            first_layer={"kernel_constraint": ks.ZeroMeanAlphabet()},
        )
        return ks.add_angle_regularizer(backbone, strength=2e-3, penalty="sine_squared", logits=True)
    return ks.models.cnn_shallow(input_length=100, kernel_initializer=ks.FixedSigmaNormal(0.05), first_activation="exponential")


def test_keras_round_trip_in_a_fresh_process(tmp_path):
    """Regularizer, initializers and constraint, compiled with and without XLA, saved after
    training, load with safe_mode in a process that only imports keras_simplex."""
    cases, models = [], []
    for kind in ("regularized", "fixed_sigma"):
        for jit_compile in (False, True):
            x = random_one_hot(32, 100, seed=1)
            model = components_model(kind)
            model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=jit_compile)
            model.fit(x, np.arange(32) % 2, epochs=1, verbose=0)
            regularizer = ks.regularizers.find_angle_regularizer(model)
            if regularizer is not None:
                regularizer.strength.assign(7e-3)  # a value changed during training is what gets saved
            stem = tmp_path / f"{kind}_{jit_compile}"
            model.save(f"{stem}.keras")
            np.save(f"{stem}_x.npy", x)
            cases.append((f"{stem}.keras", f"{stem}_x.npy", f"{stem}_y.npy"))
            models.append((kind, jit_compile, model, x))
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, json.dumps(cases)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reports = json.loads(result.stdout.strip().splitlines()[-1])
    for (kind, jit_compile, model, x), (_, _, y_path), report in zip(models, cases, reports):
        np.testing.assert_allclose(np.load(y_path), model.predict(x, verbose=0), atol=1e-6)
        assert report["jit_compile"] == jit_compile
        assert np.isfinite(report["loss"])
        if kind == "regularized":
            assert report["strength"] == pytest.approx(7e-3)
            assert report["initializer"] == "ScaledHeNormal" and report["constraint"] == "ZeroMeanAlphabet"


def test_component_configs_round_trip():
    for obj in (ks.ScaledHeNormal(2.5, seed=3), ks.FixedSigmaNormal(0.1, seed=4), ks.ZeroMeanAlphabet()):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
        assert type(clone) is type(obj) and clone.get_config() == obj.get_config()
