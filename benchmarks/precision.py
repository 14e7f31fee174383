"""bfloat16 against float32 attribution: speed and accuracy on a trained model.

Trains the demo's CNN-deep (synthetic data with planted JASPAR motifs, exponential first
layer), then for saliency, integrated gradients (20 steps), SmoothGrad (25 samples) and
expected gradients (10 x 20) compares ``precision="bfloat16"`` with float32 (both with the
speed rewrites, logit target, corrected maps):

- sequences per second (median of ``--repeats`` samples, round-robin, each at least
  ``--min-seconds`` of back-to-back calls);
- accuracy of the bfloat16 maps against the float32 ones: per-sequence cosine (min / median),
  relative error of the maps (max and median over sequences of max |difference| / max |map|),
  angle error (median and 99th percentile of |difference| in degrees);
- interpretability against the planted motifs (``ks.metrics``): mean cosine and AUROC of both.

    python benchmarks/precision.py [--sequences 1000] [--epochs 20] [--repeats 3]
"""

from __future__ import annotations

import argparse

import keras_simplex_cli

keras_simplex_cli.prepare_process()
import numpy as np  # noqa: E402

import keras_simplex as ks  # noqa: E402
from keras_simplex.demo import train_demo_model  # noqa: E402
from keras_simplex.metrics import cosine_similarity, interpretability_scores  # noqa: E402
from timing import round_robin  # noqa: E402

METHODS = {
    "saliency": dict(),
    "integrated_gradients": dict(steps=20),
    "smoothgrad": dict(samples=25, sigma=0.1),
    "expected_gradients": dict(num_baselines=10, steps=20),
}
COUNTS = {"expected_gradients": 10}  # divisor of --sequences for the slow method


def per_sequence_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=1000, help="positive test sequences explained")
    parser.add_argument("--train-sequences", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    args = parser.parse_args()
    model, data, auroc = train_demo_model(args.train_sequences, args.epochs, verbose=0)
    test = data.splits["test"]
    chosen = test[data.y[test] == 1][: args.sequences]
    x, truth = data.x[chosen], data.ground_truth[chosen]
    explainers = {precision: ks.Explainer(model, logits=True, precision=precision)
                  for precision in ("float32", "bfloat16")}
    for explainer in explainers.values():
        explainer.saliency(x[:2])  # the first call chooses the forward (rewritten if verified)
    used = ", ".join(f"{precision} {explainer.engine.rewritten}" for precision, explainer in explainers.items())
    amx = {True: "yes", False: "no", None: "unknown"}[ks.precision.cpu_has_amx()]
    print(f"CNN-deep-exp trained: test AUROC {auroc:.3f}; {len(x)} positive test sequences; rewrites used: {used}; "
          f"CPU with AMX: {amx}")
    print(f"{'method':22s} {'f32 seq/s':>10s} {'bf16 seq/s':>10s} {'speed':>6s} {'cos min':>8s} {'cos med':>8s} "
          f"{'err max':>8s} {'err med':>8s} {'angle med':>9s} {'angle p99':>9s} {'f32 cos/AUROC':>14s} "
          f"{'bf16 cos/AUROC':>14s}")
    for method, options in METHODS.items():
        count = len(x) // COUNTS.get(method, 1)
        inputs = x[:count]
        full, half = (explainer.explain(inputs, method, **options) for explainer in explainers.values())
        rates, _ = round_robin({precision: (lambda e=explainer: e.explain(inputs, method, outputs=("corrected",),
                                                                          **options))
                                for precision, explainer in explainers.items()}, count, args.repeats,
                               args.min_seconds)
        cosine = per_sequence_cosine(full.corrected, half.corrected)
        error = np.abs(half.corrected - full.corrected).max(axis=(1, 2)) / np.abs(full.corrected).max(axis=(1, 2))
        angle = np.abs(half.angles - full.angles)
        quality = []
        for maps in (full.corrected, half.corrected):
            scores = interpretability_scores(maps, inputs, truth[:count])
            quality.append(f"{np.mean(cosine_similarity(maps, truth[:count])):.4f}/{np.nanmean(scores['auroc']):.4f}")
        speed = [rates[p] for p in explainers]
        print(f"{method:22s} {speed[0]:10.1f} {speed[1]:10.1f} {speed[1] / speed[0]:5.2f}x {cosine.min():8.5f} "
              f"{np.median(cosine):8.5f} {error.max():8.4f} {np.median(error):8.4f} {np.median(angle):9.3f} "
              f"{np.percentile(angle, 99):9.3f} {quality[0]:>14s} {quality[1]:>14s}", flush=True)


if __name__ == "__main__":
    main()
