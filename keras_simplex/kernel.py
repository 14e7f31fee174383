"""The compiled gradient kernel: one call turns a chunk of sequences into reduced maps.

For a chunk of C sequences, all G x K points ``start + alpha * (x - start) (+ noise)`` go
through one ``tf.function`` (optionally XLA) that differentiates the target, applies the
simplex correction and reduces the gradients on the device, so only ``(C, L, A)`` sums come
back to the host. Chunking, baselines and devices are the engine's business
(``keras_simplex.engine``).
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable

import tensorflow as tf

from keras_simplex.geometry import project_to_simplex, simplex_angle
from keras_simplex.results import MAPS
from keras_simplex.targets import Target, target_values


class GradientKernel:
    """Compiled weighted input-gradient sums of ``forward``'s target.

    Args:
      forward: ``forward(points) -> outputs``, the model's inference call (or its rewrite).
      target: what to differentiate (``targets.select_target``).
      sequence_length, alphabet_size, dtype: the input spec (``L`` None: any length).
      jit_compile: XLA-compile the differentiation and reductions.
      per_target: output units that keep their own map (``targets.per_target_indices``): maps
        get a target axis ``T`` after the sequence axis, all T gradients of a point from one
        forward pass (a vectorised Jacobian). None: the target is one scalar.
      pieces: the independent slices a call differentiates its points in (``in_pieces``).
      projection: a context manager factory within which ``forward``'s input gradients are
        traced already projected onto the simplex's tangent space
        (``keras_simplex._fast.rewrite.FastForward.projection``), used when only corrected
        maps are asked for; None: the kernel projects.
    """

    def __init__(self, forward: Callable, target: Target, sequence_length: int | None, alphabet_size: int,
                 dtype: tf.DType, jit_compile: bool, per_target: tuple[int, ...] | None = None,
                 pieces: int = 1, projection: Callable[[], Any] | None = None) -> None:
        self.forward = forward
        self.projection = projection
        self.target = target
        self.per_target = per_target
        self.sequence_length, self.alphabet_size, self.dtype = sequence_length, alphabet_size, dtype
        self.jit_compile = jit_compile
        self.pieces = int(pieces)
        self._functions: dict[tuple, Any] = {}
        self._reductions: dict[tuple, Any] = {}

    def _reduction(self, form: str, outputs: tuple[str, ...]):
        """``_reduce_gradients`` for these options, XLA-compiled if asked (built once)."""
        key = (form, outputs)
        if key not in self._reductions:
            reduce = functools.partial(self._reduce_gradients, form=form, outputs=outputs)
            self._reductions[key] = tf.function(reduce, jit_compile=True) if self.jit_compile else reduce
        return self._reductions[key]

    def _weighted_gradients(self, points, weights):
        """Gradients of the target at ``points (C, G, K, L, A)`` times ``weights (G, K)``:
        ``(C, G, K, L, A)``, or ``(C * T, G, K, L, A)`` (sequence-major) per target.

        The points are differentiated in ``self.pieces`` independent slices (``in_pieces``)."""
        shape = tf.shape(points)
        flat = tf.reshape(points, tf.concat([[-1], shape[3:]], axis=0))
        point_weights = tf.reshape(tf.broadcast_to(weights, shape[:3]), [-1])
        grads = in_pieces(lambda begin, end: self._point_gradients(flat[begin:end], point_weights[begin:end]),
                          tf.shape(flat)[0], self.pieces, axis=0 if self.per_target is None else 1)
        if self.per_target is None:
            return tf.reshape(tf.cast(grads, points.dtype), shape)
        grads = tf.reshape(tf.cast(grads, points.dtype), tf.concat([[len(self.per_target)], shape], axis=0))
        grads = tf.transpose(grads, [1, 0, 2, 3, 4, 5])  # (C, T, G, K, L, A)
        return tf.reshape(grads, tf.concat([[-1], shape[1:]], axis=0))

    def _point_gradients(self, flat, point_weights):
        """Gradients of ``point_weights``-weighted target values at ``flat (P, L, A)``:
        ``(P, L, A)``, or ``(T, P, L, A)`` per target."""
        with tf.GradientTape() as tape:
            tape.watch(flat)
            values = target_values(self.forward(flat), self.target, self.per_target, flat.dtype)
            if self.per_target is None:
                total = tf.reduce_sum(values * point_weights)
            else:  # (T,) totals; the Jacobian's rows are vectorised backward passes
                total = tf.reduce_sum(values * point_weights[:, None], axis=0)
        if self.per_target is None:
            return tape.gradient(total, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return tape.jacobian(total, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def _reduce_gradients(self, x, starts, points, weights, form: str, outputs: tuple[str, ...]) -> dict[str, tf.Tensor]:
        """Weighted gradients at ``points (C, G, K, L, A)`` of ``x (C, L, A)`` summed per sequence.

        The point weights ``weights (G, K)`` enter the differentiated total, so the tape
        returns weighted gradients and every sum below is a plain reduction. ``form`` says what
        the maps are (``GradientMethod.form``): ``"gradient"`` (the gradient sum),
        ``"contribution"`` (``x - start`` times each start's path gradient, summed over the
        starts ``starts (C or 1, G, L, A)``) or ``"hypothetical"`` (each start's path gradient
        ``m`` minus ``<start, m>`` at every position, summed: the contribution every letter
        would have had). Returns the ``outputs`` asked for among: ``raw`` and ``corrected``
        maps ``(C, L, A)`` (``(C, T, L, A)`` per target), the ``angles`` of the gradient sum
        (valid when the call holds all points of a sequence) and that sum, ``gradient``. Work
        for outputs not asked for is pruned from the graph.
        """
        if form == "gradient" and "delta" in outputs:
            raise ValueError("the convergence delta is defined for maps that multiply by the input (integrated "
                             "and expected gradients, gradient x input)")
        # Only corrected maps asked for: the forward may project its gradients itself. Then
        # the raw-gradient outputs below are not what they say, and never returned.
        projected = self.projection is not None and set(outputs) <= {"corrected"}
        with self.projection() if projected else contextlib.nullcontext():
            grads = self._weighted_gradients(points, weights)
        project = (lambda gradients: gradients) if projected else project_to_simplex
        gradient = tf.reduce_sum(grads, axis=[1, 2])
        results = {"gradient": gradient, "angles": simplex_angle(gradient)}
        if form == "gradient":  # the projection is linear: project the sum
            results["raw"] = gradient
            results["corrected"] = project(gradient)
        else:
            if "delta" in outputs:  # before x and the starts are repeated per target
                endpoints = self._endpoint_difference(x, starts, weights)
            path = tf.reduce_sum(grads, axis=2)  # (C [* T], G, L, A)
            starts = tf.broadcast_to(starts, tf.concat([tf.shape(x)[:1], tf.shape(starts)[1:]], axis=0))
            if self.per_target is not None:
                x, starts = (tf.repeat(a, len(self.per_target), axis=0) for a in (x, starts))
            for name, per_start in (("raw", path), ("corrected", project(path))):
                if form == "contribution":
                    results[name] = tf.reduce_sum((x[:, None] - starts) * per_start, axis=1)
                else:
                    reference = tf.reduce_sum(starts * per_start, axis=-1, keepdims=True)
                    results[name] = tf.reduce_sum(per_start - reference, axis=1)
            if "delta" in outputs:  # f(x) - f(start) - sum(map), for this call's share of the weights
                contribution = results["raw"] if form == "contribution" else x * results["raw"]
                results["delta"] = endpoints - tf.reshape(tf.reduce_sum(contribution, axis=[1, 2]), tf.shape(endpoints))
        results = {name: results[name] for name in outputs}
        if self.per_target is not None:  # (C * T, ...) -> (C, T, ...)
            targets = len(self.per_target)
            results = {name: value if name == "delta" else
                       tf.reshape(value, tf.concat([[-1, targets], tf.shape(value)[1:]], axis=0))
                       for name, value in results.items()}
        return results

    def _endpoint_difference(self, x, starts, weights):
        """``sum_g (f(x) - f(start_g)) * sum_k weights[g, k]``, ``(C,)`` (``(C, T)``): the part
        of ``f(x) - mean_g f(start_g)`` that this call's weights (a share of the steps) carry,
        so that the parts of all calls add up to it."""
        shape = tf.shape(starts)
        flat_starts = tf.reshape(tf.broadcast_to(starts, tf.concat([tf.shape(x)[:1], shape[1:]], axis=0)),
                                 tf.concat([[-1], shape[2:]], axis=0))
        values = target_values(self.forward(tf.concat([x, flat_starts], axis=0)), self.target, self.per_target, x.dtype)
        if self.per_target is None:
            values = values[:, None]
        count = tf.shape(x)[0]
        at_x = values[:count]  # (C, T')
        at_starts = tf.reshape(values[count:], [count, shape[1], -1])  # (C, G, T')
        share = tf.reduce_sum(weights, axis=1)  # (G,)
        difference = tf.reduce_sum((at_x[:, None] - at_starts) * share[None, :, None], axis=1)
        return difference[:, 0] if self.per_target is None else difference
    def graph_attribution(self, x, starts, group_weights, alphas, step_weights, noise=None,
                          form: str = "gradient", outputs: tuple[str, ...] = MAPS,
                          at_inputs: bool = False) -> dict[str, tf.Tensor]:
        """The chunk computation as TensorFlow ops (usable in any ``tf.function``, e.g. a
        serving signature): points from ``x (C, L, A)`` and ``starts (C or 1, G, L, A)`` at
        fractions ``alphas (K,)``, plus ``noise (C, 1, K, L, A)`` if given, weighted by
        ``group_weights (G,)`` and ``step_weights (K,)``; ``form`` as in ``_reduce_gradients``;
        ``at_inputs``: every alpha is 1 (``GradientMethod.at_inputs``), so the points are ``x``
        whatever the starts, made without arithmetic. Returns the ``outputs`` asked for:
        ``raw``, ``corrected`` ``(C, L, A)``, ``angles (C, L)`` or ``gradient (C, L, A)``
        (with a target axis after C per target)."""
        if at_inputs:
            points = x[:, None, None]
        else:
            offsets = x[:, None] - starts  # (C, G, L, A)
            points = starts[:, :, None] + alphas[:, None, None] * offsets[:, :, None]
        if noise is not None:
            points = points + noise
        if at_inputs:  # (C, G, K, L, A); no copy when G = K = 1, or G = 1 with noise
            points = tf.broadcast_to(points, tf.concat([tf.shape(x)[:1], tf.shape(starts)[1:2], tf.shape(alphas),
                                                        tf.shape(x)[1:]], axis=0))
        weights = group_weights[:, None] * step_weights[None, :]
        return self._reduction(form, tuple(outputs))(x, starts, points, weights)

    def compiled_function(self, noisy: bool = False, form: str = "gradient", outputs: tuple[str, ...] = MAPS,
                          at_inputs: bool = False):
        """The ``tf.function`` for one chunk (traced once; dynamic batch, group, step axes);
        ``at_inputs`` as in ``graph_attribution``.

        Inputs: ``x (C, L, A)``, ``starts (C or 1, G, L, A)``, ``group_weights (G,)``,
        ``alphas (K,)``, ``step_weights (K,)``; with ``noisy`` also ``sigma ()``, ``seeds
        (C, 2)`` int64 (one stateless seed per sequence), ``total_steps ()`` and
        ``step_offset ()`` int32 (noise of sample k is row ``step_offset + k`` of a
        ``(total_steps, L, A)`` draw, so results do not depend on chunking).
        Returns the dictionary of ``graph_attribution``.
        """
        key = (bool(noisy), form, tuple(outputs), bool(at_inputs))
        if key not in self._functions:
            self._functions[key] = self._build(*key)
        return self._functions[key]

    def _build(self, noisy: bool, form: str, outputs: tuple[str, ...], at_inputs: bool):
        length, size, dtype = self.sequence_length, self.alphabet_size, self.dtype
        signature = [
            tf.TensorSpec([None, length, size], dtype, name="x"),
            tf.TensorSpec([None, None, length, size], dtype, name="starts"),
            tf.TensorSpec([None], dtype, name="group_weights"),
            tf.TensorSpec([None], dtype, name="alphas"),
            tf.TensorSpec([None], dtype, name="step_weights"),
        ]
        if noisy:
            signature += [
                tf.TensorSpec([], dtype, name="sigma"),
                tf.TensorSpec([None, 2], tf.int64, name="seeds"),
                tf.TensorSpec([], tf.int32, name="total_steps"),
                tf.TensorSpec([], tf.int32, name="step_offset"),
            ]

        chunk = functools.partial(self._chunk, noisy, form, outputs, at_inputs)
        return tf.function(chunk, input_signature=signature, reduce_retracing=True)

    def _chunk(self, noisy, form, outputs, at_inputs, x, starts, group_weights, alphas, step_weights, *noise_args):
        """One chunk's maps (``compiled_function``). Bound with ``functools.partial``, so that
        TensorFlow counts each kernel's traces apart: its retracing warning counts traces per
        code object, and engines of different models (an ensemble) are not retracing."""
        noise = None
        if noisy:
            # Noise is drawn in graph mode even when the reduction is XLA-compiled:
            # TensorFlow's RNG kernels are much faster than XLA's on CPU.
            sigma, seeds, total_steps, step_offset = noise_args
            draws = sequence_noise(seeds, tf.concat([[total_steps], tf.shape(x)[1:]], axis=0), self.dtype)
            noise = sigma * draws[:, None, step_offset : step_offset + tf.shape(alphas)[0]]
        return self.graph_attribution(x, starts, group_weights, alphas, step_weights, noise, form, outputs, at_inputs)


def sequence_noise(seeds: tf.Tensor, shape: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Standard normal noise ``(C, *shape)``, one stateless stream per row of ``seeds (C, 2)``.

    Row ``c`` is the Box-Muller transform of ``u = tf.random.stateless_uniform((2, m),
    seed=seeds[c])`` with ``m = ceil(n / 2)`` for ``n = prod(shape)``: ``r = sqrt(-2 log(1 -
    u[0]))``, ``t = 2 pi u[1]``, the first ``n`` of ``concat(r cos t, r sin t)`` in ``shape``.
    The uniforms are drawn per row, the transform for all rows at once: on CPU a
    ``tf.random.stateless_normal`` call costs about 0.15 ms however small, a uniform one a fifth
    of that (SmoothGrad with 25 samples: 8 instead of 12 ms of noise per 81 sequences). The draw
    and the transform run in float64 for float64 noise, else in float32 (then cast to ``dtype``:
    half-precision uniforms would make the noise coarse)."""
    work = tf.float64 if dtype == tf.float64 else tf.float32
    size = tf.reduce_prod(shape)
    half = (size + 1) // 2

    def uniforms(seed):
        return tf.random.stateless_uniform(tf.stack([2, half]), seed=seed, dtype=work)

    u = tf.map_fn(uniforms, seeds, fn_output_signature=tf.TensorSpec([2, None], work))
    radius = tf.sqrt(-2.0 * tf.math.log1p(-u[:, 0]))
    angle = (2.0 * math.pi) * u[:, 1]
    normals = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=1)[:, :size]
    return tf.cast(tf.reshape(normals, tf.concat([[-1], shape], axis=0)), dtype)


def in_pieces(compute: Callable[[tf.Tensor, tf.Tensor], Any], count: tf.Tensor, pieces: int, axis: int = 0) -> Any:
    """``compute(begin, end)`` of ``pieces`` independent slices of ``count >= 1`` points, joined
    along ``axis`` (the points' axis of its result, a tensor or a structure of tensors): one
    result row per point.

    Slice ``i`` owns points ``[count * i // pieces, count * (i + 1) // pieces)``; a slice that
    would be empty computes the last point instead (models may reject empty batches) and keeps
    none of it. In graph mode TensorFlow's executor runs one slice's operations beside
    another's, which keeps more of the CPU busy than one slice of all the points."""
    if pieces == 1:
        return compute(0, count)
    bounds = [count * i // pieces for i in range(pieces + 1)]
    kept = []
    for owned_begin, owned_end in zip(bounds[:-1], bounds[1:]):
        begin = tf.minimum(owned_begin, count - 1)
        end = tf.maximum(owned_end, begin + 1)
        rows = tuple([slice(None)] * axis + [slice(owned_begin - begin, owned_end - begin)])
        kept.append(tf.nest.map_structure(lambda result: result[rows], compute(begin, end)))
    return tf.nest.map_structure(lambda *parts: tf.concat(parts, axis=axis), *kept)
