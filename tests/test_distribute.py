"""Attribution under tf.distribute.MirroredStrategy over two logical CPUs equals one device."""

import json
import subprocess
import sys

SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
import keras_simplex as ks
sys.path.insert(0, sys.argv[1])
from conftest import random_one_hot, small_cnn

model, x = small_cnn(), random_one_hot(37, 40, seed=2)   # 37: uneven shares, padded
strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
engine = ks.Explainer(model, strategy=strategy, max_points=64)
methods = {
    "saliency": lambda m: ks.saliency(m, x),
    "gradient_x_input": lambda m: ks.gradient_x_input(m, x, correct=False),
    "expected_gradients": lambda m: ks.expected_gradients(m, x, num_baselines=3, steps=5),
    "smoothgrad": lambda m: ks.smoothgrad(m, x, samples=4, seed=3),
    "angles": lambda m: ks.gradient_angles(m, x),
}
report = {name: float(np.abs(f(engine) - f(model)).max()) for name, f in methods.items()}
report["replicas"] = strategy.num_replicas_in_sync
try:
    ks.Explainer(model, strategy=strategy, jit_compile=True)
    report["xla_error"] = None
except ValueError as error:
    report["xla_error"] = str(error)
print(json.dumps(report))
"""


def test_mirrored_strategy_over_two_cpus_matches_single_device():
    import os

    result = subprocess.run([sys.executable, "-c", SCRIPT, os.path.dirname(__file__)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report.pop("replicas") == 2
    assert "cannot be combined" in report.pop("xla_error")
    assert report.pop("angles") < 1e-3, report  # degrees
    assert all(difference < 1e-5 for difference in report.values()), report
