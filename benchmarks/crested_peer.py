"""keras_simplex against CREsted's ``contribution_scores`` on the same Keras model.

CREsted (PyPI ``crested``, the ``bench`` extra) is the Keras 3 library for contribution scores
of sequence-to-function models. Its methods, with its defaults, and keras_simplex configured to
compute the same maps (logit model, output 0, ``simplex_correction=True`` / corrected maps):

- ``saliency_map``: the input gradient;
- ``integrated_grad``: zero baseline, 25 intervals, trapezoid rule over 26 points, returning
  the averaged path gradient (not multiplied by the input): ``integrated_gradients(baseline=
  "zeros", steps=26, rule="trapezoid")``;
- ``expected_integrated_grad``: the same from 25 position-shuffled baselines per sequence (650
  gradients per sequence): ``expected_gradients`` with CREsted's own baselines passed as an
  array, ``num_baselines=25``;
- ``mutagenesis``: the target for every substitution (the observed letter's entry is the
  sequence's own value); compared with ``ism`` after mean-centring both per position.

Sequences per second (median of ``--repeats`` samples, round-robin, each at least
``--min-seconds`` of back-to-back calls) and map agreement (share of sequences within 1e-3 of
the map's largest value). CNN-deep as in ``benchmarks/peers.py`` (L = 200, random weights with
non-trivial batch-norm statistics).

    python benchmarks/crested_peer.py [--sequences 1000] [--eig-sequences 20] [--ism-sequences 20]
                                 [--crested-batch 128] [--repeats 3] [--min-seconds 1]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras_simplex_cli  # noqa: E402

keras_simplex_cli.prepare_process()
import numpy as np  # noqa: E402

import keras_simplex as ks  # noqa: E402
from timing import round_robin  # noqa: E402

STEPS, BASELINES, LENGTH = 25, 25, 200


def centred(maps: np.ndarray) -> np.ndarray:
    return maps - maps.mean(axis=-1, keepdims=True)


def crested_methods(model, batch: int) -> dict:
    from crested.tl import contribution_scores

    def scores(method):
        return lambda x: contribution_scores(x, target_idx=0, model=model, method=method, batch_size=batch,
                                             simplex_correction=method != "mutagenesis", verbose=False)[0][:, 0]

    return {"saliency": scores("saliency_map"), "integrated_gradients": scores("integrated_grad"),
            "expected_gradients": scores("expected_integrated_grad"),
            "ism": lambda x: centred(scores("mutagenesis")(x))}


def our_methods(explainer, baselines: np.ndarray) -> dict:
    return {
        "saliency": lambda x: explainer.saliency(x, outputs=("corrected",)).corrected,
        "integrated_gradients": lambda x: explainer.integrated_gradients(
            x, baseline="zeros", steps=STEPS + 1, rule="trapezoid", multiply_by_inputs=False,
            outputs=("corrected",)).corrected,
        "expected_gradients": lambda x: explainer.expected_gradients(
            x, baseline=baselines[: len(x)], num_baselines=BASELINES, steps=STEPS + 1, rule="trapezoid",
            multiply_by_inputs=False,
            outputs=("corrected",)).corrected,
        "ism": lambda x: explainer.ism(x, mean_centered=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=1000, help="for saliency and integrated gradients")
    parser.add_argument("--eig-sequences", type=int, default=20, help="for expected integrated gradients")
    parser.add_argument("--ism-sequences", type=int, default=20)
    parser.add_argument("--crested-batch", type=int, default=128, help="CREsted's batch_size (its default: 128)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    args = parser.parse_args()
    import crested
    from crested.tl._explainer import make_baselines

    model = ks.models.cnn_deep(output_activation=None)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial batch-norm statistics, as in benchmarks/peers.py
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.sequences, LENGTH))]
    counts = {"expected_gradients": args.eig_sequences, "ism": args.ism_sequences}
    baselines = make_baselines(x[: args.eig_sequences], "random", BASELINES, seed=42).astype(np.float32)
    ours, theirs = our_methods(ks.Explainer(model), baselines), crested_methods(model, args.crested_batch)
    print(f"CREsted {crested.__version__} (batch_size {args.crested_batch}) vs keras_simplex {ks.__version__}; "
          f"CNN-deep, logit output, {os.cpu_count()} cores; sequences per second")
    print(f"{'method':22s} {'keras_simplex':>14s} {'CREsted':>9s} {'ratio':>7s} {'agree':>6s}")
    for method in ours:
        inputs = x[: counts.get(method, len(x))]
        agree_maps = [ours[method](inputs), theirs[method](inputs)]
        scale = np.abs(agree_maps[1]).max(axis=(1, 2)) + 1e-12
        agree = np.mean(np.abs(agree_maps[0] - agree_maps[1]).max(axis=(1, 2)) <= 1e-3 * scale)
        speed, _ = round_robin({"ours": lambda: ours[method](inputs), "theirs": lambda: theirs[method](inputs)},
                               len(inputs), args.repeats, args.min_seconds)
        ours_rate, theirs_rate = speed["ours"], speed["theirs"]
        print(f"{method:22s} {ours_rate:14.1f} {theirs_rate:9.1f} {ours_rate / theirs_rate:6.2f}x {100 * agree:5.0f}%",
              flush=True)


if __name__ == "__main__":
    main()
