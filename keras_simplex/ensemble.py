"""Attributions of an ensemble of models: the mean map and how much the models disagree.

>>> ensemble = ks.EnsembleExplainer([model_a, model_b, model_c], target=0)
>>> result = ensemble.saliency(x)
>>> result.corrected              # (N, L, A) mean corrected map over the models
>>> result.corrected_dispersion   # (N, L) per-position spread of the models' corrected maps ((N, T, L) per target)

Every model is explained with the same method record (the same baselines and noise for a
sequence), by its own explainer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras
import numpy as np

from keras_simplex.engine import finish_angles
from keras_simplex.explainer import Explainer, as_method, explainer_for
from keras_simplex.methods import GradientMethod
from keras_simplex.results import MAPS, Attribution
from keras_simplex.targets import Target, target_key


@dataclasses.dataclass(frozen=True)
class EnsembleAttribution(Attribution):
    """Mean maps of M models, with their per-position dispersion.

    Attributes (None when not computed):
      raw, corrected: ``(N, L, A)`` mean over the models (``(N, T, L, A)`` per target).
      angles: ``(N, L)`` angle (degrees) of the mean gradient to the simplex.
      raw_dispersion, corrected_dispersion: ``(N, L)`` (``(N, T, L)`` per target) root-mean-square over the models of
        the L2 distance (over the alphabet) between a model's map and the mean map, in the
        map's units: 0 where all models agree.
      models: M.
    """

    raw_dispersion: np.ndarray | None = None
    corrected_dispersion: np.ndarray | None = None
    models: int = 0


class EnsembleExplainer:
    """Explain several models of the same input shape as one ensemble.

    Args:
      models: Keras models (or ``Explainer``s, used as they are) taking the same ``(L, A)``,
        with outputs of the same shape.
      target, reduce, logits, jit_compile, max_points, fast, precision: as in ``Explainer``,
        for every model given as a Keras model; a value set here that differs from an
        ``Explainer`` member's own is an error. The members must agree on the target units,
        ``logits``, ``reduce`` and ``precision``.
    """

    def __init__(self, models: Sequence[keras.Model | Explainer], target: Target = None, *, reduce: str | None = "sum",
                 logits: bool = False, jit_compile: bool | str | None = None, max_points: int | None = None,
                 fast: bool | None = None, precision: str = "float32") -> None:
        models = list(models)
        if not models:
            raise ValueError("an ensemble needs at least one model")
        given = {name: value for name, value in dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile,
                                                       max_points=max_points, fast=fast, precision=precision).items()
                 if not _is_default(value, _DEFAULTS[name])}  # what the caller set: an Explainer member must agree
        self.explainers = [explainer_for(m, **given) if isinstance(m, Explainer) else
                           Explainer(m, target, reduce=reduce, logits=logits, jit_compile=jit_compile,
                                     max_points=max_points, fast=fast, precision=precision)
                           for m in models]
        _check_alike(self.explainers)

    def explain(self, x: Any, method: GradientMethod | str, *, outputs: tuple[str, ...] = MAPS,
                check_simplex: bool = True, average_strands: bool = False, verbose: int = 0,
                **options: Any) -> EnsembleAttribution:
        """``method`` (a gradient method) on ``x (N, L, A)`` by every model: mean maps, angles
        of the mean gradient and the dispersion of the maps asked for in ``outputs``;
        ``verbose=1`` draws a progress bar per model."""
        if method in ("ism", "deep_lift_shap"):
            raise ValueError(f"{method} explains one model: run it per model (Explainer(model).{method}) and "
                             f"average the results; an ensemble runs the gradient methods")
        method = as_method(method, options)
        sums = [e.engine.sums(x, method, outputs, check_simplex, average_strands, verbose) for e in self.explainers]
        fields: dict[str, Any] = {"models": len(sums)}
        for name in sums[0]:
            stacked = np.stack([s[name] for s in sums])
            mean = stacked.mean(axis=0)
            fields[name] = mean
            if name in ("raw", "corrected"):
                distance = np.sum(np.square(stacked.astype(np.float64) - mean), axis=-1)  # (M, N, ..., L)
                fields[f"{name}_dispersion"] = np.sqrt(distance.mean(axis=0)).astype(mean.dtype)
        return EnsembleAttribution(**finish_angles(fields))

    def saliency(self, x: Any, **kwargs: Any) -> EnsembleAttribution:
        """Ensemble saliency (arguments as in ``explain``)."""
        return self.explain(x, "saliency", **kwargs)

    def gradient_x_input(self, x: Any, **kwargs: Any) -> EnsembleAttribution:
        """Ensemble gradient x input (arguments as in ``explain``)."""
        return self.explain(x, "gradient_x_input", **kwargs)

    def smoothgrad(self, x: Any, **kwargs: Any) -> EnsembleAttribution:
        """Ensemble SmoothGrad (options as in ``Explainer.smoothgrad``)."""
        return self.explain(x, "smoothgrad", **kwargs)

    def integrated_gradients(self, x: Any, **kwargs: Any) -> EnsembleAttribution:
        """Ensemble integrated gradients (options as in ``Explainer.integrated_gradients``)."""
        return self.explain(x, "integrated_gradients", **kwargs)

    def expected_gradients(self, x: Any, **kwargs: Any) -> EnsembleAttribution:
        """Ensemble expected gradients (options as in ``Explainer.expected_gradients``)."""
        return self.explain(x, "expected_gradients", **kwargs)

    def angles(self, x: Any, *, check_simplex: bool = True, average_strands: bool = False) -> np.ndarray:
        """``(N, L)`` angle (degrees) between the ensemble's mean input gradient and the simplex."""
        return self.saliency(x, outputs=("angles",), check_simplex=check_simplex, average_strands=average_strands).angles


_DEFAULTS = dict(target=None, reduce="sum", logits=False, jit_compile=None, max_points=None, fast=None,
                 precision="float32")  # EnsembleExplainer's defaults


def _is_default(value: Any, default: Any) -> bool:
    """Whether ``value`` is the default ``default`` (None, a string or a bool; equal strings count)."""
    return value is default or (isinstance(value, (str, bool)) and type(value) is type(default) and value == default)


def _check_alike(explainers: list[Explainer]) -> None:
    """Raise unless the members read the same ``(L, A)``, have the same output shape and
    explain the same units the same way (logits, one map or one per unit, precision)."""
    def differing(what: str, value: Callable[[Explainer], Any]) -> None:
        values = [value(e) for e in explainers]
        if len({repr(v) for v in values}) > 1:
            raise ValueError(f"the ensemble's models differ in {what}: "
                             + ", ".join(f"model {i}: {v!r}" for i, v in enumerate(values)))

    differing("their input (L, A)", lambda e: (e.engine.sequence_length, e.engine.alphabet_size))
    differing("their outputs (shape)", lambda e: e.engine.output_shape)
    differing("the target units they explain", lambda e: target_key(e.target))
    differing("logits", lambda e: e.logits)
    differing("reduce (one map, or one per unit)", lambda e: e.reduce)
    differing("precision", lambda e: e.precision)
