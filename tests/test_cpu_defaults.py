"""Importing keras_simplex changes no process-wide state; the command line (which owns its
process) asks for TensorFlow's oneDNN kernels and keeps TensorFlow's start-up logs quiet; the
engine warns once when oneDNN was left off."""

import json
import os
import platform
import subprocess
import sys

import pytest

IMPORT_ONLY = """
import json, os, sys
before = dict(os.environ)
import matplotlib
backend = matplotlib.get_backend()
import keras_simplex
import keras_simplex.plotting
print(json.dumps({"environment_changed": sorted(k for k in set(os.environ) | set(before)
                                                if os.environ.get(k) != before.get(k)),
                  "backend_unchanged": matplotlib.get_backend() == backend}))
"""

ENGINE = """
import json, sys, warnings
import keras_simplex as ks
import keras
inputs = keras.Input((10, 4))
model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ks.Explainer(model)
    ks.Explainer(model)
print(json.dumps({"enabled": ks._fast.cpu_defaults.onednn_enabled(),
                  "warnings": [str(w.message) for w in caught if "oneDNN" in str(w.message)]}))
"""

LAUNCHED = """
import json, os, sys
import keras_simplex_cli
keras_simplex_cli.prepare_process()
import keras_simplex as ks
print(json.dumps({"variable": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                  "enabled": ks._fast.cpu_defaults.onednn_enabled()}))
"""

x86 = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                         reason="the oneDNN default applies to x86 CPUs only")


def run(script: str, variable: str | None = None) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
    if variable is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = variable
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_import_changes_no_environment_variable_and_no_matplotlib_backend():
    report, _ = run(IMPORT_ONLY)
    assert report == {"environment_changed": [], "backend_unchanged": True}


@x86
def test_the_command_line_turns_onednn_on_and_keeps_tensorflow_quiet():
    report, stderr = run(LAUNCHED)
    assert report == {"variable": "1", "enabled": True}
    assert "I0000" not in stderr and "absl::InitializeLog" not in stderr and "cuInit" not in stderr, stderr


@x86
def test_the_users_choice_stands():
    report, _ = run(LAUNCHED, "0")
    assert report == {"variable": "0", "enabled": False}


@x86
def test_the_engine_warns_once_where_onednn_stayed_off():
    report, _ = run(ENGINE)
    if report["enabled"]:  # CPUs with AVX-512 VNNI or newer: TensorFlow's own default is on
        assert report["warnings"] == []
    else:
        assert len(report["warnings"]) == 1 and "TF_ENABLE_ONEDNN_OPTS=1" in report["warnings"][0]


def test_help_version_and_usage_errors_answer_without_tensorflow():
    """`keras-simplex --help` answers in well under a second (measured: docs): the launcher
    imports no TensorFlow."""
    command = os.path.join(os.path.dirname(sys.executable), "keras-simplex")
    for args, code, stream, text in ((["--help"], 0, "stdout", "explains each command"),
                                     (["--version"], 0, "stdout", "keras-simplex 0."),
                                     (["attribute", "--model"], 2, "stderr", "expected one argument")):
        result = subprocess.run([command, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == code and text in getattr(result, stream), result
        assert "I0000" not in result.stderr and "tensorflow" not in result.stderr.lower()
    probe = "import sys, keras_simplex_cli; keras_simplex_cli.parser(); print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
