"""Attributions of an ensemble of models: the mean map and how much the models disagree.

>>> ensemble = ks.EnsembleExplainer([model_a, model_b, model_c], target=0)
>>> result = ensemble.saliency(x)
>>> result.corrected              # (N, L, A) mean corrected map over the models
>>> result.corrected_dispersion   # (N, L) per-position spread of the models' corrected maps

Every model is explained with the same method record (the same baselines and noise for a
sequence), by its own explainer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import keras
import numpy as np

from keras_simplex.engine import finish_angles
from keras_simplex.explainer import Explainer, as_method
from keras_simplex.methods import GradientMethod
from keras_simplex.results import MAPS, Attribution
from keras_simplex.targets import Target, target_key


@dataclasses.dataclass(frozen=True)
class EnsembleAttribution(Attribution):
    """Mean maps of M models, with their per-position dispersion.

    Attributes (None when not computed):
      raw, corrected: ``(N, L, A)`` mean over the models (``(N, T, L, A)`` per target).
      angles: ``(N, L)`` angle (degrees) of the mean gradient to the simplex.
      raw_dispersion, corrected_dispersion: ``(N, L)`` root-mean-square over the models of
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
      models: Keras models (or ``Explainer``s, used as they are) taking the same ``(L, A)``.
      target, reduce, logits, jit_compile, max_points, fast, precision: as in ``Explainer``,
        for every model given as a Keras model.
    """

    def __init__(self, models: Sequence[keras.Model | Explainer], target: Target = None, *, reduce: str | None = "sum",
                 logits: bool = False, jit_compile: bool | str | None = None, max_points: int | None = None,
                 fast: bool | None = None, precision: str = "float32") -> None:
        models = list(models)
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.explainers = [m if isinstance(m, Explainer) else Explainer(m, target, reduce=reduce, logits=logits,
                                                                          jit_compile=jit_compile,
                                                                          max_points=max_points, fast=fast,
                                                                          precision=precision)
                           for m in models]
        shapes = {(e.engine.sequence_length, e.engine.alphabet_size) for e in self.explainers}
        if len(shapes) > 1:
            raise ValueError(f"the ensemble's models take different inputs (L, A): {sorted(shapes, key=str)}")
        targets = {target_key(e.target) for e in self.explainers}
        if len(targets) > 1:
            raise ValueError(f"the ensemble's explainers explain different target units: "
                             f"{sorted({repr(e.target) for e in self.explainers})}")

    def explain(self, x: Any, method: GradientMethod | str, *, outputs: tuple[str, ...] = MAPS,
                check_simplex: bool = True, average_strands: bool = False, **options: Any) -> EnsembleAttribution:
        """``method`` on ``x (N, L, A)`` by every model: mean maps, angles of the mean gradient
        and the dispersion of the maps asked for in ``outputs``."""
        method = as_method(method, options)
        sums = [e.engine.sums(x, method, outputs, check_simplex, average_strands) for e in self.explainers]
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

    def integrated_gradients(self, x: Any, **kwargs: Any) -> EnsembleAttribution:
        """Ensemble integrated gradients (options as in ``Explainer.integrated_gradients``)."""
        return self.explain(x, "integrated_gradients", **kwargs)

    def expected_gradients(self, x: Any, **kwargs: Any) -> EnsembleAttribution:
        """Ensemble expected gradients (options as in ``Explainer.expected_gradients``)."""
        return self.explain(x, "expected_gradients", **kwargs)
