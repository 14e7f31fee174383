"""The object users hold: an explainer bound to one model and target.

>>> explainer = ks.Explainer(model, target=0, logits=True)
>>> result = explainer.integrated_gradients(x, steps=20)   # Attribution(raw, corrected, angles)
>>> result.corrected                                        # (N, L, A)

Every method returns the same ``Attribution`` record and runs on one compiled engine, built
once per explainer. Method options and their defaults are those of the registry
(``keras_simplex.methods``).
"""

from __future__ import annotations

import collections
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_simplex.engine import AttributionEngine, resolve_max_points
from keras_simplex.ism import taylor_ism
from keras_simplex.jit_policy import resolve_jit_compile
from keras_simplex._fast.rewrite import fast_paths_enabled
from keras_simplex.precision import check_precision
from keras_simplex.methods import GradientMethod, method as registered_method
from keras_simplex.results import MAPS, Attribution
from keras_simplex.targets import Target, per_target_indices, target_key


class Explainer:
    """Simplex-corrected gradient attributions of one Keras model and target.

    Args:
      model: a Keras model mapping ``(N, L, A)`` sequences to outputs.
      target: output to explain: index, list of indices or slice of the last output axis
        (summed), ``"all"`` (one map per output unit), or ``callable(outputs) -> (N,)``; None
        for single-output models.
      reduce: ``"sum"`` sums the units a list or slice target picks (one map); None keeps one
        map per unit: maps ``(N, T, L, A)`` and angles ``(N, T, L)``, all T gradients of a
        point from one forward pass.
      logits: differentiate the output layer's pre-activation (e.g. the logit instead of the
        sigmoid); a clear error when the model's output has no activation to remove.
      jit_compile: XLA; None = XLA on GPU, graph mode on CPU (measured faster there).
      max_points: most model evaluations per compiled call (memory knob; default 2,048, fewer
        for models whose activations for 2,048 points would exceed 4 GiB).
      sequence_shape: ``(L, A)`` for models that record no input shape (subclassed models);
        ``L`` None for length-agnostic models.
      strategy: a ``tf.distribute`` strategy to split each chunk across replicas.
      fast: use the verified speed rewrites (batch-norm folding, convolutions, pooling); None
        follows ``keras_simplex.set_fast_paths`` (on by default).
      precision: ``"float32"`` (default) or ``"bfloat16"``: gradient methods and ISM run the
        model's forward and backward passes in bfloat16, keeping points, correction,
        reductions and angles in float32 (``keras_simplex.precision``; faster on a GPU or a
        CPU with AMX, slower on other CPUs; docs/performance.md says when it is safe).

    Every gradient method takes ``x (N, L, A)``, ``check_simplex`` (reject positions that are
    not probability vectors), ``outputs`` (the ``Attribution`` fields to compute: ``"raw"``,
    ``"corrected"``, ``"angles"``; all by default) and ``average_strands`` (average with the
    reverse-complement strand's map, see ``AttributionEngine.run``), plus the method's options,
    and returns an ``Attribution``. ``deep_lift_shap`` returns one too (no ``outputs`` or
    ``average_strands``); ``ism`` returns the deltas themselves, ``(N, P, A)``
    for P positions (``(N, T, P, A)`` per target; ``mean_centered=True``: the corrected form).
    """

    def __init__(
        self,
        model: keras.Model,
        target: Target = None,
        *,
        reduce: str | None = "sum",
        logits: bool = False,
        jit_compile: bool | str | None = None,
        max_points: int | None = None,
        sequence_shape: tuple[int | None, int] | None = None,
        strategy: tf.distribute.Strategy | None = None,
        fast: bool | None = None,
        precision: str = "float32",
    ) -> None:
        self.engine = AttributionEngine(model, target, reduce=reduce, logits=logits, jit_compile=jit_compile,
                                        max_points=max_points, sequence_shape=sequence_shape, strategy=strategy, fast=fast,
                                        precision=precision)

    model = property(lambda self: self.engine.model, doc="The explained Keras model.")
    target = property(lambda self: self.engine.target, doc="The explained target.")
    reduce = property(lambda self: "sum" if self.engine.per_target is None else None,
                      doc="'sum' (one map) or None (one map per target unit, as ``target='all'`` always has).")
    targets = property(lambda self: self.engine.per_target, doc="Units with a map each (None: one map).")
    logits = property(lambda self: self.engine.logits, doc="Whether logits are differentiated.")
    jit_compile = property(lambda self: self.engine.jit_compile, doc="Whether XLA is used.")
    max_points = property(lambda self: self.engine.max_points, doc="Model evaluations per compiled call.")
    fast = property(lambda self: self.engine.fast, doc="Whether the speed rewrites may be used.")
    precision = property(lambda self: self.engine.precision, doc="The model's compute precision.")

    def explain(self, x: Any, method: GradientMethod | str, *, outputs: tuple[str, ...] = MAPS,
                check_simplex: bool = True, average_strands: bool = False, verbose: int = 0,
                **options: Any) -> Attribution:
        """``method`` (a ``GradientMethod``, or a registry name with its ``options``) on ``x``;
        ``verbose=1`` draws a progress bar over the sequences (every method takes it)."""
        return self.engine.run(x, as_method(method, options), outputs, check_simplex, average_strands, verbose)

    def saliency(self, x: Any, *, outputs: tuple[str, ...] = MAPS, check_simplex: bool = True,
                 average_strands: bool = False, verbose: int = 0) -> Attribution:
        """Saliency, the gradient ``df/dx``."""
        return self.explain(x, "saliency", outputs=outputs, check_simplex=check_simplex, average_strands=average_strands,
                            verbose=verbose)

    def gradient_x_input(self, x: Any, *, outputs: tuple[str, ...] = MAPS, check_simplex: bool = True,
                         average_strands: bool = False, verbose: int = 0) -> Attribution:
        """Gradient x input, ``x * df/dx`` (the correction applies to the gradient first)."""
        return self.explain(x, "gradient_x_input", outputs=outputs, check_simplex=check_simplex,
                            average_strands=average_strands, verbose=verbose)

    def integrated_gradients(self, x: Any, *, outputs: tuple[str, ...] = MAPS, check_simplex: bool = True, verbose: int = 0,
                             average_strands: bool = False, **options: Any) -> Attribution:
        """Integrated gradients; options: ``baseline="uniform"``, ``steps=50``,
        ``rule="trapezoid"``, ``num_baselines=1``, ``seed=0``, ``multiply_by_inputs=True``,
        ``hypothetical=False`` (``keras_simplex.methods.integrated_gradients``)."""
        return self.explain(x, "integrated_gradients", outputs=outputs, check_simplex=check_simplex,
                            average_strands=average_strands, verbose=verbose, **options)

    def expected_gradients(self, x: Any, *, outputs: tuple[str, ...] = MAPS, check_simplex: bool = True, verbose: int = 0,
                           average_strands: bool = False, **options: Any) -> Attribution:
        """Expected gradients; options: ``baseline="dinucleotide_shuffle"``,
        ``num_baselines=10``, ``steps=20``, ``rule``, ``seed``, ``multiply_by_inputs``,
        ``hypothetical`` (``keras_simplex.methods.expected_gradients``)."""
        return self.explain(x, "expected_gradients", outputs=outputs, check_simplex=check_simplex,
                            average_strands=average_strands, verbose=verbose, **options)

    def smoothgrad(self, x: Any, *, outputs: tuple[str, ...] = MAPS, check_simplex: bool = True, verbose: int = 0,
                   average_strands: bool = False, **options: Any) -> Attribution:
        """SmoothGrad; options: ``samples=25``, ``sigma=0.1``, ``seed=0``,
        ``multiply_by_inputs=False`` (``keras_simplex.methods.smoothgrad``)."""
        return self.explain(x, "smoothgrad", outputs=outputs, check_simplex=check_simplex,
                            average_strands=average_strands, verbose=verbose, **options)

    def deep_lift_shap(self, x: Any, *, references: Any = "dinucleotide_shuffle", num_references: int = 20,
                       seed: int = 0, hypothetical: bool = False, check_simplex: bool = True,
                       verbose: int = 0) -> Attribution:
        """DeepSHAP: DeepLIFT (rescale rule) averaged over ``num_references`` references
        (default 20 dinucleotide shuffles of each sequence), ``Attribution(raw, corrected,
        angles, delta)``: the contributions of the observed letters (``hypothetical=True``:
        of every letter), ``(N, L, A)``; ``delta (N,)`` the summation-to-delta error
        (``keras_simplex.deeplift``). Per target: ``(N, T, L, A)``, angles ``(N, T, L)``,
        delta ``(N, T)``, each unit in its own passes against the same references."""
        return self.engine.deep_lift_shap(x, references, num_references, seed, hypothetical, check_simplex, verbose)

    def ism(self, x: Any, *, positions: Any = None, mean_centered: bool = False, check_simplex: bool = True,
            verbose: int = 0) -> np.ndarray:
        """In-silico mutagenesis: ``(N, P, A)`` change of the target when position ``l`` is set
        to letter ``b``, for the ``positions`` (a slice or list; None: all L), 0 at the observed
        letter of one-hot positions; ``mean_centered`` subtracts the per-position mean
        (``keras_simplex.ism``). ``(N, T, P, A)`` per target."""
        return self.engine.ism(x, positions, mean_centered, check_simplex, verbose)

    def taylor_ism(self, x: Any, *, check_simplex: bool = True) -> np.ndarray:
        """First-order ISM from one gradient, ``g[l, b] - <x[l], g[l]>``, ``(N, L, A)``: the
        hypothetical form of the corrected gradient (``keras_simplex.ism.taylor_ism``)."""
        x = np.asarray(x)
        return taylor_ism(self.saliency(x, outputs=("raw",), check_simplex=check_simplex).raw, x)

    def angles(self, x: Any, *, check_simplex: bool = True, average_strands: bool = False) -> np.ndarray:
        """``(N, L)`` angle (degrees) between the input gradient and the simplex."""
        return self.saliency(x, outputs=("angles",), check_simplex=check_simplex, average_strands=average_strands).angles


def as_method(method: GradientMethod | str, options: dict[str, Any]) -> GradientMethod:
    """``method`` itself, or the registry's method of that name with ``options``."""
    if isinstance(method, str):
        return registered_method(method, **options)
    if options:
        raise TypeError(f"options {sorted(options)} go with a method name, not a GradientMethod")
    return method


class CorrectedSaliency(Explainer):
    """An explainer that is called for corrected saliency (the design card's name).

    >>> explain = CorrectedSaliency(model)
    >>> corrected = explain(x)                      # (N, L, A)
    >>> result = explain(x, return_all=True)        # .corrected, .raw, .angles
    """

    def __call__(self, x: Any, return_all: bool = False, check_simplex: bool = True) -> Any:
        """Corrected saliency ``(N, L, A)``, or the ``Attribution`` (corrected, raw, angles)."""
        if return_all:
            return self.saliency(x, check_simplex=check_simplex)
        return self.saliency(x, outputs=("corrected",), check_simplex=check_simplex).corrected


class _Unset:
    """The default of the functional API's explainer settings: not given."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
_CACHE = "_keras_simplex_explainers"  # the model's attribute holding its cached explainers
_CACHED_PER_MODEL = 16  # the most recently used settings kept per model (a new lambda target is a new key)


def explainer_for(model: Any, *, target: Target = UNSET, reduce: Any = UNSET, logits: bool = UNSET,
                  jit_compile: Any = UNSET, max_points: Any = UNSET, fast: Any = UNSET,
                  precision: Any = UNSET) -> Explainer:
    """The explainer for ``model``: ``model`` itself if it is one (a setting given that
    differs from its own is an error), else a cached one per model and settings."""
    given = {name: value for name, value in dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile,
                                                   max_points=max_points, fast=fast, precision=precision).items()
             if value is not UNSET}
    if isinstance(model, Explainer):
        _check_settings(model, given)
        return model
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model or a keras_simplex.Explainer, got {type(model).__name__}")
    key = (target_key(given.get("target")), given.get("reduce", "sum"), bool(given.get("logits", False)), resolve_jit_compile(given.get("jit_compile")),
           None if given.get("max_points") is None else resolve_max_points(given["max_points"]),  # None: the model's
           fast_paths_enabled(given.get("fast")),  # the switch as it is now
           check_precision(given.get("precision")))
    # Kept on the model (not in a global table, whose entries would keep every model alive):
    # model and explainers are freed together.
    explainers = model.__dict__.get(_CACHE)
    if explainers is None:
        explainers = collections.OrderedDict()
        object.__setattr__(model, _CACHE, explainers)  # past Keras' attribute tracking
    if key not in explainers:
        explainers[key] = Explainer(model, **given)
        while len(explainers) > _CACHED_PER_MODEL:
            explainers.popitem(last=False)
    explainers.move_to_end(key)
    return explainers[key]


def _check_settings(explainer: Explainer, given: dict[str, Any]) -> None:
    """Raise when a setting passed with an explainer differs from the explainer's own."""
    own = {
        "target": (target_key(explainer.target), lambda v: target_key(explainer.engine.resolved_target(v))),
        "reduce": (explainer.reduce, lambda v: "sum" if per_target_indices(
            given.get("target", explainer.engine.requested_target), v, explainer.engine.output_shape) is None else None),
        "logits": (explainer.logits, bool),
        "jit_compile": (explainer.jit_compile, resolve_jit_compile),
        "max_points": (explainer.max_points,
                       lambda v: explainer.engine.default_max_points if v is None else resolve_max_points(v)),
        "fast": (explainer.fast, fast_paths_enabled),
        "precision": (explainer.precision, check_precision),
    }
    for name, value in given.items():
        expected, resolve = own[name]
        if resolve(value) != expected:
            raise ValueError(
                f"{name}={value!r} conflicts with the explainer passed in, built with {name}="
                f"{getattr(explainer, name)!r}; build an explainer with the settings you want "
                f"(keras_simplex.Explainer(model, {name}=...)) or leave {name} out"
            )
