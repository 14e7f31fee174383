"""Cost of an angle-regularized training epoch relative to a plain one, on CNN-deep.

Trains the paper's CNN-deep (L=200, A=4, batch 100) for a few epochs on random one-hot data,
with and without ``SimplexAngleRegularizer`` (double backprop), in graph mode and with XLA,
and prints seconds per epoch (median, first epoch excluded: it includes tracing) and the
ratio. Run on demand:

    python benchmarks/training.py [--sequences 5000] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_simplex as ks  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def epoch_seconds(regularized: bool, jit_compile: bool, x, y, epochs: int, penalty: str) -> float:
    keras.utils.set_random_seed(0)
    model = ks.models.cnn_deep()
    if regularized:
        model = ks.add_angle_regularizer(model, strength=1e-3, penalty=penalty)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", jit_compile=jit_compile)
    timer = EpochTimer()
    model.fit(x, y, batch_size=100, epochs=epochs + 1, verbose=0, callbacks=[timer])
    return statistics.median(timer.times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--penalty", default="angle_l2", choices=ks.regularizers.PENALTIES)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.sequences, 200))]
    y = rng.integers(0, 2, args.sequences).astype(np.float32)
    print(f"CNN-deep, {args.sequences} sequences x 200 nt, batch 100, {os.cpu_count()} cores; seconds per epoch")
    print(f"{'mode':10s} {'plain':>8s} {'regularized':>12s} {'ratio':>7s}")
    for jit_compile in (False, True):
        plain = epoch_seconds(False, jit_compile, x, y, args.epochs, args.penalty)
        regularized = epoch_seconds(True, jit_compile, x, y, args.epochs, args.penalty)
        mode = "XLA" if jit_compile else "graph"
        print(f"{mode:10s} {plain:8.2f} {regularized:12.2f} {regularized / plain:6.2f}x")


if __name__ == "__main__":
    main()
