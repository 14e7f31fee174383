"""Cost of an angle-regularized training epoch relative to a plain one, on CNN-deep.

Trains the paper's CNN-deep (L=200, A=4, batch 100) for a few epochs on random one-hot data,
with and without ``SimplexAngleRegularizer`` (double backprop), in graph mode and with XLA,
and prints the median wall time of an epoch (first epoch excluded: it includes tracing) and
of a training step (the compiled call alone), with ratios. Data reach ``fit`` as
``train_paper_protocol`` feeds them (``ks.repeated_batches``: one
reshuffling tf.data iterator for the whole fit; see docs/performance.md for the per-epoch
stall Keras' own array pipeline can add).
Run on demand:

    python benchmarks/training.py [--sequences 5000] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# First, as the command line does: TensorFlow's CPU kernels chosen before it is imported
# (keras_simplex_cli.prepare_process).
import keras_simplex_cli  # noqa: E402, I001

keras_simplex_cli.prepare_process()
import keras_simplex as ks  # noqa: E402, I001

import keras  # noqa: E402
import numpy as np  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch and of each training step (the compiled call) in it."""

    def on_train_begin(self, logs=None):
        self.epochs, self.steps = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self.step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(time.perf_counter() - self.step_start)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter() - self.start)


def epoch_seconds(regularized: bool, jit_compile: bool, x, y, epochs: int, penalty: str) -> tuple[float, float]:
    """Median seconds per epoch and per step, after one warm-up epoch (tracing)."""
    keras.utils.set_random_seed(0)
    model = ks.models.cnn_deep()
    if regularized:
        model = ks.add_angle_regularizer(model, strength=1e-3, penalty=penalty)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", jit_compile=jit_compile)
    timer = EpochTimer()
    data, steps = ks.repeated_batches((x, y), batch_size=100, shuffle=True, seed=0)
    model.fit(data, steps_per_epoch=steps, shuffle=False, epochs=epochs + 1, verbose=0, callbacks=[timer])
    steps_per_epoch = len(timer.steps) // (epochs + 1)
    return statistics.median(timer.epochs[1:]), statistics.median(timer.steps[steps_per_epoch:])


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
    print("epoch: wall time of an epoch (with the shuffling input pipeline); step: the compiled training step")
    print(f"{'mode':6s} {'':6s} {'plain':>8s} {'regularized':>12s} {'ratio':>7s}")
    for jit_compile in (False, True):
        plain = epoch_seconds(False, jit_compile, x, y, args.epochs, args.penalty)
        regularized = epoch_seconds(True, jit_compile, x, y, args.epochs, args.penalty)
        mode = "XLA" if jit_compile else "graph"
        for i, unit in enumerate(("epoch", "step")):
            scale = 1 if unit == "epoch" else 1000
            print(f"{mode:6s} {unit + (' s' if unit == 'epoch' else ' ms'):8s} {plain[i] * scale:8.2f} "
                  f"{regularized[i] * scale:12.2f} {regularized[i] / plain[i]:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
