"""The contract battery: every registered method on every model of the zoo.

Each method's maps and angles equal an independent computation (one ``tf.GradientTape`` per
sequence on the original model, the points and the reduction written out in numpy from the
method's record), and are invariant to batching, chunking, blocks of baselines, XLA, and
leave the input and the model's weights untouched. A method added to the registry gets the
battery by being registered (``BATTERY_OPTIONS`` only keeps it small). The reference methods
join it too: ISM equals every mutant built in numpy and scored by the model, and DeepSHAP sums
to ``f(x) - mean_k f(r_k)`` with the model called directly (or is a clear error naming what it
cannot explain), both under the same invariances.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from conftest import box_muller_noise, random_one_hot
from zoo import ZOO

BATTERY_OPTIONS = {  # small settings, so that the battery stays fast
    "integrated_gradients": {"steps": 4, "baseline": "zeros"},
    "smoothgrad": {"samples": 3, "sigma": 0.3, "seed": 1},
    "expected_gradients": {"num_baselines": 2, "steps": 3, "seed": 2},
}
ENTRIES = {entry.name: entry for entry in ZOO}
_models: dict = {}


def zoo_model(name: str) -> keras.Model:
    if name not in _models:
        _models[name] = ENTRIES[name].build()
    return _models[name]


def battery_method(name: str) -> ks.GradientMethod:
    return ks.methods.method(name, **BATTERY_OPTIONS.get(name, {}))


def zoo_inputs(entry, n: int = 5) -> np.ndarray:
    dtype = np.float64 if "float64" in entry.name else np.float32
    return random_one_hot(n, entry.length, seed=11, dtype=dtype)


def reference_maps(entry, model, x: np.ndarray, method: ks.GradientMethod) -> dict[str, np.ndarray]:
    """The method's maps, written out: points, one tape per sequence, numpy reductions."""
    starts = np.broadcast_to(method.starts(x), (len(x),) + method.starts(x).shape[1:]).astype(np.float64)
    alphas, weights = np.asarray(method.alphas), np.asarray(method.step_weights)
    xs = x.astype(np.float64)
    noise = np.zeros((len(x), len(alphas)) + x.shape[1:])
    if method.sigma > 0:  # the documented per-sequence draws (keras_simplex.methods)
        keys = ks.seeding.sequence_keys(x, method.seed).view(np.int64)
        noise = np.stack([method.sigma * box_muller_noise(int(k), (len(alphas),) + x.shape[1:], x.dtype) for k in keys])
    path = np.zeros(starts.shape)  # (N, B, L, A): weighted gradient sum per start point
    for i in range(len(x)):
        points = (starts[i][:, None] + alphas[None, :, None, None] * (xs[i] - starts[i])[:, None]
                  + noise[i][None]).reshape((-1,) + x.shape[1:])
        points = tf.constant(points, tf.as_dtype(x.dtype))
        with tf.GradientTape() as tape:
            tape.watch(points)
            score = tf.cast(entry.score(model, points), tf.float64)
        gradients = tape.gradient(score, points).numpy().astype(np.float64).reshape(starts.shape[1:2] + (len(alphas),) + x.shape[1:])
        path[i] = np.einsum("bkla,k->bla", gradients, weights)
    projected = path - path.mean(-1, keepdims=True)
    gradient = path.mean(1)
    if method.hypothetical:  # per letter: m_b - <start_b, m_b>, averaged over the starts b
        raw, corrected = ((m - (starts * m).sum(-1, keepdims=True)).mean(1) for m in (path, projected))
    elif method.multiply_by_inputs:
        offsets = xs[:, None] - starts
        raw, corrected = (offsets * path).mean(1), (offsets * projected).mean(1)
    else:
        raw, corrected = gradient, projected.mean(1)
    norm = np.linalg.norm(gradient, axis=-1)
    sine = gradient.sum(-1) / (np.sqrt(x.shape[-1]) * np.where(norm > 0, norm, 1))
    return {"raw": raw, "corrected": corrected, "angles": np.degrees(np.arcsin(np.clip(sine, -1, 1))), "norm": norm}


def assert_maps_close(actual, expected, rtol, message=""):
    scale = np.abs(expected).max() + 1e-30
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=message)


NO_FALLBACK = "error:keras_simplex. the speed rewrite:UserWarning"  # every zoo model takes the fast path or skips it


@pytest.mark.filterwarnings(NO_FALLBACK)
@pytest.mark.parametrize("method_name", list(ks.methods.METHODS))
@pytest.mark.parametrize("entry_name", list(ENTRIES))
def test_method_equals_the_tape_reference(entry_name, method_name):
    entry, model = ENTRIES[entry_name], zoo_model(entry_name)
    x = zoo_inputs(entry)
    method = battery_method(method_name)
    explainer = ks.Explainer(model, **entry.settings)
    result = explainer.explain(x, method)
    expected = reference_maps(entry, entry.reference(model), x, method)
    for field in ("raw", "corrected"):
        assert_maps_close(getattr(result, field), expected[field], entry.rtol, field)
    if explainer.engine.kernel().projection is not None:  # corrected maps alone: projected by the first convolution
        corrected = explainer.explain(x, method, outputs=("corrected",)).corrected
        assert_maps_close(corrected, expected["corrected"], entry.rtol, "corrected alone")
    clear = expected["norm"] > 1e-3 * expected["norm"].max()  # angles of ~zero gradients are noise
    np.testing.assert_allclose(result.angles[clear], expected["angles"][clear], atol=max(0.05, 100 * entry.rtol))


@pytest.mark.filterwarnings(NO_FALLBACK)
@pytest.mark.parametrize("entry_name", list(ENTRIES))
def test_hypothetical_contributions_equal_the_tape_reference(entry_name):
    """Hypothetical contributions of expected gradients (shuffles) and IG (zeros) on every
    zoo model; their product with x is the contribution map."""
    entry, model = ENTRIES[entry_name], zoo_model(entry_name)
    x = zoo_inputs(entry, 3)
    explainer = ks.Explainer(model, **entry.settings)
    for name in ("expected_gradients", "integrated_gradients"):
        method = ks.methods.method(name, **BATTERY_OPTIONS[name], hypothetical=True)
        result = explainer.explain(x, method)
        expected = reference_maps(entry, entry.reference(model), x, method)
        for field in ("raw", "corrected"):
            assert_maps_close(getattr(result, field), expected[field], entry.rtol, f"{name} {field}")
        contributions = explainer.explain(x, battery_method(name))
        assert_maps_close((x * result.corrected).sum(-1), contributions.corrected.sum(-1), entry.rtol, name)


@pytest.mark.filterwarnings(NO_FALLBACK)
@pytest.mark.parametrize("entry_name", list(ENTRIES))
def test_invariances(entry_name, monkeypatch):
    """Batch size, chunking, blocks of baselines, XLA: the same maps; input and weights intact."""
    entry, model = ENTRIES[entry_name], zoo_model(entry_name)
    x = zoo_inputs(entry, 9)
    x_before, weights_before = x.copy(), [w.copy() for w in model.get_weights()]
    method = battery_method("expected_gradients")  # baselines, steps and the most state
    reference = ks.Explainer(model, **entry.settings).explain(x, method)
    variants = {"chunked": dict(max_points=3)}
    if entry.jit:
        variants["xla"] = dict(jit_compile=True)
    for label, options in variants.items():
        result = ks.Explainer(model, **entry.settings, **options).explain(x, method)
        for field in ("raw", "corrected"):
            assert_maps_close(getattr(result, field), getattr(reference, field), entry.rtol, f"{label} {field}")
    explainer = ks.Explainer(model, **entry.settings)
    one_by_one = np.concatenate([explainer.explain(x[i : i + 1], method).corrected for i in range(3)])
    assert_maps_close(one_by_one, reference.corrected[:3], entry.rtol, "one by one")
    monkeypatch.setattr("keras_simplex.engine.BASELINE_BLOCK", 4)  # 9 sequences: three blocks
    assert_maps_close(explainer.explain(x, method).corrected, reference.corrected, entry.rtol, "blocks")
    assert_untouched(model, x, x_before, weights_before)


def assert_untouched(model, x, x_before, weights_before):
    np.testing.assert_array_equal(x, x_before)
    for after, before in zip(model.get_weights(), weights_before):
        np.testing.assert_array_equal(after, before)


def mutant_loop(entry, model, x: np.ndarray) -> np.ndarray:
    """ISM written out: every single-letter mutant of each sequence built in numpy and scored."""
    length, size = x.shape[1:]
    result = np.zeros(x.shape, np.float64)
    for n in range(len(x)):
        mutants = np.repeat(x[n][None, None], length, 0).repeat(size, 1)  # (L, A, L, A)
        mutants[np.arange(length), :, np.arange(length)] = np.eye(size, dtype=x.dtype)
        scores = np.asarray(entry.score(model, mutants.reshape((-1,) + x.shape[1:])), np.float64)
        result[n] = scores.reshape(length, size) - np.asarray(entry.score(model, x[n : n + 1]), np.float64)[0]
    return result


# the zoo models whose ISM runs on windows (keras_simplex._fast.windowed_ism): a convolution first, and
# windows that save work (not length_agnostic: its first layer reads 70 of its 80 positions)
WINDOWED = {"plain_cnn", "plain_cnn_logits", "batch_norm_placements", "causal_dilated_batch_norm", "recurrent",
            "attention", "multi_output", "multi_task", "softmax_output_logits", "float64",
            "float64_input_float32_layers", "mixed_precision"}


@pytest.mark.filterwarnings(NO_FALLBACK)
@pytest.mark.filterwarnings("error:keras_simplex. the windowed ISM:UserWarning")
@pytest.mark.parametrize("entry_name", list(ENTRIES))
def test_ism_equals_the_mutant_loop(entry_name):
    entry, model = ENTRIES[entry_name], zoo_model(entry_name)
    x = zoo_inputs(entry, 3)
    x_before, weights_before = x.copy(), [w.copy() for w in model.get_weights()]
    expected = mutant_loop(entry, entry.reference(model), x)
    variants = {"default": {}, "chunked": dict(max_points=5)}
    if entry.jit:
        variants["xla"] = dict(jit_compile=True)
    for label, options in variants.items():
        explainer = ks.Explainer(model, **entry.settings, **options)
        result = explainer.ism(x)
        assert_maps_close(result, expected, max(entry.rtol, 1e-4), label)
        assert (result[x == 1] == 0).all()
        assert (explainer.engine._mutagenesis.mutants is not None) == (entry_name in WINDOWED), label
    one_by_one = np.concatenate([ks.Explainer(model, **entry.settings).ism(x[i : i + 1]) for i in range(3)])
    assert_maps_close(one_by_one, expected, max(entry.rtol, 1e-4), "one by one")
    assert_untouched(model, x, x_before, weights_before)


DEEP_LIFT_ERRORS = {  # what DeepLIFT cannot explain, and the error that says so
    "recurrent": "no rule for .*Bidirectional",
    "attention": "no rule for .*MultiHeadAttention",
    "subclassed": "needs a Sequential or functional model",
    "multi_output": "explains output units",
}


@pytest.mark.filterwarnings(NO_FALLBACK)
@pytest.mark.parametrize("entry_name", list(ENTRIES))
def test_deep_lift_shap_sums_to_delta(entry_name):
    entry, model = ENTRIES[entry_name], zoo_model(entry_name)
    x = zoo_inputs(entry, 4)
    references = ks.dinucleotide_shuffle(x, 3, seed=2)
    if entry_name in DEEP_LIFT_ERRORS:
        with pytest.raises(ValueError, match=DEEP_LIFT_ERRORS[entry_name]):
            ks.Explainer(model, **entry.settings).deep_lift_shap(x, references=references)
        return
    x_before, weights_before = x.copy(), [w.copy() for w in model.get_weights()]
    reference = entry.reference(model)
    f_x = np.asarray(entry.score(reference, x), np.float64)
    f_r = np.asarray(entry.score(reference, references.reshape((-1,) + x.shape[1:])), np.float64).reshape(4, 3).mean(1)
    tolerance = max(1e-4, entry.rtol) * (np.abs(f_x).max() + 1)
    result = ks.Explainer(model, **entry.settings).deep_lift_shap(x, references=references)
    assert np.abs(f_x - f_r - result.raw.astype(np.float64).sum(axis=(1, 2))).max() < tolerance
    assert np.abs(result.delta).max() < tolerance
    assert_maps_close(result.corrected, result.raw, max(entry.rtol, 1e-5), "shuffles: raw = corrected")
    variants = {"chunked": dict(max_points=2)}
    if entry.jit:
        variants["xla"] = dict(jit_compile=True)
    for label, options in variants.items():
        other = ks.Explainer(model, **entry.settings, **options).deep_lift_shap(x, references=references)
        assert_maps_close(other.raw, result.raw, max(entry.rtol, 1e-5), label)
    explainer = ks.Explainer(model, **entry.settings)
    one_by_one = np.concatenate([explainer.deep_lift_shap(x[i : i + 1], references=references[i : i + 1]).raw
                                 for i in range(4)])
    assert_maps_close(one_by_one, result.raw, max(entry.rtol, 1e-5), "one by one")
    assert_untouched(model, x, x_before, weights_before)


def test_the_battery_covers_every_registered_method():
    assert set(ks.methods.METHODS) == {"saliency", "gradient_x_input", "integrated_gradients", "smoothgrad",
                                       "expected_gradients"}
    assert set(BATTERY_OPTIONS) <= set(ks.methods.METHODS)


def test_the_battery_covers_the_projecting_convolution():
    """The zoo models whose input only a rewritten Conv1D reads get corrected maps alone
    from its projected input gradient (checked in test_method_equals_the_tape_reference)."""
    def projects(name):
        entry = ENTRIES[name]
        return ks.Explainer(zoo_model(name), **entry.settings).engine.kernel(entry.length).projection is not None

    projecting = {name for name in ENTRIES if projects(name)}
    # Not: a subclassed model (no graph), float64 layers (not rewritten); the mixed-precision model
    # is explained through its float32 copy, which is.
    assert projecting == set(ENTRIES) - {"subclassed", "float64"}


@pytest.mark.gpu
def test_xla_is_the_default_on_a_gpu():
    model = zoo_model("plain_cnn")
    explainer = ks.Explainer(model)
    assert explainer.jit_compile
    x = random_one_hot(4, 24)
    assert_maps_close(explainer.saliency(x).corrected, ks.Explainer(model, jit_compile=False).saliency(x).corrected, 1e-4)
