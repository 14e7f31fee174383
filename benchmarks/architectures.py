"""keras_simplex on larger architectures than CNN-deep: Basset and a BPNet-style model.

- Basset (``ks.models.basset``: L = 600, 164 outputs, 4.5M parameters), logit of output 0;
- a BPNet-style dilated residual network (L = 2,114; a 21-wide convolution, 9 residual
  convolutions of width 3 dilated 2, 4, ..., 512, 64 channels; a 75-wide profile head giving
  per-position logits), explained through BPNet's profile target
  ``sum_l softmax(logits)_l * logits_l`` with the softmax held constant.

Saliency and integrated gradients (20 steps, midpoint rule, uniform baseline), corrected, in
sequences per second (median of ``--repeats`` samples taken round-robin, each at least
``--min-seconds`` of back-to-back calls): keras_simplex with default settings (and
``max_points`` lowered for the large model, as its memory needs) against a plain batched
``tf.function`` that builds the points, differentiates, corrects and reduces in the graph,
given the same number of points per call; and captum on PyTorch twins of both models (weights
copied, outputs asserted equal; ``benchmarks/twins.py``). Random weights with non-trivial batch-norm
statistics (Basset). Also the fraction of the limit: forward FLOPs (convolutions and dense
layers) with the backward pass counted as one forward (an input gradient), against the median
of sustained float32 matmul rates read before each model and at the end.

    python benchmarks/architectures.py [--sequences 64] [--ig-sequences 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras_simplex_cli  # noqa: E402

keras_simplex_cli.prepare_process()
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_simplex as ks  # noqa: E402
import torch  # noqa: E402
from peers import captum_methods  # noqa: E402
from timing import matmul_rate, round_robin, summarize_rates  # noqa: E402
from twins import TorchResidualTwin, TorchTwin  # noqa: E402

STEPS = 20


def bpnet_like(length: int = 2114, channels: int = 64, layers: int = 9) -> keras.Model:
    """A BPNet-style profile model: ``(N, L, 4) -> (N, L)`` per-position logits."""
    inputs = keras.Input((length, 4))
    x = keras.layers.Conv1D(channels, 21, padding="same", activation="relu")(inputs)
    for i in range(1, layers + 1):
        x = keras.layers.Add()([x, keras.layers.Conv1D(channels, 3, dilation_rate=2**i, padding="same",
                                                       activation="relu")(x)])
    profile = keras.layers.Conv1D(1, 75, padding="same")(x)
    return keras.Model(inputs, keras.layers.Flatten()(profile), name="bpnet_like")


def trained_like_batch_norm(model: keras.Model, rng: np.random.Generator) -> keras.Model:
    """``model`` with batch-norm statistics as after training (not the identity)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    return model


def profile_target(logits: tf.Tensor) -> tf.Tensor:
    """BPNet's profile attribution target: ``(N, L)`` logits -> ``(N,)``."""
    return tf.reduce_sum(tf.stop_gradient(tf.nn.softmax(logits, axis=-1)) * logits, axis=-1)


def torch_profile_target(logits: torch.Tensor) -> torch.Tensor:
    """``profile_target`` in PyTorch."""
    return (torch.softmax(logits, dim=-1).detach() * logits).sum(-1)


def forward_flops(model: keras.Model) -> float:
    """Multiply-adds x 2 of the convolutions and dense layers for one sequence."""
    flops = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D):
            width, channels_in, channels_out = layer.kernel.shape
            flops += 2 * layer.output.shape[1] * width * channels_in * channels_out
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return flops


def plain_methods(model: keras.Model, target, points: int, length: int) -> dict:
    """The in-graph plain contender: ``points`` model evaluations per call."""
    spec, alphas = tf.TensorSpec([None, length, 4]), tf.constant((np.arange(STEPS) + 0.5) / STEPS, tf.float32)

    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(target(model(x, training=False)))
        grads = tape.gradient(total, x)
        return grads - tf.reduce_mean(grads, axis=-1, keepdims=True)

    @tf.function(input_signature=[spec])
    def saliency(x):
        return gradients(x)

    @tf.function(input_signature=[spec])
    def integrated(x):  # uniform baseline: (x - b) * mean corrected gradient along the path
        baseline = tf.fill(tf.shape(x), 0.25)
        points_ = baseline[:, None] + alphas[:, None, None] * (x - baseline)[:, None]  # (C, S, L, A)
        grads = tf.reshape(gradients(tf.reshape(points_, [-1, length, 4])), tf.shape(points_))
        return (x - baseline) * tf.reduce_mean(grads, axis=1)

    def chunked(function, per_call):
        return lambda x: np.concatenate([function(x[i : i + per_call]).numpy() for i in range(0, len(x), per_call)])

    return {"saliency": chunked(saliency, points), "integrated_gradients": chunked(integrated, max(1, points // STEPS))}


def our_methods(explainer) -> dict:
    return {"saliency": lambda x: explainer.saliency(x, outputs=("corrected",)).corrected,
            "integrated_gradients": lambda x: explainer.integrated_gradients(
                x, steps=STEPS, rule="riemann_midpoint", outputs=("corrected",)).corrected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=64, help="for saliency")
    parser.add_argument("--ig-sequences", type=int, default=8, help="for integrated gradients")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    basset = trained_like_batch_norm(ks.models.basset(output_activation=None), rng)
    bpnet = bpnet_like()
    basset_twin = TorchTwin(basset, output=0)
    twins = {basset: (basset_twin, basset_twin, lambda probe: basset.predict(probe, verbose=0)[:, 0]),
             bpnet: (TorchResidualTwin(bpnet, torch_profile_target), TorchResidualTwin(bpnet),
                     lambda probe: bpnet.predict(probe, verbose=0))}
    cases = {  # name: (model, target for the explainer, target for the plain function, points per call)
        "Basset (L=600)": (basset, 0, lambda outputs: outputs[:, 0], 1024),
        "BPNet-style (L=2114)": (bpnet, profile_target, profile_target, 64),
    }
    rates, rows = [], []
    for name, (model, target, plain_target, points) in cases.items():
        rates.append(matmul_rate())
        length = model.input_shape[1]
        x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.sequences, length))]
        flops = forward_flops(model)
        twin, outputs_twin, keras_outputs = twins[model]  # captum on ``twin``; ``outputs_twin``'s outputs checked
        np.testing.assert_allclose(outputs_twin(torch.tensor(x[:4])).detach().numpy(), keras_outputs(x[:4]),
                                   rtol=1e-3, atol=1e-3)
        implementations = {"keras_simplex": our_methods(ks.Explainer(model, target, max_points=points)),
                           "plain tf.function": plain_methods(model, plain_target, points, length),
                           "captum": {method: (lambda x, f=function: f(x, None))
                                      for method, function in captum_methods(twin, 1000).items()}}
        for method, count in (("saliency", args.sequences), ("integrated_gradients", args.ig_sequences)):
            inputs = x[:count]
            speed, maps_of = round_robin({name: (lambda f=methods[method]: f(inputs))
                                          for name, methods in implementations.items()}, count, args.repeats,
                                         args.min_seconds)
            reference = maps_of["plain tf.function"]
            for implementation, rate in speed.items():
                maps = maps_of[implementation]
                scale = np.abs(reference).max(axis=(1, 2)) + 1e-12
                agree = np.mean(np.abs(maps - reference).max(axis=(1, 2)) <= 1e-3 * scale)
                evaluations = 1 if method == "saliency" else STEPS
                rows.append((name, method, implementation, rate, rate / speed["keras_simplex"],
                             rate * evaluations * 2 * flops, agree))
        print(f"{name}: {flops / 1e6:.0f} MFLOP per forward, {points} points per call", flush=True)
    rates.append(matmul_rate())
    peak, line = summarize_rates(rates)
    print(line)
    print(f"{'model':22s} {'method':22s} {'implementation':18s} {'seq/s':>9s} {'vs ours':>8s} {'limit':>7s} "
          f"{'agree':>6s}")
    for name, method, implementation, rate, ratio, work, agree in rows:
        print(f"{name:22s} {method:22s} {implementation:18s} {rate:9.2f} {ratio:7.2f}x {100 * work / peak:6.1f}% "
              f"{100 * agree:5.0f}%")


if __name__ == "__main__":
    main()
