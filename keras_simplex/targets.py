"""Which scalar (or scalars) of a model's output is differentiated.

A target picks units of the model output's last axis. By default the picked units are summed
into one scalar per sequence (one map); with ``reduce=None`` (or ``target="all"``) each unit
keeps its own map, a target axis ``T`` after the sequence axis.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence, Union

import numpy as np
import tensorflow as tf

Target = Union[None, int, slice, Sequence[int], str, Callable[[Any], tf.Tensor]]
REDUCTIONS = ("sum", None)


def normalize_target(target: Target) -> Target:
    """``target`` with numpy integers as ``int`` and index sequences as a tuple of ints.

    Raises TypeError for anything that is not None, an integer, a slice, a sequence of
    integers, ``"all"`` or a callable.
    """
    if target is None or callable(target) or isinstance(target, slice) or _is_all(target):
        return target
    if isinstance(target, numbers.Integral) and not isinstance(target, (bool, np.bool_)):
        return int(target)
    if isinstance(target, (Sequence, np.ndarray)) and not isinstance(target, (str, bytes)):
        indices = list(np.asarray(target).reshape(-1)) if isinstance(target, np.ndarray) else list(target)
        if all(isinstance(i, numbers.Integral) and not isinstance(i, (bool, np.bool_)) for i in indices):
            if not indices:
                raise ValueError("target is an empty list: it selects no output to explain")
            return tuple(int(i) for i in indices)
    raise TypeError(f"target must be None, an int, a slice, a list of ints, 'all' or a callable, got {target!r}")


def target_key(target: Target) -> Any:
    """A hashable key for caching compiled functions per (normalized) target."""
    target = normalize_target(target)
    if isinstance(target, slice):
        return ("slice", target.start, target.stop, target.step)
    if _is_all(target):
        return ("all",)
    if callable(target):
        return ("callable", id(target))
    return ("indices", target) if isinstance(target, tuple) else ("index", target)


def check_target(target: Target, output_shape: Any) -> Target:
    """The normalized ``target``, or a clear error when it cannot address a model output of
    ``output_shape`` (e.g. ``(None, 1)``, or a list/dict of shapes for multi-output models,
    which need a callable target)."""
    target = normalize_target(target)
    if callable(target):
        return target
    if isinstance(output_shape, (list, dict)) and not _is_shape(output_shape):
        raise ValueError(
            f"the model has {len(output_shape)} outputs; pass target=callable(outputs) -> (N,) "
            f"that picks the scalar to explain (the command line takes models with one output tensor: save one "
            f"that concatenates the heads, keras.layers.Concatenate()(model.outputs))"
        )
    units = output_shape[-1] if len(output_shape) > 1 else 1
    if _is_all(target):
        if units is None:
            raise ValueError("target='all' needs a model whose last output axis has a known size")
        return tuple(range(units))
    if target is None:
        known = [d for d in output_shape[1:] if d is not None]
        if len(known) != len(output_shape) - 1 or any(d != 1 for d in known):
            raise ValueError(
                f"the model output has shape {tuple(output_shape)}; choose what to explain with "
                f"target=<output index>, a slice, a list of indices or a callable (command line: --target N; "
                f"attribute also takes --targets all / --targets 0,5,7 for one map each)"
            )
        return target
    if units is None:
        return target
    if isinstance(target, slice):
        if not range(units)[target]:
            raise ValueError(f"target {target!r} selects none of the model's {units} outputs")
        return target
    indices = (target,) if isinstance(target, int) else target
    if any(not -units <= i < units for i in indices):
        raise ValueError(f"target {target!r} is out of range for a model output with {units} units")
    return target % units if isinstance(target, int) else tuple(i % units for i in target)  # negative: from the end


def per_target_indices(target: Target, reduce: str | None, output_shape: Any) -> tuple[int, ...] | None:
    """The output units that keep their own map, or None when the target is summed into one.

    ``target="all"`` always keeps one map per unit; a list of indices or a slice does with
    ``reduce=None``; ``reduce="sum"`` (the default elsewhere) sums them. Raises for
    ``reduce=None`` with a target that names no list of units (None, an int, a callable).
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be 'sum' or None, got {reduce!r}")
    if _is_all(target):
        return check_target("all", output_shape)
    if reduce == "sum":
        return None
    checked = check_target(target, output_shape)  # negative indices counted from the end
    if isinstance(checked, tuple):
        if len(set(checked)) < len(checked):
            raise ValueError(f"target {normalize_target(target)!r} names an output unit more than once (units "
                             f"{checked!r}): one map per unit")
        return checked
    if isinstance(checked, slice) and output_shape[-1] is not None:
        return tuple(range(output_shape[-1]))[checked]
    raise ValueError(f"reduce=None keeps one map per output unit: give target='all', a list of indices or a "
                     f"slice of a known output axis, not {checked!r}")


def _is_all(target: Any) -> bool:
    return isinstance(target, str) and target == "all"


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(d is None or isinstance(d, int) for d in value)


def select_targets(outputs: Any, indices: tuple[int, ...]) -> tf.Tensor:
    """One scalar per example and unit, ``(P, T)``: units ``indices`` of the last axis of
    ``outputs (P, ..., units)``, any other non-batch axes summed."""
    value = tf.gather(_with_unit_axis(outputs), list(indices), axis=-1)
    if value.shape.rank is not None and value.shape.rank > 2:
        value = tf.reduce_sum(tf.reshape(value, [tf.shape(value)[0], -1, len(indices)]), axis=1)
    return value


def target_values(outputs: Any, target: Target, per_target: tuple[int, ...] | None, dtype: tf.DType) -> tf.Tensor:
    """The differentiated values in ``dtype``: ``(P,)`` for a target, ``(P, T)`` for the units
    ``per_target`` (``per_target_indices``) when each keeps its own map."""
    values = select_target(outputs, target) if per_target is None else select_targets(outputs, per_target)
    return tf.cast(values, dtype)


def select_target(outputs: Any, target: Target) -> tf.Tensor:
    """Reduce model outputs to one scalar per example, ``(P,)``.

    Args:
      outputs: the model's output, ``(P, ..., T)``, or any structure for a callable target.
      target: None (a single-unit output), an index or list of indices of the last axis, a
        slice of it (selected units are summed, as are any other non-batch axes), or a
        callable ``f(outputs) -> (P,)``.
    """
    target = normalize_target(target)
    if callable(target):
        value = target(outputs)
    else:
        value = outputs if target is None else _with_unit_axis(outputs)
        if isinstance(target, int):
            value = value[..., target]
        elif target is not None:
            value = value[..., target] if isinstance(target, slice) else tf.gather(value, list(target), axis=-1)
            if value.shape[-1] == 0:
                raise ValueError(f"target {target!r} selects none of the model's outputs")
    value = tf.convert_to_tensor(value)
    if value.shape.rank is not None and value.shape.rank > 1:
        value = tf.reduce_sum(tf.reshape(value, [tf.shape(value)[0], -1]), axis=-1)
    return value


def _with_unit_axis(outputs: Any) -> tf.Tensor:
    """``outputs`` as a tensor whose last axis is the units: an output of one scalar per
    example, ``(P,)``, is one unit, ``(P, 1)`` (an index must never pick examples)."""
    value = tf.convert_to_tensor(outputs)
    return value[:, None] if value.shape.rank == 1 else value
