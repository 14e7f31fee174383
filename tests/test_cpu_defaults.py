"""keras_simplex asks for TensorFlow's oneDNN kernels when imported first, and says so when too late."""

import json
import os
import platform
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys, warnings
if sys.argv[1] == "tensorflow-first":
    import tensorflow
import keras_simplex as ks
import keras
inputs = keras.Input((10, 4))
model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ks.Explainer(model)
    ks.Explainer(model)
import os
print(json.dumps({"variable": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                  "enabled": ks._fast.cpu_defaults.onednn_enabled(),
                  "warnings": [str(w.message) for w in caught if "oneDNN" in str(w.message)]}))
"""

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="the oneDNN default applies to x86 CPUs only")


def run(order: str, variable: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if variable is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = variable
    result = subprocess.run([sys.executable, "-c", SCRIPT, order], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_imported_first_it_turns_onednn_on():
    assert run("keras_simplex-first", None) == {"variable": "1", "enabled": True, "warnings": []}


def test_the_users_choice_stands_and_is_not_warned_about():
    assert run("keras_simplex-first", "0") == {"variable": "0", "enabled": False, "warnings": []}


def test_imported_after_tensorflow_it_warns_once_where_onednn_stayed_off():
    report = run("tensorflow-first", None)
    assert report["variable"] is None
    if report["enabled"]:  # CPUs with AVX-512 VNNI or newer: TensorFlow's own default is on
        assert report["warnings"] == []
    else:
        assert len(report["warnings"]) == 1 and "TF_ENABLE_ONEDNN_OPTS=1" in report["warnings"][0]
