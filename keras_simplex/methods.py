"""Gradient attribution methods as values, and their registry.

Every method is a weighted average of input gradients taken at points

    point[n, b, k] = start[n, b] + alpha[k] * (x[n] - start[n, b]) + sigma * noise[n, k]

for B start points (baselines) and K steps (quadrature nodes or noise samples), with weights
``1/B * step_weights[k]``; with ``multiply_by_inputs`` each baseline's averaged gradient is
multiplied by ``x - start``. A ``GradientMethod`` records exactly that, and the registry
(``METHODS``, ``method(name, **options)``) builds it from a name and options with their
defaults and checks. The explainer, the functional API, the command line, the experiments and
the serving export all build their methods here.

Noise: sequence ``x[n]`` draws its samples as the rows of
``kernel.sequence_noise(seeds, (K, L, A), x.dtype)[n]`` with ``seeds[n] =
(seeding.sequence_keys(x, seed)[n], 0)`` (standard normals from stateless uniforms), so a map
depends on the sequence and the seed only, never on batching (up to the last bit of rounding).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from typing import Any, Callable

import numpy as np

from keras_simplex.baselines import BASELINE_NAMES, make_baselines, normalize_baseline_array
from keras_simplex.seeding import resolve_seed

INTEGRATION_RULES = ("trapezoid", "riemann_left", "riemann_right", "riemann_midpoint", "gauss_legendre")


@dataclasses.dataclass(frozen=True, eq=False)
class GradientMethod:
    """One gradient method, fully specified.

    Attributes:
      name: the registry name.
      baseline: start points: ``"zeros"``, ``"uniform"``, ``"shuffle"``,
        ``"dinucleotide_shuffle"``, an array ``(L, A)``, ``(N, L, A)``, ``(N, B, L, A)``,
        ``(1, B, L, A)``, or a function ``(x, B, seed) -> (N, B, L, A)``
        (see ``baselines.make_baselines``).
      num_baselines: B for the shuffle and function baselines.
      alphas: ``(K,)`` fractions of the way from the start to ``x`` (1 = at ``x``).
      step_weights: ``(K,)`` weights of the steps (summing to 1).
      sigma: standard deviation of the Gaussian noise added to every point (0: none).
      multiply_by_inputs: map = ``mean_b (x - start_b) * gradient_b`` instead of the gradient.
      seed: seed of the shuffles and the noise (an int; None in a factory draws one).
      hypothetical: with ``multiply_by_inputs``, return the hypothetical contributions
        ``mean_b (m_b - <start_b, m_b>)`` (``m_b``: the path-averaged gradient of start b,
        ``<.,.>`` over the alphabet at each position) instead: the contribution each letter
        would have made in place of the observed one. Their product with the one-hot ``x`` is
        the contribution map (per position, ``<x, hyp> = mean_b <x - start_b, m_b>``); this is
        what TF-MoDISco reads (the DeepLIFT/DeepSHAP convention). Starts on the simplex (shuffles,
        ``uniform``) make the simplex correction drop out of this form: ``<start_b, 1> = 1`` so
        subtracting the mean of ``m_b`` changes ``m_b`` and ``<start_b, m_b>`` by the same
        amount; raw and corrected hypothetical maps agree then. With ``zeros`` starts they are
        the raw and corrected path gradients.
    """

    name: str
    baseline: Any = "zeros"
    num_baselines: int = 1
    alphas: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(1))
    step_weights: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(1))
    sigma: float = 0.0
    multiply_by_inputs: bool = False
    seed: int = 0
    hypothetical: bool = False

    def __post_init__(self) -> None:
        if self.hypothetical and not self.multiply_by_inputs:
            raise ValueError("hypothetical contributions are the per-letter form of the multiply_by_inputs map; "
                             "with multiply_by_inputs=False the map is already the gradient")

    @property
    def form(self) -> str:
        """What the maps are: ``"gradient"``, ``"contribution"`` or ``"hypothetical"``."""
        if self.hypothetical:
            return "hypothetical"
        return "contribution" if self.multiply_by_inputs else "gradient"

    def hypothetical_form(self) -> "GradientMethod":
        """This method with per-letter maps, as TF-MoDISco reads them: the hypothetical
        contributions of methods that multiply by the input, else the method itself (its map
        is a gradient: saliency, SmoothGrad)."""
        return dataclasses.replace(self, hypothetical=self.multiply_by_inputs)

    def reverse_complemented(self) -> "GradientMethod":
        """This method for reverse-complemented sequences: a baseline array is read on the
        other strand too (its position and letter axes reversed, ACGT order); a baseline function
        is called on the reverse-complemented sequences as it is."""
        if isinstance(self.baseline, str) or callable(self.baseline):
            return self
        return dataclasses.replace(self, baseline=np.asarray(self.baseline)[..., ::-1, ::-1])

    def options(self) -> dict[str, Any]:
        """The method's settings as plain values, for provenance records."""
        settings = {"name": self.name, "num_baselines": self.num_baselines, "steps": len(self.alphas),
                    "alphas": [float(a) for a in self.alphas], "step_weights": [float(w) for w in self.step_weights],
                    "sigma": self.sigma, "multiply_by_inputs": self.multiply_by_inputs, "seed": self.seed,
                    "hypothetical": self.hypothetical}
        if isinstance(self.baseline, str):
            settings["baseline"] = self.baseline
        elif callable(self.baseline):
            settings["baseline"] = f"function {getattr(self.baseline, '__qualname__', repr(self.baseline))}"
        else:
            settings["baseline"] = f"array{np.shape(self.baseline)}"
        return settings

    @property
    def contributions(self) -> bool:
        """Whether the map holds each letter's actual contribution (methods that multiply by
        the input, not in hypothetical form): a position's contribution is the map's sum over
        the alphabet. Otherwise the map is per letter (a gradient, or hypothetical
        contributions) and a position's contribution is its value at the observed letter,
        ``sum_a x[l, a] * map[l, a]``."""
        return self.multiply_by_inputs and not self.hypothetical

    @property
    def at_inputs(self) -> bool:
        """Whether every point is the sequence itself (plus noise): every alpha is 1."""
        return bool(np.all(np.asarray(self.alphas) == 1))

    @property
    def random_starts(self) -> bool:
        """Whether the start points are drawn per sequence (shuffles, a baseline function)."""
        return callable(self.baseline) or (isinstance(self.baseline, str)
                                           and self.baseline in ("shuffle", "dinucleotide_shuffle"))

    def check(self, x: np.ndarray) -> None:
        """Raise before any work if the baseline cannot serve the sequences ``x (N, L, A)``."""
        if not isinstance(self.baseline, str) and not callable(self.baseline):
            normalize_baseline_array(self.baseline, x.shape)

    def starts(self, x: np.ndarray, begin: int = 0) -> np.ndarray:
        """Start points ``(n or 1, B, L, A)`` for ``x[begin : begin + n]`` given as ``x``
        (n sequences of a larger batch): shuffles are drawn (a baseline function called) for
        them, and a per-sequence baseline array is sliced to the same rows."""
        if isinstance(self.baseline, str) or callable(self.baseline):
            return make_baselines(x, self.baseline, self.num_baselines, self.seed)
        array = normalize_baseline_array(self.baseline, None).astype(x.dtype, copy=False)
        return array if len(array) == 1 else array[begin : begin + len(x)]


def integration_rule(steps: int, rule: str = "trapezoid") -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``alpha`` in [0, 1] and weights (summing to 1) of a quadrature on the path.

    ``steps`` is the number of gradient evaluations per baseline for every rule:
    ``trapezoid`` uses ``linspace(0, 1, steps)`` with halved end weights (the paper's rule;
    ``steps - 1`` intervals), ``riemann_left/right/midpoint`` use ``steps`` equal intervals
    (captum's ``riemann_middle`` is ``riemann_midpoint``), ``gauss_legendre`` the Gauss-Legendre
    nodes on [0, 1].
    """
    if rule not in INTEGRATION_RULES:
        raise ValueError(f"unknown integration rule {rule!r}; choose one of {INTEGRATION_RULES}")
    steps = _count("steps", steps, minimum=2 if rule == "trapezoid" else 1, why=f" for the {rule} rule")
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


def _count(name: str, value: Any, minimum: int = 1, why: str = "") -> int:
    """``value`` as an int >= ``minimum``; TypeError for non-integers (2.5, True, "3")."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{why}, got {value}")
    return int(value)


def _seed(seed: Any) -> int:
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    return resolve_seed(seed)


def saliency() -> GradientMethod:
    """Saliency: the gradient at ``x``."""
    return GradientMethod("saliency")


def gradient_x_input() -> GradientMethod:
    """Gradient x input: ``x * gradient at x`` (the correction applies to the gradient)."""
    return GradientMethod("gradient_x_input", multiply_by_inputs=True)


def integrated_gradients(
    baseline: Any = "uniform",
    steps: int = 50,
    rule: str = "trapezoid",
    num_baselines: int = 1,
    seed: int | None = 0,
    multiply_by_inputs: bool = True,
    hypothetical: bool = False,
) -> GradientMethod:
    """Integrated gradients, averaged over ``num_baselines`` baselines.

    Args:
      baseline: ``"uniform"`` (1/A, on the simplex; default), ``"zeros"`` (off the simplex),
        ``"shuffle"``, ``"dinucleotide_shuffle"``, an array or a function
        ``baseline(x, num_baselines, seed) -> (N, num_baselines, L, A)`` (see ``make_baselines``).
      steps: gradient evaluations per baseline (an integer).
      rule: quadrature, see ``integration_rule`` (default: trapezoid, as in the paper).
      num_baselines: shuffled baselines per sequence (the shuffle baselines).
      seed: seed of the shuffles (None: a fresh one).
      multiply_by_inputs: True for ``(x - b) * mean path gradient`` (completeness:
        ``sum(map) = f(x) - mean_b f(b)``); False for the path-averaged gradient (the paper's).
      hypothetical: per-letter hypothetical contributions (see ``GradientMethod``), for
        TF-MoDISco; needs ``multiply_by_inputs``.
    """
    alphas, weights = integration_rule(steps, rule)
    _check_baseline_name(baseline)
    return GradientMethod("integrated_gradients", baseline, _count("num_baselines", num_baselines), alphas, weights,
                          multiply_by_inputs=bool(multiply_by_inputs), seed=_seed(seed), hypothetical=bool(hypothetical))


def expected_gradients(
    baseline: Any = "dinucleotide_shuffle",
    num_baselines: int = 10,
    steps: int = 20,
    rule: str = "trapezoid",
    seed: int | None = 0,
    multiply_by_inputs: bool = True,
    hypothetical: bool = False,
) -> GradientMethod:
    """Expected gradients: integrated gradients averaged over several baselines (default 10
    dinucleotide shuffles of each sequence x 20 steps; the paper used ``"shuffle"``).
    Arguments as in ``integrated_gradients``."""
    method = integrated_gradients(baseline, steps, rule, num_baselines, seed, multiply_by_inputs, hypothetical)
    return dataclasses.replace(method, name="expected_gradients")


def smoothgrad(samples: int = 25, sigma: float = 0.1, seed: int | None = 0, multiply_by_inputs: bool = False) -> GradientMethod:
    """SmoothGrad: the mean gradient at ``x + N(0, sigma^2)`` over ``samples`` draws.

    Args:
      samples: noisy copies per sequence (an integer).
      sigma: noise standard deviation (finite, >= 0; the paper: 0.1).
      seed: noise seed (None: a fresh one); see the module docstring.
      multiply_by_inputs: return ``x * smoothed gradient``.
    """
    samples = _count("samples", samples)
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    ones = np.ones(samples)
    return GradientMethod("smoothgrad", alphas=ones, step_weights=ones / samples, sigma=float(sigma),
                          multiply_by_inputs=bool(multiply_by_inputs), seed=_seed(seed))


def _check_baseline_name(baseline: Any) -> None:
    if isinstance(baseline, str) and baseline not in BASELINE_NAMES:
        raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINE_NAMES} or pass an array")


METHODS: dict[str, Callable[..., GradientMethod]] = {
    "saliency": saliency,
    "gradient_x_input": gradient_x_input,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "expected_gradients": expected_gradients,
}


def method(name: str, **options: Any) -> GradientMethod:
    """The registered method ``name`` with ``options`` (see each factory for them)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {tuple(METHODS)}")
    return METHODS[name](**options)


def method_options(name: str) -> tuple[str, ...]:
    """The option names the method ``name`` takes."""
    return tuple(inspect.signature(METHODS[name]).parameters)
