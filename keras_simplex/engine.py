"""The compiled gradient engine shared by every attribution method.

Every gradient method is a weighted average of input gradients taken at points

    point[n, g, k] = start[n, g] + alpha[k] * (x[n] - start[n, g]) + sigma * noise[n, k]

for G start points (baselines) and K steps (integration steps or noise samples), with
weights ``group_weights[g] * step_weights[k]``. Saliency is G = K = 1 with a zero start and
alpha = 1; SmoothGrad adds noise over K samples; integrated gradients uses G baselines and K
quadrature nodes. For a chunk of sequences, all G x K points go through one compiled call
(``tf.function``, optionally XLA) that also applies the simplex correction and reduces the
gradients on the device, so only ``(N, L, A)`` sums come back to the host.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_simplex.cpu_defaults import warn_if_onednn_missed
from keras_simplex.geometry import project_to_simplex, simplex_angle
from keras_simplex.rewriting import rewritten_forward
from keras_simplex.seeding import resolve_seed, sequence_keys
from keras_simplex.targets import Target, check_target, pre_activation, select_target

DEFAULT_MAX_POINTS = 1024
MAPS = ("raw", "corrected", "angles")  # what the engine can return, the fields of Attribution


def resolve_jit_compile(jit_compile: bool | str | None) -> bool:
    """``None``/``"auto"`` picks the faster mode for the devices present.

    XLA on a GPU; plain graph mode on CPU only, where XLA measured 1.3-2x slower for
    attribution (see benchmarks/). ``True``/``False`` force the choice.
    """
    if jit_compile is None or jit_compile == "auto":
        return bool(tf.config.list_logical_devices("GPU"))
    if not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be True, False, None or 'auto', got {jit_compile!r}")
    return jit_compile


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Raw and corrected maps from one pass, with the angle of the averaged gradient.

    Attributes (None when not computed, see ``AttributionEngine.run``):
      raw: ``(N, L, A)`` map from the raw gradients.
      corrected: ``(N, L, A)`` map computed from simplex-projected gradients.
      angles: ``(N, L)`` signed angle (degrees) between the method's averaged gradient
        (saliency, smoothed or path-averaged gradient) and the simplex.
    """

    raw: np.ndarray | None = None
    corrected: np.ndarray | None = None
    angles: np.ndarray | None = None

    def select(self, correct: bool) -> np.ndarray:
        """The corrected or the raw map."""
        selected = self.corrected if correct else self.raw
        if selected is None:
            raise ValueError(f"this Attribution holds no {'corrected' if correct else 'raw'} map")
        return selected


class AttributionEngine:
    """Compiled input-gradient engine for one Keras model and one target.

    Build it once per model (the functional API caches engines) and reuse it: the compiled
    function has a fixed input signature with a dynamic batch axis, so it is traced once.

    Args:
      model: a Keras model mapping ``(N, L, A)`` sequences to outputs.
      target: what to differentiate, see ``keras_simplex.targets.select_target``.
      logits: differentiate the output layer's pre-activation (logit) instead of its
        activation (e.g. sigmoid probability). Needs a Sequential/functional model.
      jit_compile: XLA compilation; ``None``/``"auto"`` = XLA on GPU, graph mode on CPU.
      max_points: memory knob, the most points (model evaluations) in one compiled call
        (None: ``DEFAULT_MAX_POINTS``).
      sequence_shape: ``(L, A)`` for models whose input shape is not recorded (subclassed
        models); ``L`` may be None for length-agnostic models.
      strategy: a ``tf.distribute`` strategy (e.g. ``MirroredStrategy``): each chunk is split
        evenly across its replicas, which run the compiled function on their devices, and the
        results are gathered in order (equal to single-device results). Graph mode only:
        XLA clusters cannot read variables placed on another replica's device.
      fold_batch_norm: evaluate the model with its inference BatchNormalization layers folded
        into the convolution or dense layer before them (``keras_simplex.folding``): the same
        function, about 10% faster on CPU; weights are read live at every call.
      block_convolutions: on CPU, compute the input gradients of ``Conv1D`` layers with few
        input channels (the first layer on one-hot DNA) on blocks of positions
        (``keras_simplex.blocked_convolution``): the same gradients, about 10% faster overall.
    """

    def __init__(
        self,
        model: keras.Model,
        target: Target = None,
        *,
        logits: bool = False,
        jit_compile: bool | str | None = None,
        max_points: int | None = None,
        sequence_shape: tuple[int | None, int] | None = None,
        strategy: tf.distribute.Strategy | None = None,
        fold_batch_norm: bool = True,
        block_convolutions: bool = True,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
        max_points = DEFAULT_MAX_POINTS if max_points is None else int(max_points)
        if max_points < 1:
            raise ValueError(f"max_points must be >= 1, got {max_points}")
        self.model = model
        self.target = target
        self.logits = bool(logits)
        self.jit_compile = resolve_jit_compile(jit_compile)
        if not tf.config.list_logical_devices("GPU"):
            warn_if_onednn_missed()
        if strategy is not None and self.jit_compile:
            if jit_compile is True:
                raise ValueError("jit_compile=True cannot be combined with a tf.distribute strategy")
            self.jit_compile = False
        self.strategy = strategy
        self.max_points = max_points
        self.sequence_length, self.alphabet_size, self.dtype = _input_spec(model, sequence_shape)
        check_target(target, _output_shape(model, self.sequence_length, self.alphabet_size))
        if self.logits:
            with pre_activation(model):
                pass  # fails early, with a clear message, when there is no output layer
        self._functions: dict[tuple[bool, bool, tuple[str, ...]], Any] = {}
        self._replicated: dict[Any, Any] = {}  # compiled function -> its strategy.run wrapper
        self._reductions: dict[tuple[bool, tuple[str, ...]], Any] = {}
        self._rewritten = self._checked_rewriting(fold_batch_norm, block_convolutions)

    # --- compiled part -------------------------------------------------------------------

    def _target_values(self, points: tf.Tensor) -> tf.Tensor:
        """Differentiated scalar per point, ``(P,)``."""
        if self.logits:
            with pre_activation(self.model):
                outputs = self._forward(points)
        else:
            outputs = self._forward(points)
        return select_target(outputs, self.target)

    def _forward(self, points: tf.Tensor) -> Any:
        """The model's inference outputs, through its rewritten graph when there is one."""
        if self._rewritten is not None:
            return self._rewritten(points)
        return self.model(points, training=False)

    def _checked_rewriting(self, fold_batch_norm: bool, block_convolutions: bool):
        """``rewriting.rewritten_forward`` of the model, used only if it reproduces the model's
        outputs and input gradients on a probe batch (else a warning, and the model is called
        as it is)."""
        forward = rewritten_forward(self.model, fold_batch_norm, block_convolutions)
        if forward is None:
            return None
        shape = (2, self.sequence_length or 64, self.alphabet_size)
        probe = tf.constant(np.random.default_rng(0).random(shape), self.dtype)
        results = []
        for function in (lambda x: self.model(x, training=False), forward):
            with tf.GradientTape() as tape:
                tape.watch(probe)
                outputs = keras.tree.flatten(function(probe))
                total = tf.add_n([tf.reduce_sum(tf.cast(output, tf.float32)) for output in outputs])
            results.append([*outputs, tape.gradient(total, probe)])
        for expected, rewritten in zip(*results):
            expected, rewritten = np.asarray(expected), np.asarray(rewritten)
            if not np.allclose(rewritten, expected, rtol=1e-4, atol=1e-5 * (np.abs(expected).max() + 1e-12)):
                warnings.warn("rewriting the model for speed (fold_batch_norm, block_convolutions) changed its "
                              "outputs or input gradients; attributing the model as it is", stacklevel=3)
                return None
        return forward

    def _reduction(self, multiply_by_inputs: bool, outputs: tuple[str, ...]):
        """``_reduce_gradients`` for these options, XLA-compiled if asked (built once)."""
        key = (bool(multiply_by_inputs), outputs)
        if key not in self._reductions:
            reduce = functools.partial(self._reduce_gradients, multiply_by_inputs=key[0], outputs=outputs)
            self._reductions[key] = tf.function(reduce, jit_compile=True) if self.jit_compile else reduce
        return self._reductions[key]

    def _reduce_gradients(self, points, offsets, weights, multiply_by_inputs: bool,
                          outputs: tuple[str, ...]) -> dict[str, tf.Tensor]:
        """Weighted gradients at ``points (C, G, K, L, A)`` summed per sequence.

        The point weights ``weights (G, K)`` enter the differentiated total, so the tape
        returns weighted gradients and every sum below is a plain reduction. Returns the
        ``outputs`` asked for among: ``raw`` and ``corrected`` maps ``(C, L, A)`` (the gradient,
        or ``offsets (C, G, L, A)`` times the per-start path gradient with
        ``multiply_by_inputs``), the ``(C, L)`` ``angles`` of the gradient sum (valid when the
        call holds all points of a sequence) and that sum, ``gradient``. Work for outputs not
        asked for is pruned from the graph.
        """
        shape = tf.shape(points)
        flat = tf.reshape(points, tf.concat([[-1], shape[3:]], axis=0))
        point_weights = tf.reshape(tf.broadcast_to(weights, shape[:3]), [-1])
        with tf.GradientTape() as tape:
            tape.watch(flat)
            values = self._target_values(flat)
            total = tf.reduce_sum(values * tf.cast(point_weights, values.dtype))
        grads = tape.gradient(total, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grads = tf.reshape(tf.cast(grads, points.dtype), shape)
        gradient = tf.reduce_sum(grads, axis=[1, 2])
        results = {"gradient": gradient, "angles": simplex_angle(gradient)}
        if multiply_by_inputs:
            path = tf.reduce_sum(grads, axis=2)  # (C, G, L, A)
            results["raw"] = tf.reduce_sum(offsets * path, axis=1)
            results["corrected"] = tf.reduce_sum(offsets * project_to_simplex(path), axis=1)
        else:  # the projection is linear: project the sum
            results["raw"] = gradient
            results["corrected"] = project_to_simplex(gradient)
        return {name: results[name] for name in outputs}

    def graph_attribution(self, x, starts, group_weights, alphas, step_weights, noise=None,
                          multiply_by_inputs: bool = False, outputs: tuple[str, ...] = MAPS) -> dict[str, tf.Tensor]:
        """The chunk computation as TensorFlow ops (usable in any ``tf.function``, e.g. a
        serving signature): points from ``x (C, L, A)`` and ``starts (C or 1, G, L, A)`` at
        fractions ``alphas (K,)``, plus ``noise (C, 1, K, L, A)`` if given, weighted by
        ``group_weights (G,)`` and ``step_weights (K,)``. Returns the ``outputs`` asked for:
        ``raw``, ``corrected`` ``(C, L, A)``, ``angles (C, L)`` or ``gradient (C, L, A)`` (see
        ``_reduce_gradients``)."""
        offsets = x[:, None] - starts  # (C, G, L, A)
        points = starts[:, :, None] + alphas[:, None, None] * offsets[:, :, None]
        if noise is not None:
            points = points + noise
        weights = group_weights[:, None] * step_weights[None, :]
        return self._reduction(multiply_by_inputs, tuple(outputs))(points, offsets, weights)

    def compiled_function(self, noisy: bool = False, multiply_by_inputs: bool = False, outputs: tuple[str, ...] = MAPS):
        """The ``tf.function`` for one chunk (traced once; dynamic batch, group, step axes).

        Inputs: ``x (C, L, A)``, ``starts (C or 1, G, L, A)``, ``group_weights (G,)``,
        ``alphas (K,)``, ``step_weights (K,)``; with ``noisy`` also ``sigma ()``, ``seeds
        (C, 2)`` int64 (one stateless seed per sequence), ``total_steps ()`` and
        ``step_offset ()`` int32 (noise of sample k is row ``step_offset + k`` of a
        ``(total_steps, L, A)`` draw, so results do not depend on chunking).
        Returns the dictionary of ``graph_attribution``.
        """
        key = (bool(noisy), bool(multiply_by_inputs), tuple(outputs))
        if key not in self._functions:
            self._functions[key] = self._build(*key)
        return self._functions[key]

    def _build(self, noisy: bool, multiply_by_inputs: bool, outputs: tuple[str, ...]):
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

        def chunk(x, starts, group_weights, alphas, step_weights, *noise_args):
            noise = None
            if noisy:
                # Noise is drawn in graph mode even when the reduction is XLA-compiled:
                # TensorFlow's RNG kernels are much faster than XLA's on CPU.
                sigma, seeds, total_steps, step_offset = noise_args
                draw_shape = tf.concat([[total_steps], tf.shape(x)[1:]], axis=0)

                def draw(seed):
                    return tf.random.stateless_normal(draw_shape, seed=seed, dtype=dtype)

                draws = tf.map_fn(draw, seeds, fn_output_signature=tf.TensorSpec([None, length, size], dtype))
                noise = sigma * draws[:, None, step_offset : step_offset + tf.shape(alphas)[0]]
            return self.graph_attribution(x, starts, group_weights, alphas, step_weights, noise, multiply_by_inputs, outputs)

        return tf.function(chunk, input_signature=signature, reduce_retracing=True)

    # --- host loop -----------------------------------------------------------------------

    def run(
        self,
        x: np.ndarray,
        starts: np.ndarray,
        group_weights: np.ndarray,
        alphas: np.ndarray,
        step_weights: np.ndarray,
        sigma: float = 0.0,
        seed: int | None = 0,
        multiply_by_inputs: bool = False,
        outputs: tuple[str, ...] = MAPS,
    ) -> Attribution:
        """Weighted gradient sums over all points of every sequence, in chunks of ``max_points``.

        Args:
          x: ``(N, L, A)`` validated sequences.
          starts: ``(N, G, L, A)`` or shared ``(1, G, L, A)`` start points (baselines).
          group_weights: ``(G,)`` weights of the start points.
          alphas: ``(K,)`` interpolation fractions (1 = at x).
          step_weights: ``(K,)`` weights of the steps.
          sigma: standard deviation of Gaussian noise added to every point (0 = none).
          seed: noise seed (None: a fresh one). Sequence ``x[i]`` draws its noise with the
            stateless seed ``(seeding.sequence_keys(x, seed)[i], 0)``, so its noise depends
            on its content and the seed only, never on batching.
          multiply_by_inputs: maps of ``sum_g,k w (x - start_g) * gradient`` instead of
            ``sum_g,k w gradient``.
          outputs: the fields of ``Attribution`` to compute; the others are None.

        Returns:
          ``Attribution``: raw and corrected ``(N, L, A)`` maps and the ``(N, L)`` angles of
          the weighted gradient sum.
        """
        outputs = tuple(outputs)
        if not outputs or set(outputs) - set(MAPS):
            raise ValueError(f"outputs must be a non-empty selection of {MAPS}, got {outputs}")
        dtype = self.dtype.as_numpy_dtype
        x = np.asarray(x, dtype)
        starts = np.asarray(starts, dtype)
        group_weights, alphas, step_weights = (np.asarray(a, dtype) for a in (group_weights, alphas, step_weights))
        n, groups, steps = len(x), starts.shape[1], len(alphas)
        per_sequence = groups * steps
        if per_sequence <= self.max_points:
            group_block, step_block = groups, steps
            chunk = min(self.max_points // per_sequence, n)
            if self.jit_compile:  # bucket chunk sizes so XLA compiles few shapes
                chunk = min(self.max_points // per_sequence, 2 ** math.ceil(math.log2(n)))
        else:
            chunk, step_block = 1, min(steps, self.max_points)
            group_block = max(1, self.max_points // step_block)
        blocks = [(g, k) for g in range(0, groups, group_block) for k in range(0, steps, step_block)]
        noisy = sigma > 0
        if noisy:
            keys = sequence_keys(x, resolve_seed(seed)).view(np.int64)
        requested = outputs
        if "angles" in outputs and len(blocks) > 1:  # the angles of each call see partial sums
            requested = tuple(name for name in outputs if name != "angles") + ("gradient",)
        function = self.compiled_function(noisy, multiply_by_inputs, requested)
        pieces = []
        for begin in range(0, n, chunk):
            end = min(begin + chunk, n)
            rows = np.arange(begin, end)
            if self.jit_compile and end - begin < chunk:  # pad: keep the compiled shape
                rows = np.concatenate([rows, np.full(chunk - len(rows), end - 1)])
            if self.strategy is not None:  # pad to an equal share per replica
                rows = np.concatenate([rows, np.full(-len(rows) % self.strategy.num_replicas_in_sync, end - 1)])
            x_chunk = x[rows]
            start_chunk = starts if len(starts) == 1 else starts[rows]
            total: dict[str, np.ndarray] = {}
            for g, k in blocks:
                args = [
                    x_chunk,
                    start_chunk[:, g : g + group_block],
                    group_weights[g : g + group_block],
                    alphas[k : k + step_block],
                    step_weights[k : k + step_block],
                ]
                if noisy:
                    seeds = np.stack([keys[rows], np.zeros(len(rows), np.int64)], axis=1)
                    args += [np.asarray(sigma, dtype), seeds, np.int32(steps), np.int32(k)]
                returned = self._call(function, args, per_sequence=len(start_chunk) == len(rows))
                for key, value in returned.items():
                    value = value.numpy()[: end - begin]
                    total[key] = total[key] + value if key in total else value
            pieces.append(total)
        result = pieces[0] if len(pieces) == 1 else {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]}
        if "gradient" in result:
            result["angles"] = simplex_angle(result.pop("gradient")).numpy()
        return Attribution(**result)

    def _call(self, function, args: list, per_sequence: bool):
        """``function(*args)``, or split across the strategy's replicas and gathered.

        Per-sequence arguments (x, per-sequence starts, noise seeds) are split in contiguous
        equal parts, one per replica in order; the others are shared.
        """
        if self.strategy is None:
            return function(*args)
        split = {0, 6} | ({1} if per_sequence else set())
        replicas = self.strategy.num_replicas_in_sync

        def shard(context):
            return tuple(np.array_split(a, replicas)[context.replica_id_in_sync_group] if i in split else a
                         for i, a in enumerate(args))

        if function not in self._replicated:
            # strategy.run treats a tf.function specially (traces it with the distributed
            # values); a plain Python wrapper makes each replica call it with its own shard.
            self._replicated[function] = tf.function(
                lambda *values: self.strategy.run(lambda *shard: function(*shard), args=values)
            )
        values = self.strategy.experimental_distribute_values_from_function(shard)
        outputs = self._replicated[function](*values)
        return {key: self.strategy.gather(value, axis=0) for key, value in outputs.items()}


def _input_spec(model: keras.Model, sequence_shape) -> tuple[int | None, int, tf.DType]:
    """``(L, A, dtype)`` of the model's sequence input."""
    if sequence_shape is not None:
        length, size = sequence_shape
        return length, int(size), tf.float32
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            "cannot read the model's input shape (subclassed model?); pass "
            "sequence_shape=(L, A), with L=None for length-agnostic models"
        )
    if len(inputs) != 1:
        raise ValueError(f"the model has {len(inputs)} inputs; attribution needs one (N, L, A) input")
    shape = tuple(inputs[0].shape)
    if len(shape) != 3 or shape[-1] is None:
        raise ValueError(f"the model input must have shape (N, L, A) with a known A, got {shape}")
    dtype = tf.as_dtype(inputs[0].dtype)
    if not dtype.is_floating:
        raise ValueError(f"the model input must be floating point, got {dtype.name}")
    return shape[1], int(shape[2]), dtype


def _output_shape(model: keras.Model, length: int | None, size: int) -> Any:
    """The model's output shape(s), from its record or from one call on a dummy batch."""
    try:
        return model.output_shape
    except (AttributeError, ValueError):
        dummy = np.full((1, length or 64, size), 1.0 / size, np.float32)
        outputs = model(dummy, training=False)
        return keras.tree.map_structure(lambda t: (None,) + tuple(t.shape[1:]), outputs)
