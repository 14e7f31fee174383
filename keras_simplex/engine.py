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
import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_simplex.geometry import project_to_simplex, simplex_angle
from keras_simplex.seeding import resolve_seed, sequence_keys
from keras_simplex.targets import Target, check_target, pre_activation, select_target

DEFAULT_MAX_POINTS = 1024


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
class GradientSums:
    """Weighted averages over all points of each sequence, each ``(N, L, A)``.

    Attributes:
      gradient: mean input gradient (raw).
      gradient_corrected: the same after projection onto the simplex.
      times_input: mean of ``(x - start) * gradient`` (raw).
      times_input_corrected: mean of ``(x - start) * projected gradient``.
      angles: ``(N, L)`` angle (degrees) between ``gradient`` and the simplex.
    """

    gradient: np.ndarray
    gradient_corrected: np.ndarray
    times_input: np.ndarray
    times_input_corrected: np.ndarray
    angles: np.ndarray


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
      max_points: memory knob, the most points (model evaluations) in one compiled call.
      sequence_shape: ``(L, A)`` for models whose input shape is not recorded (subclassed
        models); ``L`` may be None for length-agnostic models.
      strategy: a ``tf.distribute`` strategy (e.g. ``MirroredStrategy``): each chunk is split
        evenly across its replicas, which run the compiled function on their devices, and the
        results are gathered in order (equal to single-device results). Graph mode only:
        XLA clusters cannot read variables placed on another replica's device.
    """

    def __init__(
        self,
        model: keras.Model,
        target: Target = None,
        *,
        logits: bool = False,
        jit_compile: bool | str | None = None,
        max_points: int = DEFAULT_MAX_POINTS,
        sequence_shape: tuple[int | None, int] | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
        if int(max_points) < 1:
            raise ValueError(f"max_points must be >= 1, got {max_points}")
        self.model = model
        self.target = target
        self.logits = bool(logits)
        self.jit_compile = resolve_jit_compile(jit_compile)
        if strategy is not None and self.jit_compile:
            if jit_compile is True:
                raise ValueError("jit_compile=True cannot be combined with a tf.distribute strategy")
            self.jit_compile = False
        self.strategy = strategy
        self.max_points = int(max_points)
        self.sequence_length, self.alphabet_size, self.dtype = _input_spec(model, sequence_shape)
        check_target(target, _output_shape(model, self.sequence_length, self.alphabet_size))
        if self.logits:
            with pre_activation(model):
                pass  # fails early, with a clear message, when there is no output layer
        reduce = self._reduce_gradients
        self._reduce = tf.function(reduce, jit_compile=True) if self.jit_compile else reduce
        self._functions: dict[bool, Any] = {}
        self._replicated: dict[Any, Any] = {}  # compiled function -> its strategy.run wrapper

    # --- compiled part -------------------------------------------------------------------

    def _target_values(self, points: tf.Tensor) -> tf.Tensor:
        """Differentiated scalar per point, ``(P,)``."""
        if self.logits:
            with pre_activation(self.model):
                outputs = self.model(points, training=False)
        else:
            outputs = self.model(points, training=False)
        return select_target(outputs, self.target)

    def _reduce_gradients(self, points, offsets, group_weights, step_weights):
        """Gradients at ``points`` (C, G, K, L, A) reduced to four ``(C, L, A)`` sums and the
        ``(C, L)`` angles of the first (valid when the call holds all points of a sequence)."""
        shape = tf.shape(points)
        flat = tf.reshape(points, tf.concat([[-1], shape[3:]], axis=0))
        with tf.GradientTape() as tape:
            tape.watch(flat)
            total = tf.reduce_sum(self._target_values(flat))
        grads = tape.gradient(total, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grads = tf.cast(tf.reshape(grads, shape), points.dtype)
        path = tf.einsum("cgkla,k->cgla", grads, step_weights)
        corrected = project_to_simplex(path)
        gradient = tf.einsum("cgla,g->cla", path, group_weights)
        return (
            gradient,
            tf.einsum("cgla,g->cla", corrected, group_weights),
            tf.einsum("cgla,g->cla", offsets * path, group_weights),
            tf.einsum("cgla,g->cla", offsets * corrected, group_weights),
            simplex_angle(gradient),
        )

    def graph_sums(self, x, starts, group_weights, alphas, step_weights, noise=None):
        """The chunk computation as TensorFlow ops (usable in any ``tf.function``, e.g. a
        serving signature): points from ``x (C, L, A)`` and ``starts (C or 1, G, L, A)`` at
        fractions ``alphas (K,)``, plus ``noise (C, 1, K, L, A)`` if given, and the weighted
        sums of ``GradientSums`` (the last, angles, valid when all points are present)."""
        offsets = x[:, None] - starts  # (C, G, L, A)
        points = starts[:, :, None] + alphas[:, None, None] * offsets[:, :, None]
        if noise is not None:
            points = points + noise
        return self._reduce(points, offsets, group_weights, step_weights)

    def compiled_function(self, noisy: bool = False):
        """The ``tf.function`` for one chunk (traced once; dynamic batch, group, step axes).

        Inputs: ``x (C, L, A)``, ``starts (C or 1, G, L, A)``, ``group_weights (G,)``,
        ``alphas (K,)``, ``step_weights (K,)``; with ``noisy`` also ``sigma ()``, ``seeds
        (C, 2)`` int64 (one stateless seed per sequence), ``total_steps ()`` and
        ``step_offset ()`` int32 (noise of sample k is row ``step_offset + k`` of a
        ``(total_steps, L, A)`` draw, so results do not depend on chunking).
        Returns the fields of ``GradientSums`` for the chunk.
        """
        if noisy not in self._functions:
            self._functions[noisy] = self._build(noisy)
        return self._functions[noisy]

    def _build(self, noisy: bool):
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
            if not noisy:
                return self.graph_sums(x, starts, group_weights, alphas, step_weights)
            # Noise is drawn in graph mode even when the reduction is XLA-compiled:
            # TensorFlow's RNG kernels are much faster than XLA's on CPU.
            sigma, seeds, total_steps, step_offset = noise_args
            draw_shape = tf.concat([[total_steps], tf.shape(x)[1:]], axis=0)

            def draw(seed):
                return tf.random.stateless_normal(draw_shape, seed=seed, dtype=dtype)

            noise = tf.map_fn(draw, seeds, fn_output_signature=tf.TensorSpec([None, length, size], dtype))
            steps = tf.shape(alphas)[0]
            return self.graph_sums(x, starts, group_weights, alphas, step_weights, sigma * noise[:, None, step_offset : step_offset + steps])

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
    ) -> GradientSums:
        """Average gradients over all points of every sequence, in chunks of ``max_points``.

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

        Returns:
          ``GradientSums`` of ``(N, L, A)`` arrays.
        """
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
        noisy = sigma > 0
        if noisy:
            keys = sequence_keys(x, resolve_seed(seed)).view(np.int64)
        function = self.compiled_function(noisy)
        sums = [np.zeros_like(x) for _ in range(4)]
        angles = np.zeros(x.shape[:2], dtype)
        for begin in range(0, n, chunk):
            end = min(begin + chunk, n)
            rows = np.arange(begin, end)
            if self.jit_compile and end - begin < chunk:  # pad: keep the compiled shape
                rows = np.concatenate([rows, np.full(chunk - len(rows), end - 1)])
            if self.strategy is not None:  # pad to an equal share per replica
                rows = np.concatenate([rows, np.full(-len(rows) % self.strategy.num_replicas_in_sync, end - 1)])
            x_chunk = x[rows]
            start_chunk = starts if len(starts) == 1 else starts[rows]
            for g in range(0, groups, group_block):
                for k in range(0, steps, step_block):
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
                    *parts, chunk_angles = self._call(function, args, per_sequence=len(start_chunk) == len(rows))
                    for total, part in zip(sums, parts):
                        total[begin:end] += part.numpy()[: end - begin]
            angles[begin:end] = chunk_angles.numpy()[: end - begin]
        if group_block < groups or step_block < steps:  # chunk angles saw partial sums
            angles = simplex_angle(sums[0]).numpy()
        return GradientSums(*sums, angles)


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
        return [self.strategy.gather(output, axis=0) for output in outputs]


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
