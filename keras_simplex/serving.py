"""SavedModel export for TF Serving: predictions plus attribution signatures.

Signatures (input ``sequences``: float32 ``(batch, L, A)`` one-hot; batch dynamic):

======================== ===================================================================
``serving_default``      ``predictions``: the model output
``corrected_saliency``   ``corrected_saliency`` (batch, L, A), ``predictions``
``raw_saliency``         ``raw_saliency`` (batch, L, A), ``predictions``
``integrated_gradients`` ``integrated_gradients`` (corrected, ``(x - b) * mean path gradient``),
                         ``raw_integrated_gradients``, ``predictions``
``angles``               ``angles`` (batch, L) in degrees, ``predictions``
======================== ===================================================================

A model whose output is a list or a dict returns ``predictions_0``, ``predictions_1``, ... or
``predictions_<key>`` instead of ``predictions``. With ``target="all"`` (one map per output
unit) maps are ``(batch, T, L, A)`` and angles ``(batch, T, L)``; a list target is summed into
one map.

Every signature checks its input in the graph: an empty batch, or a batch whose length or
alphabet differs from the model's, that contains NaN/Inf, or whose positions are not one-hot
(or, with ``require_one_hot=False``, not on the simplex) fails with INVALID_ARGUMENT instead of
returning a wrong map. Signatures are not XLA-compiled (TF Serving runs XLA only
experimentally). The export's settings are written to ``assets.extra/keras_simplex.json``
(``export_settings``). REST and gRPC request examples, batching and memory: ``docs/serving.md``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras
import tensorflow as tf

from keras_simplex import methods
from keras_simplex._version import __version__
from keras_simplex.atomic import atomic_output, check_replaceable_folder
from keras_simplex.explainer import Explainer
from keras_simplex.introspection import input_spec
from keras_simplex.targets import Target

SIGNATURES = ("serving_default", "corrected_saliency", "raw_saliency", "integrated_gradients", "angles")
SETTINGS_FILE = os.path.join("assets.extra", "keras_simplex.json")  # the export's settings, beside the SavedModel


def saved_model_file(name: str) -> bool:
    """Whether ``name`` is an entry of a SavedModel folder."""
    return name in ("saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "keras_metadata.pb", "variables",
                    "assets", "assets.extra")


# What an export replaces (keras_simplex.atomic): a previous SavedModel, never a folder of other
# files (a TF Serving base path holds numbered versions: exporting onto it would swap them away).
SAVED_MODEL = dict(own=saved_model_file, what="SavedModel",
                   hint=" (TF Serving reads numbered versions: export to BASE/1, BASE/2, ...)")


def _checked(x: tf.Tensor, length: int, size: int, require_one_hot: bool, atol: float = 1e-3) -> tf.Tensor:
    """``x`` with in-graph checks attached (each raises InvalidArgumentError)."""
    shape = tf.shape(x)
    checks = [
        tf.debugging.assert_positive(shape[0], message="a request needs at least one sequence"),
        tf.debugging.assert_equal(shape[1], length, message=f"sequences must have length {length}"),
        tf.debugging.assert_equal(shape[2], size, message=f"sequences must have an alphabet of {size} letters"),
        tf.debugging.assert_all_finite(x, message="sequences contain NaN or Inf"),
    ]
    sums = tf.reduce_sum(x, axis=-1)
    checks.append(tf.debugging.assert_near(sums, tf.ones_like(sums), atol=atol, rtol=0.0,
                                           message="every position must sum to 1 over the alphabet"))
    if require_one_hot:
        binary = tf.reduce_all((tf.abs(x) <= atol) | (tf.abs(x - 1) <= atol))
        checks.append(tf.debugging.Assert(binary, ["sequences must be one-hot (entries 0 or 1)"]))
    else:
        checks.append(tf.debugging.assert_greater_equal(x, -atol, message="sequences must be non-negative"))
    with tf.control_dependencies(checks):
        return tf.identity(x)


def export_saved_model(
    model: keras.Model,
    export_dir: str | os.PathLike,
    *,
    target: Target = None,
    logits: bool = False,
    ig_steps: int = 20,
    ig_rule: str = "trapezoid",
    ig_baseline: Any = "uniform",
    require_one_hot: bool = True,
    fast: bool | None = None,
    length: int | None = None,
    metadata: dict | None = None,
) -> str:
    """Write a SavedModel with prediction and attribution signatures (see module docstring),
    and its settings in ``assets.extra/keras_simplex.json`` (``export_settings`` reads them).

    Args:
      model: a trained Keras model.
      export_dir: output directory (a version folder such as ``models/mymodel/1`` for TF Serving).
      target, logits: which output the attributions explain (as in ``saliency``).
      ig_steps, ig_rule: integrated-gradients quadrature, fixed at export.
      ig_baseline: ``"uniform"``, ``"zeros"`` or an ``(L, A)`` array, fixed at export.
      require_one_hot: reject inputs that are not one-hot; with False, any input on the
        simplex is accepted (e.g. N encoded as 0.25).
      fast: use the verified speed rewrites in the attribution signatures (None: the
        ``keras_simplex.set_fast_paths`` default).
      length: the signatures' sequence length, needed for a model that reads any length (None:
        the model's own).
      metadata: more entries for ``keras_simplex.json`` (e.g. the source model's path).

    Returns:
      ``export_dir`` as a string.
    """
    check_replaceable_folder(export_dir, **SAVED_MODEL)
    own_length, size, _ = input_spec(model)
    if own_length is None and length is None:
        raise ValueError("the model reads sequences of any length: give the length of the exported signatures "
                         "(length=..., keras-simplex export --length N)")
    if own_length is not None and length not in (None, own_length):
        raise ValueError(f"length {length}, but the model reads sequences of {own_length}")
    shape = None if own_length is not None else (int(length), size)
    engine = Explainer(model, target, logits=logits, jit_compile=False, fast=fast, sequence_shape=shape).engine
    length = engine.sequence_length
    settings = {"keras_simplex_version": __version__, "signatures": list(SIGNATURES), "sequence_length": length,
                "alphabet_size": size, "target": _plain_target(engine.per_target if engine.per_target is not None
                                                               else engine.target),
                "per_target": engine.per_target is not None, "logits": bool(logits), "ig_steps": ig_steps,
                "ig_rule": ig_rule, "ig_baseline": ig_baseline if isinstance(ig_baseline, str) else "array",
                "require_one_hot": bool(require_one_hot), "fast": engine.fast}
    clash = sorted(set(metadata or {}) & set(settings))
    if clash:
        raise ValueError(f"metadata may not set {', '.join(clash)}: the export records them itself")
    settings.update(metadata or {})
    saliency_maps = engine.graph_attribution(methods.saliency())
    integrated_maps = engine.graph_attribution(methods.integrated_gradients(ig_baseline, ig_steps, ig_rule),
                                               ("raw", "corrected"))
    spec = tf.TensorSpec([None, length, size], tf.float32, name="sequences")

    def predictions(x) -> dict:
        output = model(x, training=False)
        if isinstance(output, dict):
            return {f"predictions_{key}": value for key, value in output.items()}
        if isinstance(output, (list, tuple)):
            return {f"predictions_{index}": value for index, value in enumerate(output)}
        return {"predictions": output}

    @tf.function(input_signature=[spec])
    def serve(sequences):
        return predictions(_checked(sequences, length, size, require_one_hot))

    @tf.function(input_signature=[spec])
    def saliency(sequences):
        x = _checked(sequences, length, size, require_one_hot)
        maps = saliency_maps(x)
        return {"corrected_saliency": maps["corrected"], "raw_saliency": maps["raw"], "angles": maps["angles"],
                **predictions(x)}

    def selecting(key):  # a signature returning one map of the saliency pass, and the predictions
        @tf.function(input_signature=[spec])
        def signature(sequences):
            outputs = saliency(sequences)
            return {name: value for name, value in outputs.items() if name == key or name.startswith("predictions")}

        return signature

    @tf.function(input_signature=[spec])
    def integrated_gradients(sequences):
        x = _checked(sequences, length, size, require_one_hot)
        maps = integrated_maps(x)
        return {"integrated_gradients": maps["corrected"], "raw_integrated_gradients": maps["raw"],
                **predictions(x)}

    archive = keras.export.ExportArchive()
    for used in engine.models_used:  # the model, and its float32 copy if it computes in 16 bits
        archive.track(used)
    archive.add_endpoint("serving_default", serve)
    archive.add_endpoint("corrected_saliency", selecting("corrected_saliency"))
    archive.add_endpoint("raw_saliency", selecting("raw_saliency"))
    archive.add_endpoint("integrated_gradients", integrated_gradients)
    archive.add_endpoint("angles", selecting("angles"))
    with atomic_output(export_dir, **SAVED_MODEL) as temporary:  # a previous export survives any failure
        archive.write_out(temporary, verbose=False)
        os.makedirs(os.path.join(temporary, "assets.extra"), exist_ok=True)
        with open(os.path.join(temporary, SETTINGS_FILE), "w") as f:
            json.dump(settings, f, indent=1)
    return os.fspath(export_dir)


def export_settings(export_dir: str | os.PathLike) -> dict:
    """The settings an export was made with (``assets.extra/keras_simplex.json``): target,
    ``logits``, the integrated-gradients quadrature and baseline, input checks, length, version."""
    with open(os.path.join(export_dir, SETTINGS_FILE)) as f:
        return json.load(f)


def _plain_target(target: Target) -> Any:
    """``target`` as JSON can hold it: None, an index, a list of indices, or a description."""
    if target is None or isinstance(target, int):
        return target
    if isinstance(target, (list, tuple)):
        return list(target)
    if isinstance(target, slice):
        return f"slice({target.start}, {target.stop}, {target.step})"
    return f"callable {getattr(target, '__name__', type(target).__name__)}"
