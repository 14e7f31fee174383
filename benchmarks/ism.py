"""In-silico mutagenesis on windows (``keras_simplex._fast.windowed_ism``) against full forward
passes of every mutant, on three architectures:

- the paper's CNN-deep (L = 200, logit target; ReLU and exponential first layer);
- Basset (``ks.models.basset``, L = 600, logit of output 0), non-trivial batch-norm statistics;
- the BPNet-style dilated residual model of ``benchmarks/architectures.py`` (L = 2,114, its
  profile target), where only the first convolution is position-local before a residual sum:
  the engine keeps full passes there (``WORTHWHILE``), and the row shows what windows would do.

Both through the same engine (rewritten, verified forward), all L x (A - 1) substitutions,
sequences per second (median of ``--repeats`` round-robin samples of at least
``--min-seconds``), the ratio, and the largest difference between the two maps relative to the
largest |value| of the full-pass map. Run on demand:

    python benchmarks/ism.py [--sequences 40] [--repeats 3] [--min-seconds 2]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras_simplex_cli  # noqa: E402

keras_simplex_cli.prepare_process()
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_simplex as ks  # noqa: E402
from architectures import bpnet_like, profile_target, trained_like_batch_norm  # noqa: E402
from keras_simplex._fast import windowed_ism  # noqa: E402
from keras_simplex.engine import AttributionEngine  # noqa: E402
from timing import round_robin  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=40, help="for CNN-deep (Basset: a tenth, BPNet: 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cases = {  # name: (model, target, sequences, positions)
        "CNN-deep relu (L=200)": (trained_like_batch_norm(ks.models.cnn_deep(input_length=200), rng), 0,
                                  args.sequences, None),
        "CNN-deep exp (L=200)": (trained_like_batch_norm(
            ks.models.cnn_deep(input_length=200, first_activation="exponential"), rng), 0, args.sequences, None),
        "Basset (L=600)": (trained_like_batch_norm(ks.models.basset(), rng), 0, max(1, args.sequences // 10), None),
        "BPNet-style (L=2114)": (bpnet_like(), profile_target, 1, slice(1000, 1100)),
    }
    print(f"{'model':24s} {'windows':>9s} {'full':>9s} {'ratio':>7s} {'max diff':>9s}   (sequences per second; "
          f"BPNet-style: 100 positions)")
    for name, (model, target, count, positions) in cases.items():
        x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (count, model.input_shape[1]))]
        logits = not isinstance(model.layers[-1], keras.layers.Flatten)
        windowed = AttributionEngine(model, target, logits=logits, max_points=256 if count == 1 else None)
        full = AttributionEngine(model, target, logits=logits, windowed_ism=False,
                                 max_points=256 if count == 1 else None)
        forced = windowed_ism.WORTHWHILE
        windowed_ism.WORTHWHILE = 1.0  # show the windows where the engine would not take them
        try:
            windowed.ism(x[:1], positions=slice(0, 10))
        finally:
            windowed_ism.WORTHWHILE = forced
        assert windowed._mutagenesis.mutants is not None and full._mutagenesis is None
        speed, maps = round_robin({"windows": lambda: windowed.ism(x, positions=positions),
                                   "full": lambda: full.ism(x, positions=positions)}, count, args.repeats,
                                  args.min_seconds)
        difference = np.abs(maps["windows"] - maps["full"]).max() / np.abs(maps["full"]).max()
        print(f"{name:24s} {speed['windows']:9.2f} {speed['full']:9.2f} {speed['windows'] / speed['full']:6.2f}x "
              f"{difference:9.1e}", flush=True)


if __name__ == "__main__":
    main()
