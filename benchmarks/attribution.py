"""Attribution throughput on the paper's CNN-deep (L=200, A=4): engine vs a naive loop.

Prints sequences per second for each method, for keras_simplex's batched engine (graph mode
and XLA) and for a naive loop that opens one eager GradientTape per sequence (all of that
sequence's points in one batch), with the ratio. Run on demand:

    python benchmarks/attribution.py [--sequences 1000] [--naive-sequences 40] [--max-points 512]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# First, as the command line does: TensorFlow's CPU kernels chosen before it is imported
# (keras_simplex_cli.prepare_process).
import keras_simplex_cli  # noqa: E402, I001

keras_simplex_cli.prepare_process()
import keras_simplex as ks  # noqa: E402, I001

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

METHODS = {
    # name: (engine call, naive points builder)
    "saliency": (
        lambda e, x: ks.saliency(e, x),
        lambda x, rng: x[None],
    ),
    "integrated_gradients (20 steps)": (
        lambda e, x: ks.integrated_gradients(e, x, steps=20),
        lambda x, rng: 0.25 + np.linspace(0, 1, 20)[:, None, None] * (x - 0.25),
    ),
    "smoothgrad (25 samples)": (
        lambda e, x: ks.smoothgrad(e, x, samples=25, sigma=0.1),
        lambda x, rng: x + 0.1 * rng.standard_normal((25,) + x.shape),
    ),
    "expected_gradients (10 x 20)": (
        lambda e, x: ks.expected_gradients(e, x, num_baselines=10, steps=20),
        lambda x, rng: _eg_points(x, rng),
    ),
}


def _eg_points(x, rng):
    baselines = ks.dinucleotide_shuffle(x[None], 10, seed=int(rng.integers(1 << 31)))[0]
    alphas = np.linspace(0, 1, 20)[None, :, None, None]
    return (baselines[:, None] + alphas * (x - baselines[:, None])).reshape(-1, *x.shape)


def naive(model, x, make_points, rng):
    """One eager tape per sequence; corrected mean gradient of that sequence's points."""
    out = []
    for sequence in x:
        points = tf.constant(make_points(sequence, rng), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(points)
            y = tf.reduce_sum(model(points, training=False)[:, 0])
        grad = tf.reduce_mean(tape.gradient(y, points), axis=0)
        out.append((grad - tf.reduce_mean(grad, -1, keepdims=True)).numpy())
    return np.stack(out)


def throughput(fn, count, repeats):
    fn()  # warm-up: tracing / compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--naive-sequences", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-points", type=int, default=None, help="engine memory knob (default: package default)")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA column")
    args = parser.parse_args()

    print(f"keras_simplex {ks.__version__}, TensorFlow {tf.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, devices: {[d.name for d in tf.config.list_logical_devices()]}")
    model = ks.models.cnn_deep(input_length=200)
    x = ks.dinucleotide_shuffle(np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (args.sequences, 200))], 1, seed=0)[:, 0]
    graph = ks.Explainer(model, jit_compile=False, max_points=args.max_points)
    xla = ks.Explainer(model, jit_compile=True, max_points=args.max_points)
    rng = np.random.default_rng(0)
    header = f"{'method':34s} {'engine (graph)':>15s} {'engine (XLA)':>13s} {'naive loop':>11s} {'engine/naive':>13s} {'XLA/graph':>10s}"
    print(f"sequences per second, CNN-deep (L=200, A=4), max_points={graph.max_points}, median of {args.repeats}")
    print(header)
    for name in args.methods:
        run, points = METHODS[name]
        fast = throughput(lambda: run(graph, x), len(x), args.repeats)
        compiled = float("nan") if args.no_xla else throughput(lambda: run(xla, x), len(x), args.repeats)
        small = x[: args.naive_sequences]
        slow = throughput(lambda: naive(model, small, points, rng), len(small), 1)
        print(f"{name:34s} {fast:15.1f} {compiled:13.1f} {slow:11.1f} {fast / slow:12.1f}x {compiled / fast:9.2f}x")


if __name__ == "__main__":
    main()
