"""The light core: without the extras, the package imports and explains; features that need an
extra name it. Packaging metadata lives in pyproject.toml only, with one version source."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRA_MODULES = ("tensorflow_datasets", "matplotlib", "logomaker", "pyjaspar", "pyfaidx", "scipy", "sklearn",
                 "apache_beam", "pybigtools", "modiscolite", "pandas", "tensorflow_probability", "tf_keras")

WITHOUT_EXTRAS = f"""
import importlib.abc, json, sys
BLOCKED = {EXTRA_MODULES!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not a core dependency)")

sys.meta_path.insert(0, Block())
import numpy as np
import keras
import keras_simplex as ks

inputs = keras.Input((20, 4))
model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (3, 20))]
maps = ks.saliency(model, x)
errors = {{}}
for module in ("keras_simplex.plotting", "keras_simplex.datasets"):
    try:
        __import__(module)
    except ImportError as error:
        errors[module] = str(error)
print(json.dumps({{"shape": list(maps.shape), "errors": errors,
                   "loaded": sorted(m for m in BLOCKED if m in sys.modules)}}))
"""


def test_the_core_works_without_the_extras_and_names_them_when_needed():
    result = subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [3, 20, 4] and report["loaded"] == []
    assert "pip install 'keras_simplex[plot]'" in report["errors"]["keras_simplex.plotting"]
    assert "pip install 'keras_simplex[datasets]'" in report["errors"]["keras_simplex.datasets"]


def test_metadata_lives_in_pyproject_with_one_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [requirement.split(">")[0].split("=")[0].split("<")[0].strip() for requirement in project["dependencies"]]
    assert core == ["tensorflow", "keras", "numpy", "h5py"]
    assert set(project["optional-dependencies"]) >= {"datasets", "plot", "modisco", "beam", "tfp", "bench", "test", "all"}
    assert project["dynamic"] == ["version"] and "version" not in project
    assert "[metadata]" not in (ROOT / "setup.cfg").read_text() and "[options" not in (ROOT / "setup.cfg").read_text()
    import keras_simplex

    from importlib.metadata import version

    assert version("keras_simplex") == keras_simplex.__version__
    citation = (ROOT / "CITATION.cff").read_text()
    assert "10.1186/s13059-023-02956-3" in citation and f"version: {keras_simplex.__version__}" in citation
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
