"""The attribution engine: one model and target, any registered method, any batch size.

It validates the input, draws each block's baselines, plans chunks of at most
``max_points`` model evaluations, runs the compiled kernel (``keras_simplex.kernel``) on each
(split across ``tf.distribute`` replicas if asked) and gathers the maps. The model is
evaluated through the speed rewrites where they are verified (``keras_simplex._fast``), and
through its logits with ``logits=True`` (``keras_simplex.logits``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_simplex._fast.cpu_defaults import warn_if_onednn_missed
from keras_simplex._fast.rewrite import FastForward, fast_paths_enabled
from keras_simplex._fast.windowed_ism import windowed_kernel
from keras_simplex.functional_graph import functional_graph, graph_forward
from keras_simplex.geometry import simplex_angle
from keras_simplex.introspection import input_spec, output_shape
from keras_simplex.baselines import make_baselines
from keras_simplex.deeplift import DeepLiftKernel, Pairs, deeplift_wrappers, run_deeplift
from keras_simplex.ism import MutagenesisKernel, ism_positions, run_ism
from keras_simplex.progress import Progress
from keras_simplex.jit_policy import has_gpu, resolve_jit_compile
from keras_simplex.kernel import GradientKernel
from keras_simplex.logits import logit_wrappers
from keras_simplex.methods import GradientMethod
from keras_simplex.precision import (check_precision, computes_in_16_bits, precision_copy, sync_copy,
                                     warn_if_bfloat16_is_slow)
from keras_simplex.results import MAPS, OUTPUTS, Attribution
from keras_simplex.seeding import sequence_keys
from keras_simplex.targets import Target, check_target, per_target_indices
from keras_simplex.validation import check_sequences

DEFAULT_MAX_POINTS = 2048
ACTIVATION_BUDGET = 4 * 2**30  # bytes of one call's forward activations when max_points is not given
BASELINE_BLOCK = 4096  # sequences whose baselines are drawn together (host memory bound)
CPU_PIECES = 2  # independent slices of a graph-mode call's points on CPU (pieces_per_call)


def activation_bytes(model: keras.Model) -> int | None:
    """Bytes of all layer outputs of ``model`` (nested models included) for one input
    sequence, or None when a shape is not known (subclassed or length-agnostic models)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            inner = activation_bytes(layer)
            if inner is None:
                return None
            total += inner
            continue
        try:
            outputs = keras.tree.flatten(layer.output)
        except (AttributeError, ValueError):  # a layer without a symbolic output
            return None
        for output in outputs:
            shape = tuple(output.shape[1:])
            if any(size is None for size in shape):
                return None
            total += int(np.prod(shape, dtype=np.int64)) * np.dtype(keras.backend.standardize_dtype(output.dtype)).itemsize
    return total


def default_max_points(model: keras.Model) -> int:
    """``DEFAULT_MAX_POINTS``, or fewer where that many points' forward activations would take
    more than ``ACTIVATION_BUDGET`` (a BPNet-sized model at L = 2,114: ~10 MB per point, so
    about 400 points instead of 2,048 and ~50 GB at peak)."""
    per_point = activation_bytes(model) if functional_graph(model) is not None else None
    if not per_point:
        return DEFAULT_MAX_POINTS
    return int(max(1, min(DEFAULT_MAX_POINTS, ACTIVATION_BUDGET // per_point)))


def pieces_per_call(jit_compile: bool) -> int:
    """The independent slices a gradient call differentiates its points in (``kernel.in_pieces``):
    ``CPU_PIECES`` in graph mode on CPU, where TensorFlow's executor then runs one slice's
    operations beside the other's (input gradients of CNN-deep 10-17% faster on 2 cores than
    one slice of the same points; ISM's forward-only calls gained nothing); one under XLA or on
    a GPU."""
    return 1 if jit_compile or has_gpu() else CPU_PIECES


def resolve_max_points(max_points: Any) -> int:
    """``max_points`` as an int >= 1 (None: ``DEFAULT_MAX_POINTS``)."""
    if max_points is None:
        return DEFAULT_MAX_POINTS
    if isinstance(max_points, (bool, np.bool_)) or not isinstance(max_points, numbers.Integral):
        raise TypeError(f"max_points must be an integer or None, got {max_points!r}")
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    return int(max_points)


class AttributionEngine:
    """Gradient attributions of one Keras model and one target (the explainer's engine).

    Args:
      model: a Keras model mapping ``(N, L, A)`` sequences to outputs.
      target: what to differentiate, see ``keras_simplex.targets.select_target``.
      reduce: ``"sum"`` (one map for a list/slice of units) or None (one map per unit, a
        target axis ``T`` after the sequence axis); ``target="all"`` always keeps one per unit.
      logits: differentiate the output layers' pre-activation (``keras_simplex.logits``).
      jit_compile: XLA compilation; ``None``/``"auto"`` = XLA on GPU, graph mode on CPU.
      max_points: the most points (model evaluations) in one compiled call (None: 2,048, or
        fewer for models whose activations for that many would exceed 4 GiB).
      sequence_shape: ``(L, A)`` for models whose input shape is not recorded (subclassed
        models); ``L`` may be None for length-agnostic models.
      strategy: a ``tf.distribute`` strategy: each chunk is split evenly across its
        replicas, results gathered in order. Graph mode only.
      fast: use the verified speed rewrites (None: ``keras_simplex.set_fast_paths`` /
        ``KERAS_SIMPLEX_FAST_PATHS``, on by default).
      fold_batch_norm, convolutions, pool_first: which rewrites to try when ``fast``
        (``keras_simplex._fast.rewrite.speed_replacements``).
      windowed_ism: with ``fast``, compute ISM's mutants on windows where the model allows
        (``keras_simplex._fast.windowed_ism``).
      precision: ``"float32"`` or ``"bfloat16"``: the forward and backward passes of gradient
        methods and ISM run in a copy of the model under Keras' ``mixed_bfloat16`` policy
        (``keras_simplex.precision``); points, correction, reductions and angles stay float32.
        A model whose layers compute in 16 bits (built under a global mixed policy) runs
        through a float32 copy for ``"float32"``, and for DeepSHAP, which otherwise runs the
        model in its own precision.
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
        fold_batch_norm: bool = True,
        convolutions: bool = True,
        pool_first: bool = True,
        windowed_ism: bool = True,
        precision: str = "float32",
    ) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
        self.model = model
        self.logits = bool(logits)
        self.jit_compile = resolve_jit_compile(jit_compile)
        self.precision = check_precision(precision)
        if not has_gpu():
            warn_if_onednn_missed()
            if self.precision == "bfloat16":
                warn_if_bfloat16_is_slow()
        if strategy is not None and self.jit_compile:
            if jit_compile is True:
                raise ValueError("jit_compile=True cannot be combined with a tf.distribute strategy")
            self.jit_compile = False
        self.strategy = strategy
        self.sequence_length, self.alphabet_size, self.dtype = input_spec(model, sequence_shape)
        self.output_shape = output_shape(model, self.sequence_length, self.alphabet_size)
        self.reduce = reduce
        self.per_target = per_target_indices(target, reduce, self.output_shape)
        self.requested_target = target  # as given ("all", a slice...): what reduce applies to
        self.target = self.resolved_target(target)
        self._copies: list[keras.Model] = []  # of the model in another precision, synced before each run
        self._float32 = self._float32_model(model)  # what DeepSHAP and windowed ISM run
        compute = self._float32 if self.precision == "float32" else self._copy(self.precision)
        self.default_max_points = default_max_points(self._float32)  # activations at the width the runs hold
        self.max_points = self.default_max_points if max_points is None else resolve_max_points(max_points)
        plain, wrappers = _inference(compute, self.logits)
        # A rewrite of a reduced-precision copy must be as close to the float32 model as the copy is.
        reference = None if compute is self._float32 else _inference(self._float32, self.logits)[0]
        self.fast = fast_paths_enabled(fast)
        self.windowed_ism = self.fast and windowed_ism and self.precision == "float32"
        self._forward = FastForward(compute, plain, wrappers, self.fast, fold_batch_norm, convolutions, pool_first,
                                    reference=reference)
        self._kernel: GradientKernel | None = None
        self._mutagenesis: MutagenesisKernel | None = None
        self._deeplift: DeepLiftKernel | None = None
        self._replicated: dict[Any, Any] = {}  # compiled function -> its strategy.run wrapper

    def _copy(self, precision: str) -> keras.Model:
        copy = precision_copy(self.model, precision)
        self._copies.append(copy)
        return copy

    def _float32_model(self, model: keras.Model) -> keras.Model:
        """``model``, or a float32 copy of it when its layers compute in 16 bits (a model that
        cannot be copied runs as it is, with a warning that says why)."""
        if not computes_in_16_bits(model):
            return model
        try:
            return self._copy("float32")
        except Exception as error:  # noqa: BLE001 - any layer's config may fail to clone
            warnings.warn(f"{model.name} computes in 16 bits (its dtype policy) and cannot be copied to float32 "
                          f"({error}): its maps carry 16-bit rounding, and a confident output's gradient may "
                          f"underflow to 0; build it under the float32 policy for float32 maps", stacklevel=4)
            return model

    def _sync(self) -> None:
        """Copies in another precision take the model's current weights (before every run)."""
        for copy in self._copies:
            sync_copy(copy, self.model)

    @property
    def models_used(self) -> tuple[keras.Model, ...]:
        """The model and its copies in another precision, whose variables the compiled calls read."""
        return (self.model, *self._copies)

    def resolved_target(self, target: Target) -> Target:
        """``target`` as this engine explains it: the units with a map each (a tuple), else the
        checked target (negative indices of a list counted from the end)."""
        units = per_target_indices(target, self.reduce, self.output_shape)
        return units if units is not None else check_target(target, self.output_shape)

    def kernel(self, length: int | None = None) -> GradientKernel:
        """The compiled kernel; the first call chooses (and verifies) the forward at
        ``length`` (the model's own, else the given one, else 64)."""
        if self._kernel is None:
            probe_length = self.sequence_length or length or 64
            forward = self._forward.forward(probe_length, self.alphabet_size, self.dtype)
            self._kernel = GradientKernel(forward, self.target, self.sequence_length, self.alphabet_size, self.dtype,
                                          self.jit_compile, self.per_target,
                                          pieces_per_call(self.jit_compile), self._forward.projection)
        return self._kernel

    @property
    def rewritten(self) -> bool:
        """Whether the model runs through its verified speed rewrite (after the first run)."""
        return self._forward.active

    def graph_attribution(self, method: GradientMethod, outputs: tuple[str, ...] = MAPS):
        """``maps(x)``: ``method``'s maps of ``x (N, L, A)`` as TensorFlow ops, for use inside a
        ``tf.function`` (e.g. a serving signature). Checked now: it needs a fixed-length model and
        fixed start points (zeros, uniform or one shared array; no shuffles, no noise)."""
        if self.sequence_length is None:
            raise ValueError("in-graph attribution needs a model with a fixed input length")
        if method.sigma > 0 or method.random_starts:
            raise ValueError(f"in-graph attribution needs fixed start points; {method.name} draws random ones "
                             f"(baseline {method.baseline!r}, sigma {method.sigma})")
        self._sync()
        template = np.zeros((1, self.sequence_length, self.alphabet_size), self.dtype.as_numpy_dtype)
        method.check(template)
        starts = method.starts(template)
        if len(starts) != 1:
            raise ValueError("in-graph attribution needs start points shared by all sequences")
        weights = np.full(starts.shape[1], 1.0 / starts.shape[1])
        arrays = (starts, weights, method.alphas, method.step_weights)
        kernel = self.kernel()

        def maps(x: tf.Tensor) -> dict[str, tf.Tensor]:
            constants = [tf.constant(a, self.dtype) for a in arrays]
            return kernel.graph_attribution(x, *constants, None, method.form, tuple(outputs), method.at_inputs)

        return maps

    def ism(self, x: Any, positions: Any = None, mean_centered: bool = False, check_simplex: bool = True,
            verbose: int = 0) -> np.ndarray:
        """In-silico mutagenesis of ``x (N, L, A)`` (``keras_simplex.ism``): ``(N, P, A)`` target
        changes for every letter at the ``positions`` (a slice or list; None: all L), 0 at
        observed one-hot letters (``(N, T, P, A)`` per target); ``mean_centered`` subtracts the
        per-position mean. Runs through the same verified forward as the gradients; with the
        fast paths on, the layers before the first that mixes all positions run on windows
        around each mutation (``keras_simplex._fast.windowed_ism``, verified on a probe)."""
        if self.strategy is not None:
            raise ValueError("ism runs on one device; build an explainer without a tf.distribute strategy for it")
        x = check_sequences(x, alphabet_size=self.alphabet_size, length=self.sequence_length,
                            check_simplex=check_simplex, dtype=self.dtype.as_numpy_dtype)
        chosen = ism_positions(positions, x.shape[1])
        self._sync()
        if self._mutagenesis is None:
            self._mutagenesis = MutagenesisKernel(self.kernel(x.shape[1]).forward, self.target, self.per_target,
                                                  self.alphabet_size, self.dtype, self.jit_compile)
            if self.windowed_ism:
                wrappers = logit_wrappers(self._float32) if self.logits else {}
                self._mutagenesis = windowed_kernel(self._mutagenesis, self._float32, wrappers, x.shape[1])
        return run_ism(self._mutagenesis, x, chosen, self.max_points, mean_centered, Progress(len(x), verbose))

    def deep_lift_shap(self, x: Any, references: Any = "dinucleotide_shuffle", num_references: int = 20,
                       seed: int = 0, hypothetical: bool = False, check_simplex: bool = True,
                       verbose: int = 0) -> Attribution:
        """DeepSHAP (DeepLIFT's rescale rule averaged over references; ``keras_simplex.deeplift``)
        of ``x (N, L, A)``: raw and corrected maps (observed-letter contributions, or
        hypothetical ones), the angles of the mean multipliers and the per-sequence ``delta``.
        ``references``: a baseline name (``"dinucleotide_shuffle"``, ``"shuffle"``, ...), an
        array or a function, as for expected gradients. The model's own graph is used (no
        speed rewrites). One map per target unit (``per_target``): each unit is explained in
        its own passes, against the same references, and the fields stacked on axis 1
        (``(N, T, L, A)``, angles ``(N, T, L)``, delta ``(N, T)``)."""
        if callable(self.target):
            raise ValueError("deep_lift_shap explains output units: give an index, a list of indices or a slice")
        x = check_sequences(x, alphabet_size=self.alphabet_size, length=self.sequence_length,
                            check_simplex=check_simplex, dtype=self.dtype.as_numpy_dtype)
        starts = make_baselines(x, references, num_references, seed)
        starts = np.ascontiguousarray(np.broadcast_to(starts, (len(x),) + starts.shape[1:]))
        self._sync()
        if self._deeplift is None:
            wrappers = logit_wrappers(self._float32) if self.logits else {}
            pairs = Pairs()
            wrappers = {**deeplift_wrappers(self._float32, pairs, skip=set(wrappers)), **wrappers}
            forward = graph_forward(functional_graph(self._float32), {}, wrappers)
            self._deeplift = DeepLiftKernel(forward, pairs, self.target, self.jit_compile,
                                            pieces_per_call(self.jit_compile), self.per_target)
        slots = 1 if self.per_target is None else len(self.per_target)
        progress = Progress(len(x) * slots, verbose)
        results = [run_deeplift(self._deeplift, x, starts, hypothetical, self.max_points, progress, slot)
                   for slot in range(slots)]
        if self.per_target is None:
            return Attribution(**results[0])
        return Attribution(**{key: np.stack([r[key] for r in results], axis=1) for key in results[0]})

    # --- host loop -----------------------------------------------------------------------

    def run(self, x: Any, method: GradientMethod, outputs: tuple[str, ...] = MAPS,
            check_simplex: bool = True, average_strands: bool = False, verbose: int = 0) -> Attribution:
        """``method``'s maps of the sequences ``x (N, L, A)``.

        Args:
          x: ``(N, L, A)`` sequences (validated here; never modified).
          method: a ``GradientMethod`` (``keras_simplex.methods``).
          outputs: the fields of ``Attribution`` to compute; the others are None.
          check_simplex: reject positions that are not probability vectors.
          average_strands: average each map with the reverse complement of the map of the
            reverse-complemented sequence (DNA/RNA in ACGT order; for models that are not
            reverse-complement equivariant). The angles are those of the averaged gradient.

        Returns:
          ``Attribution``: raw and corrected ``(N, L, A)`` maps and the ``(N, L)`` angles of
          the method's weighted gradient sum (``(N, T, L, A)`` and ``(N, T, L)`` per target).
        """
        return Attribution(**finish_angles(self.sums(x, method, outputs, check_simplex, average_strands, verbose)))

    def sums(self, x: Any, method: GradientMethod, outputs: tuple[str, ...] = MAPS, check_simplex: bool = True,
             average_strands: bool = False, verbose: int = 0) -> dict[str, np.ndarray]:
        """The maps of ``run`` before the angles: a dictionary with the ``raw`` and
        ``corrected`` maps asked for and, if ``angles`` are asked for, the ``gradient`` sum they
        are the angles of (``finish_angles``). Sums of several runs (strands, models) average
        linearly."""
        outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs)  # "corrected" as ("corrected",)
        if not outputs or set(outputs) - set(OUTPUTS):
            raise ValueError(f"outputs must be a non-empty selection of {OUTPUTS}, got {outputs}")
        if not isinstance(method, GradientMethod):
            raise TypeError(f"method must be a GradientMethod (keras_simplex.methods), got {type(method).__name__}")
        if "delta" in outputs and method.form == "gradient":
            raise ValueError(f"the convergence delta is defined for maps that multiply by the input; {method.name} "
                             f"here returns a gradient (multiply_by_inputs=False)")
        x = check_sequences(x, alphabet_size=self.alphabet_size, length=self.sequence_length,
                            check_simplex=check_simplex, dtype=self.dtype.as_numpy_dtype)
        if average_strands and self.alphabet_size != 4:
            raise ValueError(f"average_strands needs a 4-letter nucleotide alphabet in ACGT order, got "
                             f"{self.alphabet_size} letters")
        method.check(x)
        self._sync()
        requested = tuple(name for name in outputs if name != "angles") + (("gradient",) if "angles" in outputs else ())
        progress = Progress(len(x) * (2 if average_strands else 1), verbose)
        result = self._strand_sums(x, method, requested, progress)
        if average_strands:
            other = self._strand_sums(np.ascontiguousarray(reverse_complement(x)), method.reverse_complemented(),
                                      requested, progress)
            result = {name: (value + (other[name] if name == "delta" else reverse_complement(other[name]))) / 2
                      for name, value in result.items()}
        return result

    def _strand_sums(self, x: np.ndarray, method: GradientMethod, requested: tuple[str, ...],
                     progress: Progress) -> dict[str, np.ndarray]:
        kernel = self.kernel(x.shape[1])
        sums: dict[str, np.ndarray] = {}
        for begin in range(0, len(x), BASELINE_BLOCK):
            self._run_block(kernel, x, begin, min(begin + BASELINE_BLOCK, len(x)), method, requested, progress, sums)
        return sums

    def _run_block(self, kernel: GradientKernel, x: np.ndarray, begin: int, stop: int, method: GradientMethod,
                   outputs: tuple[str, ...], progress: Progress, sums: dict[str, np.ndarray]) -> None:
        """The maps of rows ``begin:stop`` of ``x`` (one draw of baselines), in chunks of
        ``max_points``, written into ``sums`` (arrays of ``len(x)`` rows, made at the first chunk)."""
        dtype, block = x.dtype, x[begin:stop]
        starts = method.starts(block, begin)
        groups, steps = starts.shape[1], len(method.alphas)
        group_weights = np.full(groups, 1.0 / groups, dtype)
        alphas, step_weights = (np.asarray(a, dtype) for a in (method.alphas, method.step_weights))
        targets = 1 if self.per_target is None else len(self.per_target)
        n, per_sequence = stop - begin, groups * steps * targets  # gradients held per sequence
        if per_sequence <= self.max_points:
            group_block, step_block = groups, steps
            chunk = min(self.max_points // per_sequence, n)
            if self.jit_compile:  # bucket chunk sizes so XLA compiles few shapes
                chunk = min(self.max_points // per_sequence, 2 ** math.ceil(math.log2(n)))
        else:
            chunk, step_block = 1, max(1, min(steps, self.max_points // targets))
            group_block = max(1, self.max_points // (step_block * targets))
        parts = [(g, k) for g in range(0, groups, group_block) for k in range(0, steps, step_block)]
        noisy = method.sigma > 0
        if noisy:
            keys = sequence_keys(block, method.seed).view(np.int64)
        function = kernel.compiled_function(noisy, method.form, outputs, method.at_inputs)
        for first in range(0, n, chunk):
            end = min(first + chunk, n)
            rows = np.arange(first, end)
            if self.jit_compile and end - first < chunk:  # pad: keep the compiled shape
                rows = np.concatenate([rows, np.full(chunk - len(rows), end - 1)])
            if self.strategy is not None:  # pad to an equal share per replica
                rows = np.concatenate([rows, np.full(-len(rows) % self.strategy.num_replicas_in_sync, end - 1)])
            rows = slice(first, end) if len(rows) == end - first else rows  # a view unless padded
            x_chunk = block[rows]
            start_chunk = starts if len(starts) == 1 else starts[rows]
            if noisy:
                seeds = np.stack([keys[rows], np.zeros(len(x_chunk), np.int64)], axis=1)
            for part, (g, k) in enumerate(parts):
                args = [x_chunk, start_chunk[:, g : g + group_block], group_weights[g : g + group_block],
                        alphas[k : k + step_block], step_weights[k : k + step_block]]
                if noisy:
                    args += [np.asarray(method.sigma, dtype), seeds, np.int32(steps), np.int32(k)]
                returned = self._call(function, args, per_sequence=len(start_chunk) == len(x_chunk))
                for key, value in returned.items():
                    value = np.asarray(value)[: end - first]  # a view of the tensor: copied once, below
                    if key not in sums:
                        sums[key] = np.empty((len(x),) + value.shape[1:], value.dtype)
                    if part == 0:
                        sums[key][begin + first : begin + end] = value
                    else:
                        sums[key][begin + first : begin + end] += value
            progress.advance(end - first)

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


def _inference(model: keras.Model, logits: bool):
    """``(forward, logit wrappers)``: ``model``'s inference call, differentiating the output
    layers' pre-activation when ``logits``."""
    wrappers = logit_wrappers(model) if logits else {}
    if logits:
        return graph_forward(functional_graph(model), {}, wrappers), wrappers
    return (lambda x: model(x, training=False)), wrappers


def finish_angles(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``sums`` (``AttributionEngine.sums``) with the ``gradient`` replaced by its angles."""
    sums = dict(sums)
    if "gradient" in sums:
        sums["angles"] = simplex_angle(sums.pop("gradient")).numpy()
    return sums


def reverse_complement(maps: np.ndarray) -> np.ndarray:
    """Sequences or maps ``(..., L, A)`` (ACGT order) read on the other strand: both the
    position and the letter axes reversed. Sums of gradient ``(..., L, A)`` too."""
    return maps[..., ::-1, ::-1]
