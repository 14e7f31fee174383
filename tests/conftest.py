"""Shared fixtures: small models, random one-hot batches, the command line in this process."""

import contextlib
import io
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_simplex  # noqa: E402, F401  (first, as users do: it picks TensorFlow's CPU kernels)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def command_in_process(*args, cwd=None) -> tuple[int, str, str]:
    """``keras-simplex ARGS`` in this process, as the entry point runs it (without the ~7 s of a
    new process importing TensorFlow): ``(exit code, stdout, stderr)``. For tests of what the
    command does; tests of the process itself (start-up, signals, exit) run the installed one."""
    from keras_simplex_cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(map(str, args)))
        except SystemExit as exit:  # argparse: --help, usage errors
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def random_one_hot(n: int, length: int, size: int = 4, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """``(n, length, size)`` uniformly random one-hot sequences."""
    rng = np.random.default_rng(seed)
    return np.eye(size, dtype=dtype)[rng.integers(0, size, (n, length))]


def small_cnn(length: int = 40, size: int = 4, outputs: int = 1, seed: int = 0, dtype: str = "float32",
              smooth: bool = False, activation: str | None = "sigmoid") -> keras.Model:
    """A tiny conv net; ``smooth`` uses tanh/softplus and average pooling (no kinks)."""
    keras.utils.set_random_seed(seed)
    act = "tanh" if smooth else "relu"
    pool = keras.layers.AveragePooling1D if smooth else keras.layers.MaxPooling1D
    inputs = keras.Input((length, size), dtype=dtype)
    x = keras.layers.Conv1D(8, 5, padding="same", activation=act, dtype=dtype)(inputs)
    x = pool(2, dtype=dtype)(x)
    x = keras.layers.Conv1D(6, 3, activation="softplus" if smooth else "relu", dtype=dtype)(x)
    x = keras.layers.Flatten(dtype=dtype)(x)
    outputs_ = keras.layers.Dense(outputs, activation=activation, dtype=dtype)(x)
    return keras.Model(inputs, outputs_)


def box_muller_noise(key: int, shape: tuple, dtype=np.float32) -> np.ndarray:
    """The documented SmoothGrad noise of one sequence (``kernel.sequence_noise``) written out
    in numpy: the Box-Muller transform of stateless uniforms drawn with seed ``(key, 0)``."""
    import tensorflow as tf

    size = int(np.prod(shape))
    work = tf.float64 if np.dtype(dtype) == np.float64 else tf.float32
    u = tf.random.stateless_uniform((2, (size + 1) // 2), seed=[key, 0], dtype=work).numpy()
    radius, angle = np.sqrt(-2 * np.log1p(-u[0].astype(np.float64))), 2 * np.pi * u[1].astype(np.float64)
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:size].reshape(shape)


@pytest.fixture(scope="session")
def cnn():
    return small_cnn()


@pytest.fixture(scope="session")
def multi_output_cnn():
    return small_cnn(outputs=3, seed=1)


@pytest.fixture(scope="session")
def x40():
    return random_one_hot(23, 40, seed=3)


def pytest_collection_modifyitems(config, items):
    """Deselect tf.test.TestCase.test_session: a deprecated helper TF marks "Not a test"."""
    kept = [item for item in items if item.name != "test_session"]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.name == "test_session"])
        items[:] = kept


def explainer_on(model: keras.Model, **engine_options) -> "keras_simplex.Explainer":
    """An Explainer on an engine built with internal options (``fold_batch_norm``,
    ``convolutions``, ``pool_first``: one speed rewrite at a time)."""
    from keras_simplex.engine import AttributionEngine

    explainer = object.__new__(keras_simplex.Explainer)
    explainer.engine = AttributionEngine(model, **engine_options)
    return explainer


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a GPU (skipped without one)")


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is not None:
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            pytest.skip("needs a GPU")
