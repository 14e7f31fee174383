"""The one adapter between the engine and the speed rewrites (see ``keras_simplex._fast``)."""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from keras_simplex._fast.convolution import block_size, convolution_call, projected_input_gradients, rewritable
from keras_simplex._fast.epilogue import convolution_epilogues
from keras_simplex._fast.folding import foldable_pairs, folded_call
from keras_simplex._fast.pooling import pool_first_pairs, pooled_call
from keras_simplex.functional_graph import GraphLinks, Wrapper, functional_graph, graph_forward

FAST_PATHS_VARIABLE = "KERAS_SIMPLEX_FAST_PATHS"
_switch: bool | None = None  # set_fast_paths; None: the environment variable decides


def set_fast_paths(enabled: bool | None) -> None:
    """Turn the speed rewrites on or off for every explainer built from now on (``None``:
    back to the default, ``KERAS_SIMPLEX_FAST_PATHS``, on unless it is 0/false/off)."""
    global _switch
    _switch = None if enabled is None else bool(enabled)


def fast_paths_enabled(fast: bool | None = None) -> bool:
    """Whether to use the rewrites: ``fast`` if given, else the switch, else the variable."""
    if fast is not None:
        return bool(fast)
    if _switch is not None:
        return _switch
    return os.environ.get(FAST_PATHS_VARIABLE, "1").strip().lower() not in ("0", "false", "off", "no")


def speed_replacements(graph: Any, fold_batch_norm: bool = True, convolutions: bool = True, pool_first: bool = True,
                       low_precision: bool = False) -> tuple[dict[int, Callable], Any]:
    """Operation id -> faster call for the layers of a functional graph that can be
    rewritten, and the rewritten convolution whose input gradient is projected (or None).

    The rewrites: batch norm folded into the layer before it (``folding``); on CPU, ``Conv1D``
    layers through a fusable convolution with a transposed-convolution input gradient, blocked
    where the input is narrow (``convolution``; GPU libraries handle both themselves), with the
    activation and max pooling after them computed in their call (``epilogue``; the pooling
    only with ``pool_first``); elsewhere, max pooling before a non-decreasing activation
    (``pooling``, with ``pool_first``). ``low_precision``: the graph computes in bfloat16
    (``keras_simplex.precision``), its rewrite checked against float32. The rewritten
    convolution that alone reads the input (``projecting_convolution``) projects its input
    gradient within ``keras_simplex._fast.convolution.projected_input_gradients``."""
    pairs = foldable_pairs(graph, low_precision) if fold_batch_norm else []
    rewritten = rewritten_convolutions(graph, convolutions, low_precision)
    projecting = projecting_convolution(graph, rewritten)
    epilogues = convolution_epilogues(graph, rewritten, {id(norm) for _, norm in pairs}, pool_first)
    epilogue = {layer: function for layer, (function, _) in epilogues.items()}
    replacements: dict[int, Callable] = {}
    for linear, norm in pairs:
        block = block_size(linear, low_precision) if id(linear) in rewritten else None
        replacements[id(linear)] = folded_call(linear, norm, id(linear) in rewritten, block, epilogue.get(id(linear)),
                                               projects=linear is projecting)
        replacements[id(norm)] = _identity
    for layer in graph.layers:
        if id(layer) in rewritten and id(layer) not in replacements:
            replacements[id(layer)] = convolution_call(layer, block_size(layer, low_precision), epilogue.get(id(layer)),
                                                       projects=layer is projecting)
    for _, taken in epilogues.values():
        replacements.update({id(layer): _identity for layer in taken})
    for source, pooling, activation in pool_first_pairs(graph) if pool_first else ():
        if id(source) not in replacements and id(pooling) not in replacements:
            replacements[id(source)] = _identity
            replacements[id(pooling)] = pooled_call(pooling, activation)
    return replacements, projecting


def rewritten_convolutions(graph: Any, convolutions: bool = True, low_precision: bool = False) -> set[int]:
    """Ids of the layers ``speed_replacements`` runs through ``conv1d`` (CPU only)."""
    if not convolutions or tf.config.list_logical_devices("GPU"):
        return set()
    return {id(layer) for layer in graph.layers if rewritable(layer, low_precision)}


def projecting_convolution(graph: Any, rewritten: set[int]) -> Any:
    """The rewritten convolution (id in ``rewritten``) that is the only reader of the graph's
    only input, called once, so that its input gradient is the model's; else None."""
    if len(graph.inputs) != 1:
        return None
    links, source = GraphLinks(graph), graph.inputs[0]
    if links.consumers.get(id(source)) != 1:
        return None
    for node in links.nodes:
        layer = node.operation
        if (id(layer) in rewritten and links.uses[id(layer)] == 1 and len(node.input_tensors) == 1
                and node.input_tensors[0] is source):
            return layer
    return None


def _identity(inputs, **_):
    return inputs


class FastForward:
    """The model's inference forward, through the rewritten graph once it is verified.

    Args:
      model: the Keras model.
      plain: ``forward(x)`` of the model as it is (with its logit wrappers, if any).
      wrappers: the logit wrappers (``functional_graph.graph_forward``), also applied to the
        rewritten graph.
      enabled: try the rewrites at all.
      fold_batch_norm, convolutions, pool_first: which rewrites to try (``speed_replacements``).
      reference: for a model computing in reduced precision, the float32 model's forward:
        the rewrite must then be about as close to it as ``plain`` is (``_as_close``).

    ``forward(length)`` returns the forward to trace. The first call checks the rewritten
    graph's outputs and input gradients against ``plain`` on a probe batch of that length
    (so length-agnostic models are probed at a length they accept) and keeps whichever is
    right; anything the rewrite cannot handle (an error while building, tracing or running
    it, or a different result) gives one warning and the model as it is.
    """

    def __init__(self, model: keras.Model, plain: Callable, wrappers: dict[int, Wrapper], enabled: bool,
                 fold_batch_norm: bool = True, convolutions: bool = True, pool_first: bool = True,
                 reference: Callable | None = None) -> None:
        self.plain, self.reference = plain, reference
        self.rewritten: Callable | None = None
        self._chosen: Callable | None = None
        self._projects = False
        graph = functional_graph(model) if enabled else None
        if graph is not None:
            try:
                replacements, projecting = speed_replacements(graph, fold_batch_norm, convolutions, pool_first,
                                                              low_precision=reference is not None)
                self._projects = projecting is not None
            except Exception as error:  # an unexpected layer attribute: keep the model as it is
                _warn(error)
                replacements = {}
            if replacements:
                self.rewritten = graph_forward(graph, replacements, wrappers)

    @property
    def active(self) -> bool:
        """Whether the rewritten graph is in use (known after the first ``forward`` call)."""
        return self._chosen is not None and self._chosen is self.rewritten

    @property
    def projection(self) -> Callable[[], Any] | None:
        """A context manager factory within which the chosen forward's input gradients come
        out projected onto the simplex's tangent space (traced within it), or None when its
        input is not read by one rewritten convolution alone."""
        return projected_input_gradients if self.active and self._projects else None

    def forward(self, length: int, alphabet_size: int, dtype: tf.DType) -> Callable:
        """The forward to use for inputs ``(N, length, alphabet_size)`` of ``dtype``."""
        if self._chosen is None:
            self._chosen = self.plain
            if self.rewritten is not None:
                if not tf.executing_eagerly():  # the probe needs eager values (callers ask first)
                    raise RuntimeError("FastForward.forward must first be called eagerly, not while tracing")
                self._chosen = self._verified(length, alphabet_size, dtype)
        return self._chosen

    def _verified(self, length: int, alphabet_size: int, dtype: tf.DType) -> Callable:
        """The rewritten forward if it agrees with the plain one on a probe batch, else the
        plain one (with a warning)."""
        probe = tf.constant(np.random.default_rng(0).random((2, length, alphabet_size)), dtype)
        try:
            if (_agree(self.plain, self.rewritten, probe) if self.reference is None
                    else _as_close(self.reference, self.plain, self.rewritten, probe)):
                return self.rewritten
            error: Any = "it changed the outputs or input gradients"
        except Exception as raised:  # noqa: BLE001 - any failure means: not this path
            error = raised
        _warn(error)
        return self.plain


def first_line(error: Any) -> str:
    """The first line of an error (or of a reason given as text), else its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _warn(error: Any) -> None:
    warnings.warn(f"keras_simplex: the speed rewrite of this model (batch-norm folding, convolutions, pooling) "
                  f"was not used ({first_line(error)}); attributing the model as it is", stacklevel=4)


def _outputs_and_gradient(function: Callable, probe: tf.Tensor) -> list[np.ndarray]:
    """``function``'s outputs on ``probe`` and the input gradient of their sum, as float64."""
    with tf.GradientTape() as tape:
        tape.watch(probe)
        outputs = keras.tree.flatten(function(probe))
        total = tf.add_n([tf.reduce_sum(tf.cast(output, tf.float32)) for output in outputs])
    gradient = tape.gradient(total, probe, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [np.asarray(value, np.float64) for value in (*outputs, gradient)]


def _agree(reference: Callable, candidate: Callable, probe: tf.Tensor) -> bool:
    """Whether two forwards give the same outputs and input gradients on ``probe``."""
    for expected, rewritten in zip(_outputs_and_gradient(reference, probe), _outputs_and_gradient(candidate, probe)):
        if expected.shape != rewritten.shape:
            return False
        if not np.allclose(rewritten, expected, rtol=1e-4, atol=1e-5 * (np.abs(expected).max() + 1e-12)):
            return False
    return True


def _as_close(reference: Callable, plain: Callable, candidate: Callable, probe: tf.Tensor) -> bool:
    """Whether ``candidate``'s outputs and input gradient on ``probe`` are about as close to
    ``reference``'s (float32) as ``plain``'s are (both computing in a reduced precision): a
    relative root-mean-square error at most 3 times ``plain``'s. Folding rounds the folded
    weights to the reduced precision once more, which measured 1.4-2.4x ``plain``'s output error
    on CNN-deep in bfloat16 (and the same input-gradient error)."""
    def relative_error(value: np.ndarray, expected: np.ndarray) -> float:
        return float(np.sqrt(np.mean((value - expected) ** 2) / (np.mean(expected**2) + 1e-30)))

    results = [_outputs_and_gradient(function, probe) for function in (reference, plain, candidate)]
    for expected, own, rewritten in zip(*results):
        if not expected.shape == own.shape == rewritten.shape:
            return False
        if relative_error(rewritten, expected) > 3 * relative_error(own, expected) + 1e-6:
            return False
    return True
