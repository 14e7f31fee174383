"""In-silico mutagenesis computed on windows: a mutant differs from its sequence only near the
mutated position, and so do its activations in the layers before the receptive field covers the
sequence.

For a chain of position-local layers at the start of a model (``Conv1D`` with stride 1 and any
padding or dilation, ``MaxPooling1D``/``AveragePooling1D`` with ``valid`` padding, and
pointwise layers: ``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, channel
``BatchNormalization``, dropout), each mutant's activations are kept only on a window of
positions that holds every position where they differ from its sequence's activations
(computed once, in full). A convolution widens the window by its reach, ``(kernel - 1) x
dilation``, and pooling shrinks it by its stride; each layer reads a patch of its input made of
the window where it lies and the sequence's activations elsewhere (zeros outside the sequence,
as a ``same`` convolution pads), and computes the window's new values with ``valid`` padding.
After the chain (or once the window spans the sequence) the windows are written into the
sequence's activations and the rest of the model runs on them in full. By multiply-adds a
CNN-deep mutant (L = 200) then costs 18% of a full forward pass and a Basset mutant (L = 600)
11%; building the patches costs memory passes, and ISM measured 2.3-2.4x and 7x faster
(docs/performance.md). Where windows would save less than ``1 - WORTHWHILE`` of the
multiply-adds, full passes are kept.

The mutants' outputs equal a full forward pass up to floating-point rounding (the same
operations on fewer positions); ``keras_simplex.engine`` checks them against full forward
passes on a probe batch before first use and otherwise keeps the full ones (one warning).
Same idea as fastISM (Nair et al., 2022), written for this package's graph walk.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from keras_simplex._fast.folding import can_fold, folded_weights
from keras_simplex._fast.rewrite import first_line
from keras_simplex.functional_graph import GraphLinks, functional_graph, graph_forward
from keras_simplex.ism import MutagenesisKernel

POINTWISE = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU,
             keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.GaussianDropout,
             keras.layers.GaussianNoise, keras.layers.AlphaDropout)
POOLING = (keras.layers.MaxPooling1D, keras.layers.AveragePooling1D)
# Windows are used when a mutant's multiply-adds on them are at most this share of a full pass:
# the patches cost memory passes of their own (a BPNet-style model, whose one local layer holds
# 4% of its multiply-adds, ran ISM 5-15% slower on windows).
WORTHWHILE = 0.7


def windowed_kernel(kernel: MutagenesisKernel, model: keras.Model, wrappers: dict[int, Any],
                    length: int) -> MutagenesisKernel:
    """``kernel`` computing its mutants on windows (``WindowedMutants``) when the model starts
    with position-local layers, the windows save enough (``windowed_share``) and they agree with
    ``kernel``'s full forward passes on a probe batch of ``length`` positions; otherwise
    ``kernel`` itself, with one warning when the windows were tried and failed. ``wrappers``: the
    logit wrappers of ``kernel``'s forward."""
    graph = functional_graph(model)
    stages = local_prefix(graph, set(wrappers))
    if not stages or windowed_share(graph, stages, length) > WORTHWHILE:
        return kernel
    windowed = MutagenesisKernel(kernel.forward, kernel.target, kernel.per_target, kernel.alphabet_size,
                                 kernel.dtype, kernel.jit_compile, WindowedMutants(graph, stages, wrappers))
    try:
        if _agree(kernel, windowed, length):
            return windowed
        error: Any = "its mutants' outputs differed from full forward passes"
    except Exception as raised:  # noqa: BLE001 - any failure means: not this path
        error = raised
    warnings.warn(f"keras_simplex: the windowed ISM was not used for this model ({first_line(error)}); every mutant is "
                  f"computed in full", stacklevel=4)
    return kernel


def windowed_share(graph: Any, stages: list[Stage], length: int) -> float:
    """A mutant's multiply-adds on windows over those of a full forward pass at ``length``
    positions, counting ``Conv1D``/``Dense`` layers (others count as 0: they run in full either
    way)."""
    def multiply_adds(layer: Any) -> float:
        if not isinstance(layer, (keras.layers.Conv1D, keras.layers.Dense)):
            return 0.0
        positions = [length if size is None else size for size in layer.output.shape[1:-1]]
        return float(np.prod(layer.kernel.shape)) * float(np.prod(positions))

    full = sum(multiply_adds(layer) for layer in graph.layers)
    saved, width, current = 0.0, 1, length
    for stage in stages:
        if width >= current:
            break
        if stage.kind == "conv":
            kernel_adds = float(np.prod(stage.layer.kernel.shape))
            current = current if stage.layer.padding != "valid" else current - stage.reach
            width += stage.reach
            saved += kernel_adds * (current - min(width, current))
        elif stage.kind == "pool":
            width = (width + stage.reach - 1) // stage.stride + 1
            current = (current - stage.reach - 1) // stage.stride + 1
    return 1.0 - saved / full if full else 1.0


def _agree(kernel: MutagenesisKernel, windowed: MutagenesisKernel, length: int) -> bool:
    """Whether both kernels give the same deltas on a probe of ``length`` positions: three
    random one-hot sequences, the last with N (1/A) at every third position, mutated at the
    first, middle and last one-hot positions, where padding and pooling edges meet the
    windows."""
    size = kernel.alphabet_size
    probe = np.eye(size)[np.random.default_rng(0).integers(0, size, (3, length))]
    probe[2, 1::3] = 1.0 / size
    ends = np.r_[0:9, length // 2 - 6 : length // 2 + 6, length - 9 : length]
    positions = np.unique(np.clip(ends, 0, length - 1))
    positions = tf.constant(positions[positions % 3 != 1], tf.int32)  # one-hot in every probe sequence
    probe = tf.constant(probe, kernel.dtype)
    expected = np.asarray(kernel.function(probe, positions, True), np.float64)
    candidate = np.asarray(windowed.function(probe, positions, True), np.float64)
    outputs = keras.tree.flatten(kernel.forward(probe))  # the deltas' rounding scales with the outputs
    scale = max([np.abs(expected).max()] + [np.abs(np.asarray(output, np.float64)).max() for output in outputs])
    return candidate.shape == expected.shape and np.allclose(candidate, expected, rtol=1e-4, atol=1e-5 * scale)


@dataclass(frozen=True)
class Stage:
    """One position-local step: ``kind`` is ``"pointwise"``, ``"conv"`` or ``"pool"``;
    ``reach``: how many input positions an output reads, minus one (convolutions:
    ``(kernel - 1) x dilation``; pooling: the pool size minus one); ``left``: how many of them
    lie before the output's own position (a convolution's left padding); ``stride``: pooling's.
    A convolution carries the batch normalization folded into it (``norm``) and the pointwise
    layers applied after it (``after``)."""

    layer: Any
    kind: str
    reach: int = 0
    left: int = 0
    stride: int = 1
    norm: Any = None
    after: tuple = ()


def _stage(layer: Any) -> Stage | None:
    """The stage of a supported layer computing in its variables' dtype, else None."""
    if layer.compute_dtype != layer.variable_dtype:  # mixed precision: left to full passes
        return None
    if type(layer) in POINTWISE:
        return Stage(layer, "pointwise")
    if type(layer) is keras.layers.BatchNormalization:
        return Stage(layer, "pointwise") if layer.axis in (-1, 2) else None
    if type(layer) is keras.layers.Conv1D:
        if layer.data_format != "channels_last" or tuple(layer.strides) != (1,) or layer.groups != 1:
            return None
        reach = (layer.kernel_size[0] - 1) * layer.dilation_rate[0]
        left = {"valid": 0, "same": reach // 2, "causal": reach}[layer.padding]
        return Stage(layer, "conv", reach, left)
    if type(layer) in POOLING:
        if layer.data_format != "channels_last" or layer.padding != "valid":
            return None
        return Stage(layer, "pool", layer.pool_size[0] - 1, 0, layer.strides[0])
    return None


def local_prefix(graph: Any, skip: set[int]) -> list[Stage]:
    """The chain of position-local layers reading the graph's only input, each called once and
    its output read by the next alone; it stops before a layer in ``skip`` (logit wrappers) or
    one that makes a model output. A batch normalization is folded into the convolution before
    it where ``folding.can_fold`` allows, and the pointwise layers after a convolution join its
    stage."""
    if graph is None or len(graph.inputs) != 1:
        return []
    links = GraphLinks(graph)
    readers: dict[int, list[Any]] = {}
    for node in links.nodes:
        for tensor in node.input_tensors:
            readers.setdefault(id(tensor), []).append(node)
    outputs = {id(tensor) for tensor in graph.outputs}
    stages: list[Stage] = []
    tensor = graph.inputs[0]
    while len(readers.get(id(tensor), ())) == 1 and links.consumers.get(id(tensor)) == 1:
        node = readers[id(tensor)][0]
        layer = node.operation
        stage = _stage(layer)
        if (stage is None or id(layer) in skip or links.uses[id(layer)] != 1 or len(node.input_tensors) != 1
                or len(node.outputs) != 1 or id(node.outputs[0]) in outputs):
            break
        previous = stages[-1] if stages else None
        if stage.kind == "pointwise" and previous is not None and previous.kind == "conv":
            if (type(layer) is keras.layers.BatchNormalization and previous.norm is None and not previous.after
                    and can_fold(previous.layer, layer, 3, low_precision=False)):
                stages[-1] = replace(previous, norm=layer)
            else:
                stages[-1] = replace(previous, after=(*previous.after, layer))
        else:
            stages.append(stage)
        tensor = node.outputs[0]
    if not any(stage.kind == "conv" for stage in stages):
        return []  # nothing to save before the first layer that mixes positions
    return stages


class WindowedMutants:
    """``outputs(x, positions, letters)``: the model's outputs for ``x (C, L, A)`` followed by
    those of its mutants, ``letters (C, P, S, A)`` placed at ``positions (P,)``, ordered
    ``(C, P, S)``: what ``forward(concat([x, mutants]))`` gives.

    Args:
      graph: the model's functional graph; ``stages``: its ``local_prefix``;
      wrappers: the logit wrappers (``functional_graph.graph_forward``), for the layers after
        the prefix.
    """

    def __init__(self, graph: Any, stages: list[Stage], wrappers: dict[int, Any]) -> None:
        self.graph, self.stages, self.wrappers = graph, stages, wrappers

    def __call__(self, x: tf.Tensor, positions: tf.Tensor, letters: tf.Tensor) -> Any:
        shape = tf.shape(letters)
        groups = (shape[0], shape[1], shape[2])  # C, P, S
        window = tf.reshape(letters, [-1, 1, letters.shape[-1]])
        start, width = positions, 1
        reference, length = x, tf.shape(x)[1]
        static_length = x.shape[1]
        done = 0
        for stage in self.stages:
            if static_length is not None and width >= static_length:
                break  # the window spans the sequence: the rest runs in full
            window, start, width = _advance(stage, reference, window, start, width, length, groups)
            for layer in _layers(stage):
                reference = layer(reference, training=False)
            length = tf.shape(reference)[1]
            static_length = reference.shape[1]
            done += 1
        full = _patch(reference, window, start, tf.zeros_like(start), static_length or length, length, groups)
        return self._rest(done)(x, tf.concat([reference, full], axis=0))

    def _rest(self, done: int) -> Callable:
        """``rest(x, activations)``: the model from the output of the ``done``-th stage on
        (``activations`` in place of that output; ``x`` only passes the stages before)."""
        def rest(x, activations):
            if done == 0:
                return graph_forward(self.graph, {}, self.wrappers)(activations)
            layers = [layer for stage in self.stages[:done] for layer in _layers(stage)]
            replacements = {id(layer): _pass for layer in layers[:-1]}
            replacements[id(layers[-1])] = lambda *args, **kwargs: activations
            return graph_forward(self.graph, replacements, self.wrappers)(x)

        return rest


def _pass(inputs, **_):
    return inputs


def _layers(stage: Stage) -> list[Any]:
    """The model's layers a stage computes, in order."""
    return [stage.layer, *([stage.norm] if stage.norm is not None else []), *stage.after]


def _advance(stage: Stage, reference: tf.Tensor, window: tf.Tensor, start: tf.Tensor, width: int,
             length: tf.Tensor, groups: tuple) -> tuple[tf.Tensor, tf.Tensor, int]:
    """One stage on the mutants' windows ``(M, width, channels)`` starting at ``start (P,)``:
    the next layer's windows, starts and width."""
    layer = stage.layer
    if stage.kind == "pointwise":
        return layer(window, training=False), start, width
    if stage.kind == "conv":  # output j reads inputs j - left + i * dilation, i < kernel
        patch = tf.cast(_convolution_patch(reference, window, start, stage.reach, length, groups), layer.compute_dtype)
        if stage.norm is not None:
            kernel, bias = folded_weights(layer, stage.norm, patch.dtype)
        else:
            kernel, bias = layer.kernel, layer.bias if layer.use_bias else None
        values = tf.nn.convolution(patch[:, None], kernel[None], padding="VALID",
                                   dilations=[1, layer.dilation_rate[0]])  # (M, 1, W', C): fuses with what follows
        if bias is not None:
            values = tf.nn.bias_add(values, bias)
        values = layer.activation(values)
        for after in stage.after:  # on the 4-D result while the layers accept it (a ReLU then fuses)
            if values.shape.rank == 4 and after.input_spec is not None:
                values = tf.squeeze(values, 1)
            values = after(values, training=False)
        values = tf.squeeze(values, 1) if values.shape.rank == 4 else values
        return values, start + stage.left - stage.reach, width + stage.reach
    # pooling (valid): output j reads inputs [j * stride, j * stride + size)
    size, stride = stage.reach + 1, stage.stride
    first = -tf.math.floordiv(size - 1 - start, stride)  # ceil((start - size + 1) / stride)
    new_width = (width + size - 2) // stride + 1
    patch = _patch(reference, window, start, first * stride, (new_width - 1) * stride + size, length, groups)
    pool = keras.ops.max_pool if isinstance(layer, keras.layers.MaxPooling1D) else keras.ops.average_pool
    return pool(patch, pool_size=size, strides=stride, padding="valid"), first, new_width


def _patch(reference: tf.Tensor, window: tf.Tensor, start: tf.Tensor, patch_start: tf.Tensor, width: Any,
           length: tf.Tensor, groups: tuple) -> tf.Tensor:
    """Each mutant's activations on ``width`` positions from ``patch_start (P,)``: its window
    ``(M, W, channels)`` (from ``start (P,)``) where it lies, its sequence's ``reference (C,
    length, channels)`` elsewhere, zeros outside the sequence: ``(M, width, channels)``."""
    sequences, positions, substitutes = groups
    window_width = window.shape[1]
    at = patch_start[:, None] + tf.range(width)  # (P, width) absolute positions
    inside = (at >= 0) & (at < length)
    offset = at - start[:, None]
    in_window = inside & (offset >= 0) & (offset < window_width)
    known = _known(reference, patch_start, width, length)  # (C, P, width, channels)
    channels = tf.shape(window)[-1]
    window = tf.reshape(window, tf.stack([sequences, positions, substitutes, window_width, channels]))
    index = tf.broadcast_to(tf.clip_by_value(offset, 0, window_width - 1), tf.stack([sequences, positions, width]))
    mutated = tf.gather(window, index, axis=3, batch_dims=2)  # (C, P, S, width, channels)
    values = tf.where(in_window[None, :, None, :, None], mutated, known[:, :, None])
    return tf.reshape(values, tf.stack([-1, width, channels]))


def _convolution_patch(reference: tf.Tensor, window: tf.Tensor, start: tf.Tensor, reach: int, length: tf.Tensor,
                       groups: tuple) -> tf.Tensor:
    """``_patch`` for a convolution: the window ``(M, W, channels)`` from ``start (P,)`` with
    ``reach`` positions of its sequence's activations on either side, ``(M, W + 2 reach,
    channels)``; the window's positions outside the sequence are zeros."""
    sequences, positions, substitutes = groups
    window_width = window.shape[1]
    at = start[:, None] + tf.range(window_width)  # (P, W)
    channels = tf.shape(window)[-1]
    window = tf.reshape(window, tf.stack([sequences, positions, substitutes, window_width, channels]))
    window = tf.where(((at >= 0) & (at < length))[None, :, None, :, None], window, tf.zeros((), window.dtype))
    context = tf.stack([sequences, positions, substitutes, reach, channels])
    left = tf.broadcast_to(_known(reference, start - reach, reach, length)[:, :, None], context)
    right = tf.broadcast_to(_known(reference, start + window_width, reach, length)[:, :, None], context)
    patch = tf.concat([left, window, right], axis=3)
    return tf.reshape(patch, tf.stack([-1, window_width + 2 * reach, channels]))


def _known(reference: tf.Tensor, first: tf.Tensor, width: int, length: tf.Tensor) -> tf.Tensor:
    """``reference (C, length, channels)`` on ``width`` positions from ``first (P,)``, zeros
    outside the sequence: ``(C, P, width, channels)``."""
    at = first[:, None] + tf.range(width)
    known = tf.gather(reference, tf.clip_by_value(at, 0, length - 1), axis=1)
    return tf.where(((at >= 0) & (at < length))[None, :, :, None], known, tf.zeros((), known.dtype))
