"""All-targets attribution of a multitask model: one pass vs one pass per target.

On the Basset model (L=600, 164 sigmoid outputs; random weights, logit targets), compares the
corrected saliency of every output computed by ``Explainer(model, "all")`` (one forward pass
per chunk, the 164 backward passes vectorised) with 164 single-target explainers, and checks
that both give the same maps (to 1e-5 of the largest |map|). Run on demand:

    python benchmarks/targets.py [--sequences 32] [--targets 164] [--max-points 4096]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_simplex as ks  # noqa: E402, I001

import keras  # noqa: E402
import numpy as np  # noqa: E402


def timed(function, repeats: int = 2) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeats`` calls after one warm-up call, and the last result."""
    result = function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--targets", type=int, default=164, help="Basset outputs")
    parser.add_argument("--max-points", type=int, default=4096, help="gradients per compiled call (both sides)")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = ks.models.basset(num_outputs=args.targets)
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.sequences, 600))]

    together = ks.Explainer(model, "all", logits=True, max_points=args.max_points)
    seconds_all, maps_all = timed(lambda: together.saliency(x, outputs=("corrected",)).corrected)
    singles = [ks.Explainer(model, t, logits=True, max_points=args.max_points) for t in range(args.targets)]
    seconds_each, maps_each = timed(lambda: np.stack([e.saliency(x, outputs=("corrected",)).corrected
                                                      for e in singles], axis=1))
    error = np.abs(maps_all - maps_each).max() / np.abs(maps_each).max()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; Basset L=600, {args.targets} "
          f"outputs, {args.sequences} sequences, corrected saliency of every output (logits)")
    print(f"  one pass, all targets : {seconds_all:7.2f} s  {args.sequences * args.targets / seconds_all:9.0f} maps/s")
    print(f"  one pass per target   : {seconds_each:7.2f} s  {args.sequences * args.targets / seconds_each:9.0f} maps/s")
    print(f"  speed-up {seconds_each / seconds_all:.2f}x; max |difference| / max |map| = {error:.1e}")
    if error > 1e-5:
        raise SystemExit("the all-targets maps differ from the per-target maps")


if __name__ == "__main__":
    main()
