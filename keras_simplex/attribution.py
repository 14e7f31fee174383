"""Gradient attribution methods with the simplex correction.

Every method has the same contract: ``method(model, x, ...) -> (N, L, A)`` signed map for
``(N, L, A)`` one-hot inputs, corrected by default (``correct=False`` returns the raw map).
The correction (``geometry.project_to_simplex``) is applied to the gradient *before* any
multiplication by the input. ``model`` may be a Keras model (a compiled engine is built once
and cached for it) or an ``AttributionEngine``/``CorrectedSaliency`` to reuse its engine.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np

from keras_simplex.baselines import make_baselines
from keras_simplex.engine import DEFAULT_MAX_POINTS, MAPS, Attribution, AttributionEngine
from keras_simplex.seeding import resolve_seed
from keras_simplex.targets import Target, target_key
from keras_simplex.validation import check_sequences

INTEGRATION_RULES = ("trapezoid", "riemann_left", "riemann_right", "riemann_midpoint", "gauss_legendre")
BASELINE_BLOCK = 4096  # sequences whose shuffled baselines are drawn together (memory bound)


def integration_rule(steps: int, rule: str = "trapezoid") -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``alpha`` in [0, 1] and weights (summing to 1) of a quadrature on the path.

    ``steps`` is the number of gradient evaluations per baseline for every rule:
    ``trapezoid`` uses ``linspace(0, 1, steps)`` with halved end weights (the paper's rule;
    ``steps - 1`` intervals), ``riemann_left/right/midpoint`` use ``steps`` equal intervals
    (captum's ``riemann_middle`` is ``riemann_midpoint``), ``gauss_legendre`` the Gauss-Legendre
    nodes on [0, 1].
    """
    steps = int(steps)
    if rule not in INTEGRATION_RULES:
        raise ValueError(f"unknown integration rule {rule!r}; choose one of {INTEGRATION_RULES}")
    if steps < (2 if rule == "trapezoid" else 1):
        raise ValueError(f"the {rule} rule needs steps >= {2 if rule == 'trapezoid' else 1}, got {steps}")
    if rule == "trapezoid":
        alphas = np.linspace(0.0, 1.0, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
    elif rule == "gauss_legendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        alphas, weights = (nodes + 1) / 2, weights / 2
    else:
        shift = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_midpoint": 0.5}[rule]
        alphas = (np.arange(steps) + shift) / steps
        weights = np.full(steps, 1.0 / steps)
    return alphas, weights


_ENGINES: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def get_engine(
    model: Any,
    target: Target = None,
    logits: bool = False,
    jit_compile: bool | str | None = None,
    max_points: int | None = None,
) -> AttributionEngine:
    """The cached engine for ``model`` and these options (built on first use).

    ``model`` may also be an ``AttributionEngine`` or ``CorrectedSaliency``, which is
    returned as is (its own options apply).
    """
    if isinstance(model, CorrectedSaliency):
        model = model.engine
    if isinstance(model, AttributionEngine):
        return model
    key = (target_key(target), bool(logits), jit_compile, max_points or DEFAULT_MAX_POINTS)
    engines = _ENGINES.setdefault(model, {})
    if key not in engines:
        engines[key] = AttributionEngine(
            model, target, logits=logits, jit_compile=jit_compile, max_points=key[-1]
        )
    return engines[key]


def _validated(engine: AttributionEngine, x: Any, check_simplex: bool) -> np.ndarray:
    return check_sequences(
        x,
        alphabet_size=engine.alphabet_size,
        length=engine.sequence_length,
        check_simplex=check_simplex,
        dtype=engine.dtype.as_numpy_dtype,
    )


def attribute_saliency(
    engine: AttributionEngine,
    x: Any,
    multiply_by_inputs: bool = False,
    check_simplex: bool = True,
    outputs: tuple[str, ...] = MAPS,
) -> Attribution:
    """Saliency (``df/dx``) or gradient x input in one pass: the ``outputs`` fields of the
    ``Attribution`` (raw and corrected maps, angles; all by default)."""
    x = _validated(engine, x, check_simplex)
    zero = np.zeros((1, 1) + x.shape[1:], x.dtype)
    return engine.run(x, zero, np.ones(1), np.ones(1), np.ones(1), multiply_by_inputs=multiply_by_inputs,
                      outputs=outputs)


def attribute_smoothgrad(
    engine: AttributionEngine,
    x: Any,
    samples: int = 25,
    sigma: float = 0.1,
    seed: int = 0,
    multiply_by_inputs: bool = False,
    check_simplex: bool = True,
    outputs: tuple[str, ...] = MAPS,
) -> Attribution:
    """SmoothGrad: the mean gradient at ``x + N(0, sigma^2)`` over ``samples`` draws."""
    if int(samples) < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    x = _validated(engine, x, check_simplex)
    zero = np.zeros((1, 1) + x.shape[1:], x.dtype)
    ones = np.ones(int(samples))
    return engine.run(x, zero, np.ones(1), ones, ones / samples, sigma=float(sigma), seed=seed,
                      multiply_by_inputs=multiply_by_inputs, outputs=outputs)


def attribute_integrated_gradients(
    engine: AttributionEngine,
    x: Any,
    baseline: Any = "uniform",
    steps: int = 50,
    rule: str = "trapezoid",
    num_baselines: int = 1,
    seed: int = 0,
    multiply_by_inputs: bool = True,
    check_simplex: bool = True,
    outputs: tuple[str, ...] = MAPS,
) -> Attribution:
    """Integrated gradients averaged over one or more baselines (expected gradients).

    With ``multiply_by_inputs`` the map is ``mean_b (x - b) * g_b`` where ``g_b`` is the
    gradient averaged along the straight path from baseline ``b`` to ``x``; the raw map then
    satisfies completeness, ``sum(map) ~= f(x) - mean_b f(b)``, and so does the corrected map
    when the baselines lie on the simplex. Without it the map is ``mean_b g_b``, the
    path-averaged gradient the paper's code returns.
    """
    x = _validated(engine, x, check_simplex)
    alphas, weights = integration_rule(steps, rule)
    seed = resolve_seed(seed)
    parts = []
    for begin in range(0, len(x), BASELINE_BLOCK):
        block = x[begin : begin + BASELINE_BLOCK]
        starts = make_baselines(block, baseline, num_baselines, seed)
        group_weights = np.full(starts.shape[1], 1.0 / starts.shape[1])
        parts.append(engine.run(block, starts, group_weights, alphas, weights, multiply_by_inputs=multiply_by_inputs,
                                outputs=outputs))
    if len(parts) == 1:
        return parts[0]
    return Attribution(**{field: np.concatenate([getattr(p, field) for p in parts]) for field in outputs})


# --- the functional API --------------------------------------------------------------------


def _map(correct: bool) -> tuple[str, ...]:
    """The one engine output a functional call returns (nothing else is computed)."""
    return ("corrected",) if correct else ("raw",)


def saliency(
    model: Any,
    x: Any,
    *,
    target: Target = None,
    logits: bool = False,
    correct: bool = True,
    check_simplex: bool = True,
    jit_compile: bool | str | None = None,
    max_points: int | None = None,
) -> np.ndarray:
    """Saliency map ``df/dx``, ``(N, L, A)``, corrected by default.

    Args:
      model: Keras model (or an engine to reuse).
      x: ``(N, L, A)`` one-hot sequences.
      target: output to explain: index, list of indices or slice of the last output axis
        (summed), or ``callable(outputs) -> (N,)``; None for single-output models.
      logits: differentiate the output layer's pre-activation instead of its activation.
      correct: remove the off-simplex component (subtract the per-position mean).
      check_simplex: reject positions that are not probability vectors.
      jit_compile: XLA; None = XLA on GPU, graph mode on CPU.
      max_points: most model evaluations per compiled call (memory knob).
    """
    engine = get_engine(model, target, logits, jit_compile, max_points)
    return attribute_saliency(engine, x, False, check_simplex, _map(correct)).select(correct)


def gradient_x_input(
    model: Any,
    x: Any,
    *,
    target: Target = None,
    logits: bool = False,
    correct: bool = True,
    check_simplex: bool = True,
    jit_compile: bool | str | None = None,
    max_points: int | None = None,
) -> np.ndarray:
    """Gradient x input, ``x * df/dx``; the correction is applied to the gradient first.

    Arguments as in ``saliency``.
    """
    engine = get_engine(model, target, logits, jit_compile, max_points)
    return attribute_saliency(engine, x, True, check_simplex, _map(correct)).select(correct)


def integrated_gradients(
    model: Any,
    x: Any,
    *,
    baseline: Any = "uniform",
    steps: int = 50,
    rule: str = "trapezoid",
    num_baselines: int = 1,
    multiply_by_inputs: bool = True,
    seed: int = 0,
    target: Target = None,
    logits: bool = False,
    correct: bool = True,
    check_simplex: bool = True,
    jit_compile: bool | str | None = None,
    max_points: int | None = None,
) -> np.ndarray:
    """Integrated gradients, ``(N, L, A)``.

    Args:
      baseline: ``"uniform"`` (1/A, on the simplex; default), ``"zeros"`` (off the simplex),
        ``"shuffle"``, ``"dinucleotide_shuffle"`` or an array (see ``make_baselines``).
      steps: gradient evaluations per baseline.
      rule: quadrature, see ``integration_rule`` (default: trapezoid, as in the paper).
      num_baselines: number of shuffled baselines (averaged), for the shuffle baselines.
      multiply_by_inputs: True for ``(x - b) * mean path gradient`` (completeness); False
        for the path-averaged gradient (the paper's form).
      seed: seed of the shuffles.
      Other arguments as in ``saliency``.
    """
    engine = get_engine(model, target, logits, jit_compile, max_points)
    result = attribute_integrated_gradients(
        engine, x, baseline, steps, rule, num_baselines, seed, multiply_by_inputs, check_simplex, _map(correct)
    )
    return result.select(correct)


def expected_gradients(
    model: Any,
    x: Any,
    *,
    baseline: Any = "dinucleotide_shuffle",
    num_baselines: int = 10,
    steps: int = 20,
    rule: str = "trapezoid",
    multiply_by_inputs: bool = True,
    seed: int = 0,
    target: Target = None,
    logits: bool = False,
    correct: bool = True,
    check_simplex: bool = True,
    jit_compile: bool | str | None = None,
    max_points: int | None = None,
) -> np.ndarray:
    """Expected gradients: integrated gradients averaged over several baselines.

    Defaults: 10 dinucleotide shuffles of each sequence, 20 steps (the paper used random
    position shuffles, ``baseline="shuffle"``). Arguments as in ``integrated_gradients``.
    """
    return integrated_gradients(
        model, x, baseline=baseline, steps=steps, rule=rule, num_baselines=num_baselines,
        multiply_by_inputs=multiply_by_inputs, seed=seed, target=target, logits=logits,
        correct=correct, check_simplex=check_simplex, jit_compile=jit_compile, max_points=max_points,
    )


def smoothgrad(
    model: Any,
    x: Any,
    *,
    samples: int = 25,
    sigma: float = 0.1,
    seed: int = 0,
    multiply_by_inputs: bool = False,
    target: Target = None,
    logits: bool = False,
    correct: bool = True,
    check_simplex: bool = True,
    jit_compile: bool | str | None = None,
    max_points: int | None = None,
) -> np.ndarray:
    """SmoothGrad: gradients averaged over ``samples`` Gaussian perturbations of every letter.

    Args:
      samples: noisy copies per sequence.
      sigma: noise standard deviation (the paper: 0.1).
      seed: noise seed; a sequence's noise depends only on it and the seed, so results do
        not depend on batching or chunking.
      multiply_by_inputs: return ``x * smoothed gradient``.
      Other arguments as in ``saliency``.
    """
    engine = get_engine(model, target, logits, jit_compile, max_points)
    result = attribute_smoothgrad(engine, x, samples, sigma, seed, multiply_by_inputs, check_simplex, _map(correct))
    return result.select(correct)


def gradient_angles(
    model: Any,
    x: Any,
    *,
    target: Target = None,
    logits: bool = False,
    check_simplex: bool = True,
    jit_compile: bool | str | None = None,
    max_points: int | None = None,
) -> np.ndarray:
    """Per-position angle (degrees) between the input gradient and the simplex, ``(N, L)``."""
    engine = get_engine(model, target, logits, jit_compile, max_points)
    return attribute_saliency(engine, x, False, check_simplex, ("angles",)).angles


class CorrectedSaliency:
    """Compiled corrected saliency for one model: build once, call on batches.

    >>> explain = CorrectedSaliency(model)
    >>> corrected = explain(x)                      # (N, L, A)
    >>> result = explain(x, return_all=True)        # .corrected, .raw, .angles

    The work runs in one ``tf.function`` with a fixed input signature (dynamic batch), traced
    once; ``self.engine`` is the same compiled engine, usable by every other method, e.g.
    ``integrated_gradients(explain, x)``.

    Args: as ``AttributionEngine``.
    """

    def __init__(
        self,
        model: keras.Model,
        target: Target = None,
        *,
        logits: bool = False,
        jit_compile: bool | str | None = None,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> None:
        self.engine = AttributionEngine(model, target, logits=logits, jit_compile=jit_compile, max_points=max_points)

    def __call__(self, x: Any, return_all: bool = False, check_simplex: bool = True) -> Any:
        """Corrected saliency ``(N, L, A)``, or an ``Attribution`` (corrected, raw, angles)."""
        result = attribute_saliency(self.engine, x, False, check_simplex)
        return result if return_all else result.corrected
