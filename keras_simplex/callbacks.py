"""Training callback: schedule the angle penalty and monitor gradient angles every epoch."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np

from keras_simplex.attribution import gradient_angles
from keras_simplex.geometry import DEFAULT_ANGLE_THRESHOLDS
from keras_simplex.regularizers import check_strength, find_angle_regularizer
from keras_simplex.targets import Target

Schedule = Callable[[int], float]


def warmup(strength: float, epochs: int, start: float = 0.0) -> Schedule:
    """Linear warm-up from ``start`` to ``strength`` over ``epochs`` epochs, then constant."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return lambda epoch: start + (strength - start) * min(1.0, epoch / epochs)


class SimplexAngleCallback(keras.callbacks.Callback):
    """Set the regularizer's strength each epoch, and log angle statistics to the history.

    Each epoch, before training, ``schedule`` (a number, or ``f(epoch) -> strength``, e.g.
    ``warmup(1e-3, 5)``) is assigned to the model's ``SimplexAngleRegularizer``. After each
    epoch, the angles of the input gradients of ``x_monitor`` (a fixed validation subset) are
    added to the epoch logs, so they land in ``History`` and in ``TensorBoard`` when that
    callback is listed *after* this one:

    - ``angle_mean_abs``: mean |angle| in degrees; ``angle_std``: standard deviation;
    - ``angle_above_30`` ...: percent of positions with |angle| above each threshold.

    Args:
      x_monitor: ``(N, L, A)`` sequences to monitor, or None to only schedule.
      schedule: strength per epoch (None leaves it alone).
      target, logits: which output's gradient is monitored (as in ``saliency``).
      thresholds: angle thresholds in degrees.
    """

    def __init__(
        self,
        x_monitor: Any = None,
        schedule: float | Schedule | None = None,
        target: Target = None,
        logits: bool = False,
        thresholds: Sequence[float] = DEFAULT_ANGLE_THRESHOLDS,
    ) -> None:
        super().__init__()
        self.x_monitor = None if x_monitor is None else np.asarray(x_monitor, np.float32)
        self.schedule = schedule
        self.target = target
        self.logits = logits
        self.thresholds = tuple(thresholds)

    def _angles(self, x: np.ndarray) -> np.ndarray:
        """Angles ``(N, L)`` of the monitored output's input gradients at ``x``, in degrees."""
        regularizer = find_angle_regularizer(self.model)
        model = regularizer.backbone if regularizer is not None else self.model
        return gradient_angles(model, x, target=self.target, logits=self.logits)

    def _regularizer(self):
        regularizer = find_angle_regularizer(self.model)
        if regularizer is None and self.schedule is not None:
            raise ValueError("the model has no SimplexAngleRegularizer to schedule; wrap it with add_angle_regularizer")
        return regularizer

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.schedule is None:
            return
        value = self.schedule(epoch) if callable(self.schedule) else self.schedule
        self._regularizer().strength.assign(check_strength(value))

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check the schedule and the monitored sequences and target before the first epoch."""
        self._regularizer()
        if self.x_monitor is not None:
            self._angles(self.x_monitor[:1])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        regularizer = self._regularizer()
        if regularizer is not None:
            logs["angle_strength"] = float(keras.ops.convert_to_numpy(regularizer.strength))
        if self.x_monitor is None:
            return
        angles = self._angles(self.x_monitor)
        logs["angle_mean_abs"] = float(np.abs(angles).mean())
        logs["angle_std"] = float(angles.std())
        for threshold in self.thresholds:
            logs[f"angle_above_{threshold:g}"] = float(100 * (np.abs(angles) > threshold).mean())
