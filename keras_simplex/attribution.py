"""The functional API: ``method(model, x, ...) -> (N, L, A)`` map, corrected by default.

Each function is one call of an ``Explainer`` (``keras_simplex.explainer``): ``model`` is a
Keras model (an explainer is built once and cached for it and these settings) or an
``Explainer`` to reuse (settings passed with it must match its own). Method options
(``steps``, ``baseline``, ``samples``, ...) and their defaults are the registry's
(``keras_simplex.methods``). Only the map asked for is computed.

Common arguments:
  model: Keras model or Explainer.
  x: ``(N, L, A)`` one-hot sequences.
  correct: remove the off-simplex component of the gradient (subtract the per-position
    mean) before any multiplication by the input; False gives the raw map.
  check_simplex: reject positions that are not probability vectors.
  average_strands: average with the reverse-complement strand's map (``Explainer``).
  target, reduce, logits, jit_compile, max_points, fast, precision: the explainer's settings (see
    ``Explainer``); ``target="all"`` or ``reduce=None`` give ``(N, T, L, A)`` maps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_simplex.explainer import UNSET, explainer_for
from keras_simplex.targets import Target


def _attribute(name: str, model: Any, x: Any, correct: bool, check_simplex: bool, average_strands: bool,
               settings: dict, options: dict) -> np.ndarray:
    explainer = explainer_for(model, **settings)
    field = "corrected" if correct else "raw"
    return explainer.explain(x, name, outputs=(field,), check_simplex=check_simplex, average_strands=average_strands,
                             **options).select(correct)


def saliency(model: Any, x: Any, *, correct: bool = True, check_simplex: bool = True, average_strands: bool = False,
             target: Target = UNSET, reduce: Any = UNSET, logits: bool = UNSET, jit_compile: Any = UNSET,
             max_points: Any = UNSET, fast: Any = UNSET, precision: Any = UNSET) -> np.ndarray:
    """Saliency map ``df/dx`` of ``x (N, L, A)``: ``(N, L, A)``, in units of the target (the
    output, or its logit with ``logits=True``) per unit of input; corrected by default (the
    per-position mean over the alphabet removed). The arguments are described in the module
    docstring (``keras_simplex.attribution``); e.g. ``ks.saliency(model, x, target=2)``."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return _attribute("saliency", model, x, correct, check_simplex, average_strands, settings, {})


def gradient_x_input(model: Any, x: Any, *, correct: bool = True, check_simplex: bool = True,
                     average_strands: bool = False, target: Target = UNSET, reduce: Any = UNSET, logits: bool = UNSET,
                     jit_compile: Any = UNSET, max_points: Any = UNSET, fast: Any = UNSET,
                     precision: Any = UNSET) -> np.ndarray:
    """Gradient x input, ``x * df/dx``, ``(N, L, A)``; the correction applies to the gradient."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return _attribute("gradient_x_input", model, x, correct, check_simplex, average_strands, settings, {})


def integrated_gradients(model: Any, x: Any, *, correct: bool = True, check_simplex: bool = True,
                         average_strands: bool = False, target: Target = UNSET, reduce: Any = UNSET,
                         logits: bool = UNSET, jit_compile: Any = UNSET, max_points: Any = UNSET, fast: Any = UNSET,
                         precision: Any = UNSET,
                         **options: Any) -> np.ndarray:
    """Integrated gradients, ``(N, L, A)``. Options (``keras_simplex.methods.integrated_gradients``):
    ``baseline="uniform"``, ``steps=50``, ``rule="trapezoid"``, ``num_baselines=1``, ``seed=0``,
    ``multiply_by_inputs=True``, ``hypothetical=False``."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return _attribute("integrated_gradients", model, x, correct, check_simplex, average_strands, settings, options)


def expected_gradients(model: Any, x: Any, *, correct: bool = True, check_simplex: bool = True,
                       average_strands: bool = False, target: Target = UNSET, reduce: Any = UNSET,
                       logits: bool = UNSET, jit_compile: Any = UNSET, max_points: Any = UNSET, fast: Any = UNSET,
                       precision: Any = UNSET,
                       **options: Any) -> np.ndarray:
    """Expected gradients, ``(N, L, A)``. Options (``keras_simplex.methods.expected_gradients``):
    ``baseline="dinucleotide_shuffle"``, ``num_baselines=10``, ``steps=20``, ``rule``, ``seed``,
    ``multiply_by_inputs``, ``hypothetical``."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return _attribute("expected_gradients", model, x, correct, check_simplex, average_strands, settings, options)


def smoothgrad(model: Any, x: Any, *, correct: bool = True, check_simplex: bool = True, average_strands: bool = False,
               target: Target = UNSET, reduce: Any = UNSET, logits: bool = UNSET, jit_compile: Any = UNSET,
               max_points: Any = UNSET, fast: Any = UNSET, precision: Any = UNSET, **options: Any) -> np.ndarray:
    """SmoothGrad, ``(N, L, A)``. Options (``keras_simplex.methods.smoothgrad``): ``samples=25``,
    ``sigma=0.1``, ``seed=0``, ``multiply_by_inputs=False``."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return _attribute("smoothgrad", model, x, correct, check_simplex, average_strands, settings, options)


def gradient_angles(model: Any, x: Any, *, check_simplex: bool = True, average_strands: bool = False,
                    target: Target = UNSET, reduce: Any = UNSET, logits: bool = UNSET, jit_compile: Any = UNSET,
                    max_points: Any = UNSET, fast: Any = UNSET, precision: Any = UNSET) -> np.ndarray:
    """Per-position angle (degrees) between the input gradient and the simplex, ``(N, L)``."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return explainer_for(model, **settings).angles(x, check_simplex=check_simplex, average_strands=average_strands)


def ism(model: Any, x: Any, *, positions: Any = None, mean_centered: bool = False, check_simplex: bool = True,
        target: Target = UNSET, reduce: Any = UNSET, logits: bool = UNSET, jit_compile: Any = UNSET,
        max_points: Any = UNSET, fast: Any = UNSET, precision: Any = UNSET) -> np.ndarray:
    """In-silico mutagenesis, ``(N, P, A)`` (``P`` = L, or the ``positions`` asked for): the
    change of the target for every single-letter substitution (``Explainer.ism``)."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return explainer_for(model, **settings).ism(x, positions=positions, mean_centered=mean_centered,
                                                check_simplex=check_simplex)


def taylor_ism(model: Any, x: Any, *, check_simplex: bool = True, target: Target = UNSET, reduce: Any = UNSET,
               logits: bool = UNSET, jit_compile: Any = UNSET, max_points: Any = UNSET, fast: Any = UNSET,
               precision: Any = UNSET) -> np.ndarray:
    """First-order ISM from one gradient, ``g[l, b] - <x[l], g[l]>``, ``(N, L, A)``."""
    settings = dict(target=target, reduce=reduce, logits=logits, jit_compile=jit_compile, max_points=max_points,
                    fast=fast, precision=precision)
    return explainer_for(model, **settings).taylor_ism(x, check_simplex=check_simplex)
