"""keras_simplex against the attribution tools people use, on the same model and methods.

The paper's CNN-deep (L=200, A=4, logit target) in Keras and an identical PyTorch module with
the weights copied across (outputs asserted equal). Sequences per second for saliency,
integrated gradients (20 steps, midpoint rule), SmoothGrad (25 samples, sigma 0.1) and
expected gradients (10 shuffled baselines x 20 steps), all corrected, plus the reference
methods DeepSHAP (20 dinucleotide-shuffled references per sequence, hypothetical
contributions) and ISM (all L x A substitutions, mean-centred), for:

- keras_simplex with default settings;
- a plain batched ``tf.function`` written for this one model (1,000 points per call);
- captum (PyTorch CPU), batching tuned (``internal_batch_size``, ``nt_samples_batch_size``;
  DeepLIFT on the sequence-reference pairs in batches of ``--captum-batch``);
- tangermeme (PyTorch CPU): ``deep_lift_shap`` and ``saturation_mutagenesis``, whose fastISM
  path (recomputing only the positions an edit changes) it takes only for jobs it expects to
  last over 30 s; the row "tangermeme fastISM" forces that path;
- the PAIR ``saliency`` library (TF, one sequence per call, its batching options);
- a naive loop: one eager ``GradientTape`` per sequence.

Also the hardware limit: model FLOPs per attribution under two conventions (an input
gradient's backward pass counted as one forward, since it needs no weight-gradient products;
and as two, the full backward), DeepSHAP as one forward of the sequence plus a forward and a
backward per reference, an ISM mutant as one forward; against the CPU's sustained float32
matmul rate, measured before every method and at the end (min / median / max reported; the
fractions use the median). Maps are compared per sequence with captum's (gradient methods) or tangermeme's (DeepSHAP, ISM). Needs
the ``bench`` extra (torch 2.13.0, captum, tangermeme, saliency). Run on demand:

    python benchmarks/peers.py [--sequences 1000] [--slow-sequences 50] [--repeats 3] [--min-seconds 1]
                               [--methods saliency ... deep_lift_shap ism]
"""

from __future__ import annotations

import argparse
import os
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# First, as the command line does: TensorFlow's CPU kernels chosen before it is imported
# (keras_simplex_cli.prepare_process); they then serve every TensorFlow implementation below alike.
import keras_simplex_cli  # noqa: E402, I001

keras_simplex_cli.prepare_process()
import keras_simplex as ks  # noqa: E402, I001
from timing import matmul_rate, round_robin, summarize_rates  # noqa: E402
from twins import ChannelsFirst, Exp, TorchTwin  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

STEPS, SAMPLES, SIGMA, BASELINES, REFERENCES, LENGTH = 20, 25, 0.1, 10, 20, 200
# Gradient evaluations per sequence (ISM: model evaluations, forward only).
EVALUATIONS = {"saliency": 1, "integrated_gradients": STEPS, "smoothgrad": SAMPLES,
               "expected_gradients": BASELINES * STEPS, "deep_lift_shap": REFERENCES, "ism": 3 * LENGTH + 1}


def forwards(method: str, backward: int) -> int:
    """Forward passes of work per sequence when a backward pass costs ``backward`` forwards: 1
    for an input gradient (no weight-gradient products), 2 with the weight gradients too.
    DeepSHAP adds the sequence's own forward; ISM has no backward pass."""
    if method == "ism":
        return EVALUATIONS[method]
    return EVALUATIONS[method] * (1 + backward) + (method == "deep_lift_shap")


REFERENCE_LIBRARY = {"deep_lift_shap": "tangermeme", "ism": "tangermeme"}  # the others: captum
# The PyTorch model for captum and tangermeme: benchmarks/twins.py (the Keras weights copied).


# --- implementations ---------------------------------------------------------------------------


def correct(maps):
    return maps - maps.mean(axis=-1, keepdims=True)


def ours(engine):
    return {
        "saliency": lambda x, b: ks.saliency(engine, x),
        "integrated_gradients": lambda x, b: ks.integrated_gradients(engine, x, steps=STEPS, rule="riemann_midpoint"),
        "smoothgrad": lambda x, b: ks.smoothgrad(engine, x, samples=SAMPLES, sigma=SIGMA),
        "expected_gradients": lambda x, b: ks.expected_gradients(engine, x, baseline=b, steps=STEPS, rule="riemann_midpoint"),
        "deep_lift_shap": lambda x, r: engine.deep_lift_shap(x, references=r, hypothetical=True).corrected,
        "ism": lambda x, r: engine.ism(x, mean_centered=True),
    }


def plain_tf(logit_model):
    """The strongest plain baseline a TensorFlow user would write for this one model: per
    method one ``tf.function`` that builds its points in the graph (integration points,
    noise, mutants), differentiates, corrects and reduces; the host only cuts the sequences
    into chunks of about 1,000 model evaluations."""
    spec, alphas = tf.TensorSpec([None, LENGTH, 4]), tf.constant((np.arange(STEPS) + 0.5) / STEPS, tf.float32)

    def gradients(points):  # (P, L, A) -> (P, L, A)
        with tf.GradientTape() as tape:
            tape.watch(points)
            total = tf.reduce_sum(logit_model(points, training=False))
        return tape.gradient(total, points)

    def centred(maps):
        return maps - tf.reduce_mean(maps, axis=-1, keepdims=True)

    @tf.function(input_signature=[spec])
    def saliency(x):
        return centred(gradients(x))

    @tf.function(input_signature=[spec, tf.TensorSpec([None, None, LENGTH, 4])])
    def integrated(x, baselines):  # (C, L, A), (C, B, L, A): mean over b of (x - b) * corrected path gradient
        difference = x[:, None] - baselines
        points = baselines[:, :, None] + alphas[:, None, None] * difference[:, :, None]  # (C, B, S, L, A)
        path = tf.reduce_mean(tf.reshape(gradients(tf.reshape(points, [-1, LENGTH, 4])), tf.shape(points)), axis=2)
        return tf.reduce_mean(difference * centred(path), axis=1)

    @tf.function(input_signature=[spec, tf.TensorSpec([], tf.int32)])
    def smoothgrad(x, seed):
        noise = SIGMA * tf.random.stateless_normal([tf.shape(x)[0], SAMPLES, LENGTH, 4], seed=[seed, 0])
        grads = gradients(tf.reshape(x[:, None] + noise, [-1, LENGTH, 4]))
        return centred(tf.reduce_mean(tf.reshape(grads, [-1, SAMPLES, LENGTH, 4]), axis=1))

    @tf.function(input_signature=[spec])
    def ism(x):  # every L x (A - 1) substitution, mean-centred f(mutant) - f(x)
        def forward(points):
            return logit_model(points, training=False)[:, 0]

        substitutions = tf.reshape(tf.eye(LENGTH * 4), [LENGTH * 4, LENGTH, 4])  # (L*A, L, A): one letter set
        positions = tf.reduce_sum(substitutions, axis=-1, keepdims=True)  # (L*A, L, 1): its position
        mutants = x[:, None] * (1 - positions) + substitutions  # (C, L*A, L, A)
        wanted = tf.reshape(x, [-1, LENGTH * 4]) == 0  # skip the observed letters
        values = forward(tf.boolean_mask(mutants, wanted))
        deltas = tf.scatter_nd(tf.where(wanted), values, tf.shape(wanted, out_type=tf.int64))
        deltas -= tf.cast(wanted, tf.float32) * forward(x)[:, None]
        return centred(tf.reshape(deltas, [-1, LENGTH, 4]))

    def chunked(function, per_call):
        return lambda x, *more: np.concatenate([function(x[i : i + per_call], *(m[i : i + per_call] for m in more))
                                                .numpy() for i in range(0, len(x), per_call)])

    uniform = np.full((1, 1, LENGTH, 4), 0.25, np.float32)
    per_smoothgrad = chunked(lambda x: smoothgrad(x, tf.constant(len(x), tf.int32)), 1000 // SAMPLES)
    return {
        "saliency": lambda x, b: chunked(saliency, 1000)(x),
        "integrated_gradients": lambda x, b: chunked(integrated, 1000 // STEPS)(
            x, np.broadcast_to(uniform, (len(x), 1, LENGTH, 4))),
        "smoothgrad": lambda x, b: per_smoothgrad(x),
        "expected_gradients": lambda x, b: chunked(integrated, 1000 // (STEPS * b.shape[1]))(x, b),
        "ism": lambda x, _: chunked(ism, 2)(x),
    }


def captum_methods(torch_model, batch: int):
    """captum's methods on ``torch_model`` (maps of ``x (N, L, A)``, any L)."""
    from captum.attr import DeepLift, IntegratedGradients, NoiseTunnel, Saliency

    torch.set_grad_enabled(True)
    saliency, ig = Saliency(torch_model), IntegratedGradients(torch_model, multiply_by_inputs=False)
    tunnel = NoiseTunnel(saliency)

    def run(fn, x):
        return correct(fn(torch.tensor(x, requires_grad=True)).detach().numpy())

    def ig_map(x, baselines):  # (x - b) * corrected path gradient, averaged over baselines
        n, count = len(x), baselines.shape[1]
        inputs = np.repeat(x, count, axis=0)
        flat = baselines.reshape(-1, *x.shape[1:])
        path = run(lambda t: ig.attribute(t, baselines=torch.tensor(flat), n_steps=STEPS, method="riemann_middle",
                                          internal_batch_size=batch), inputs)
        return ((inputs - flat) * path).reshape(n, count, *x.shape[1:]).mean(1)

    def hypothetical(multipliers, inputs, baselines):  # captum's custom_attribution_func
        (m,), (r,) = multipliers, baselines
        m = m - m.mean(-1, keepdim=True)
        return (m - (r * m).sum(-1, keepdim=True),)

    deep_lift = DeepLift(torch_model)

    def deep_lift_shap(x, references):  # DeepLIFT on every (sequence, reference) pair, averaged
        count = references.shape[1]
        inputs, flat = np.repeat(x, count, axis=0), references.reshape(-1, *x.shape[1:])
        maps = np.concatenate([deep_lift.attribute(
            torch.tensor(inputs[i : i + batch]), baselines=torch.tensor(flat[i : i + batch]),
            custom_attribution_func=hypothetical).detach().numpy() for i in range(0, len(inputs), batch)])
        return maps.reshape(len(x), count, *x.shape[1:]).mean(1)

    return {
        "deep_lift_shap": deep_lift_shap,
        "saliency": lambda x, b: run(lambda t: saliency.attribute(t, abs=False), x),
        "integrated_gradients": lambda x, b: ig_map(x, np.full((len(x), 1, *x.shape[1:]), 0.25, np.float32)),
        "smoothgrad": lambda x, b: run(lambda t: tunnel.attribute(
            t, nt_type="smoothgrad", nt_samples=SAMPLES, stdevs=SIGMA, nt_samples_batch_size=max(1, batch // len(x))), x),
        "expected_gradients": lambda x, b: ig_map(x, b),
    }


def tangermeme_methods(torch_model, batch: int, force_fast_ism: bool):
    import tangermeme.saturation_mutagenesis as tangermeme_ism
    from tangermeme.deep_lift_shap import deep_lift_shap
    from tangermeme._deep_lift_utils import _nonlinear

    model = ChannelsFirst(torch_model)

    def shap(x, references):
        maps = deep_lift_shap(model, torch.tensor(x.transpose(0, 2, 1)), target=0, batch_size=batch,
                              references=torch.tensor(references.transpose(0, 1, 3, 2)), hypothetical=True,
                              device="cpu", additional_nonlinear_ops={Exp: _nonlinear}, warning_threshold=1e-2)
        return maps.numpy().transpose(0, 2, 1)  # the same with corrected multipliers (references on the simplex)

    def ism(x, _):
        threshold = tangermeme_ism._FAST_MIN_SECONDS
        tangermeme_ism._FAST_MIN_SECONDS = 0.0 if force_fast_ism else threshold
        try:
            maps = tangermeme_ism.saturation_mutagenesis(model, torch.tensor(x.transpose(0, 2, 1)), target=0,
                                                         batch_size=batch, hypothetical=True, device="cpu")
        finally:
            tangermeme_ism._FAST_MIN_SECONDS = threshold
        return maps.numpy().transpose(0, 2, 1)

    return {"ism": ism} if force_fast_ism else {"deep_lift_shap": shap, "ism": ism}


def pair_methods(logit_model):
    import saliency.core as pair

    def call_model(x_value_batch, call_model_args=None, expected_keys=None):
        points = tf.convert_to_tensor(np.asarray(x_value_batch, np.float32))
        with tf.GradientTape() as tape:
            tape.watch(points)
            total = tf.reduce_sum(logit_model(points, training=False))
        return {pair.base.INPUT_OUTPUT_GRADIENTS: tape.gradient(total, points).numpy()}

    gradient, ig = pair.GradientSaliency(), pair.IntegratedGradients()

    def per_sequence(fn, corrected=True):
        return lambda x, b: (correct if corrected else np.asarray)(np.stack([fn(s, b[i]) for i, s in enumerate(x)]))

    def ig_one(s, baselines):  # PAIR returns (x - b) * mean gradient: it cannot be corrected first
        return np.mean([ig.GetMask(s, call_model, x_steps=STEPS, x_baseline=baseline, batch_size=STEPS) for baseline in baselines], 0)

    uniform = np.full((1, 200, 4), 0.25, np.float32)
    return {
        "saliency": per_sequence(lambda s, _: gradient.GetMask(s, call_model)),
        "integrated_gradients": per_sequence(lambda s, _: ig_one(s, uniform), corrected=False),
        "smoothgrad": per_sequence(lambda s, _: gradient.GetSmoothedMask(s, call_model, stdev_spread=SIGMA, nsamples=SAMPLES,
                                                                          magnitude=False)),
        "expected_gradients": per_sequence(ig_one, corrected=False),
    }


def naive_methods(logit_model):
    """One eager tape per sequence (all of its points in that tape's batch)."""
    rng = np.random.default_rng(0)
    alphas = ((np.arange(STEPS) + 0.5) / STEPS)[:, None, None]

    def mean_gradient(points):
        points = tf.constant(points, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(points)
            total = tf.reduce_sum(logit_model(points, training=False))
        return tape.gradient(total, points).numpy()

    def ig_one(s, baselines):
        return np.mean([(s - b) * correct(mean_gradient(b + alphas * (s - b)).mean(0)) for b in baselines], 0)

    uniform = np.full((1, 200, 4), 0.25, np.float32)
    return {
        "saliency": lambda x, b: np.stack([correct(mean_gradient(s[None])[0]) for s in x]),
        "integrated_gradients": lambda x, b: np.stack([ig_one(s, uniform) for s in x]),
        "smoothgrad": lambda x, b: np.stack([correct(mean_gradient(s + SIGMA * rng.standard_normal((SAMPLES, 200, 4))).mean(0)) for s in x]),
        "expected_gradients": lambda x, b: np.stack([ig_one(s, b[i]) for i, s in enumerate(x)]),
    }


# --- measurement ---------------------------------------------------------------------------------


def measure(implementations: dict, method: str, baselines: np.ndarray, repeats: int, min_seconds: float) -> dict:
    """Sequences per second of every implementation of ``method`` (``timing.round_robin``) and
    its maps."""
    functions = {name: (lambda m=methods[method], x=x: m(x, baselines[: len(x)]))
                 for name, (methods, x) in implementations.items()}
    counts = {name: len(x) for name, (_, x) in implementations.items()}
    rates, maps = round_robin(functions, counts, repeats, min_seconds)
    return {name: (rates[name], maps[name]) for name in implementations}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def forward_flops(model) -> float:
    """Multiply-adds x 2 of the convolutions and dense layers for one sequence."""
    flops = 0.0
    for layer in model.layers:
        name = layer.__class__.__name__
        if name == "Conv1D":
            kernel = layer.kernel.shape
            flops += 2 * layer.output.shape[1] * kernel[0] * kernel[1] * kernel[2]
        elif name == "Dense":
            flops += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return flops


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--slow-sequences", type=int, default=50, help="for the PAIR library and the naive loop")
    parser.add_argument("--eg-sequences", type=int, default=100, help="for expected gradients (200 evaluations each)")
    parser.add_argument("--shap-sequences", type=int, default=100, help="for DeepSHAP (20 reference pairs each)")
    parser.add_argument("--ism-sequences", type=int, default=20, help="for ISM (601 model evaluations each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0, help="least duration of one timed sample")
    parser.add_argument("--captum-batch", type=int, default=1000, help="captum's internal batch size (points per call)")
    parser.add_argument("--tangermeme-batch", type=int, default=1000,
                        help="tangermeme's batch size (sequence-reference pairs; edited sequences for ISM)")
    parser.add_argument("--first-activation", default="relu", choices=["relu", "exponential"])
    parser.add_argument("--methods", nargs="+", default=list(EVALUATIONS), choices=list(EVALUATIONS))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    keras_model = ks.models.cnn_deep(first_activation=args.first_activation, output_activation=None)
    rng = np.random.default_rng(0)
    # Non-trivial batch-norm statistics, so the models are compared on a realistic function.
    for layer in keras_model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    torch_model = TorchTwin(keras_model)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.sequences, LENGTH))]
    starts = {"deep_lift_shap": ks.dinucleotide_shuffle(x[: args.shap_sequences], REFERENCES, seed=2).astype(np.float32)}
    starts["expected_gradients"] = ks.dinucleotide_shuffle(x, BASELINES, seed=1).astype(np.float32)
    keras_out = keras_model.predict(x[:200], verbose=0)[:, 0]
    torch_out = torch_model(torch.tensor(x[:200])).detach().numpy()
    np.testing.assert_allclose(torch_out, keras_out, rtol=1e-4, atol=1e-4)

    engine = ks.Explainer(keras_model)
    slow = x[: args.slow_sequences]
    implementations = {
        "keras_simplex": (ours(engine), x),
        "plain tf.function": (plain_tf(keras_model), x),
        "captum": (captum_methods(torch_model, args.captum_batch), x),
        "tangermeme": (tangermeme_methods(torch_model, args.tangermeme_batch, force_fast_ism=False), x),
        "tangermeme fastISM": (tangermeme_methods(torch_model, args.tangermeme_batch, force_fast_ism=True), x),
        "PAIR saliency": (pair_methods(keras_model), slow),
        "naive loop": (naive_methods(keras_model), slow),
    }
    counts = {"expected_gradients": args.eg_sequences, "deep_lift_shap": args.shap_sequences, "ism": args.ism_sequences}
    flops = forward_flops(keras_model)
    print(f"{cpu_name()}, {platform.machine()}, {os.cpu_count()} cores; TensorFlow {tf.__version__} (oneDNN kernels "
          f"{'on' if ks._fast.cpu_defaults.onednn_enabled() else 'off'}), torch {torch.__version__}; "
          f"CNN-deep forward {flops / 1e6:.1f} MFLOP per sequence")
    print("agree: share of sequences whose map is within 1e-3 x max |map| of the reference library's (captum's for "
          "gradient methods, tangermeme's for DeepSHAP and ISM; max-pool near-ties flip a few; SmoothGrad noise "
          "differs; PAIR's IG returns (x - b) x raw gradient, which cannot be corrected)")
    print("limit: FLOPs per second over the median matmul rate, backward counted as 1x forward (an input gradient) "
          "and as 2x (with weight gradients); ISM as a full forward per mutant (keras_simplex computes mutants on "
          "windows, fewer FLOPs, so it can pass 100%)")
    rates, rows = [], []
    for method in args.methods:
        rates.append(matmul_rate())
        count = counts.get(method, len(x))
        chosen = {name: (methods, inputs[:count]) for name, (methods, inputs) in implementations.items()
                  if method in methods}
        results = measure(chosen, method, starts.get(method, x[:, None]), args.repeats, args.min_seconds)
        ours_rate, reference = results["keras_simplex"][0], results[REFERENCE_LIBRARY.get(method, "captum")][1]
        for name, (rate, maps) in results.items():
            count = min(20, len(maps))
            scale = np.abs(reference[:count]).max(axis=(1, 2)) + 1e-12
            agree = np.mean(np.abs(maps[:count] - reference[:count]).max(axis=(1, 2)) <= 1e-3 * scale)
            agreement = "-" if method == "smoothgrad" else f"{100 * agree:.0f}%"  # random noise differs
            rows.append((method, name, rate, rate / ours_rate, agreement))
    rates.append(matmul_rate())
    peak, line = summarize_rates(rates)
    print(line)
    print(f"{'method':22s} {'implementation':18s} {'seq/s':>9s} {'vs ours':>8s} {'1x bwd':>7s} {'2x bwd':>7s} "
          f"{'agree':>6s}")
    for method, name, rate, ratio, agreement in rows:
        limits = [rate * forwards(method, backward) * flops / peak for backward in (1, 2)]
        print(f"{method:22s} {name:18s} {rate:9.1f} {ratio:7.2f}x {100 * limits[0]:6.1f}% {100 * limits[1]:6.1f}% "
              f"{agreement:>6s}")


if __name__ == "__main__":
    main()
