"""Initializers for the initialization-scale study (the off-simplex angle grows with scale)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_simplex")
class ScaledHeNormal(keras.initializers.VarianceScaling):
    """He-normal (truncated normal, ``std = sqrt(2 / fan_in)``) with its std times ``scale``.

    ``scale=1`` is Keras' ``he_normal``. By string: ``"keras_simplex>ScaledHeNormal"``.

    Args:
      scale: multiplier of the standard deviation (the variance scales by ``scale**2``).
      seed: int, ``keras.random.SeedGenerator`` or None. As with every Keras 3 initializer, one
        instance seeded by an int or None draws the same values at every call: give each layer
        its own instance (``keras_simplex.models`` copies it per layer) or a ``SeedGenerator``.
    """

    def __init__(self, scale: float = 1.0, seed=None):
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.std_scale = float(scale)
        super().__init__(scale=2.0 * self.std_scale**2, mode="fan_in", distribution="truncated_normal", seed=seed)

    def get_config(self) -> dict:
        return {"scale": self.std_scale, "seed": super().get_config()["seed"]}


@keras.saving.register_keras_serializable(package="keras_simplex")
class FixedSigmaNormal(keras.initializers.RandomNormal):
    """Zero-mean normal with a fixed standard deviation ``sigma``, whatever the layer's fan-in
    (the paper's initialization study). By string: ``"keras_simplex>FixedSigmaNormal"``.
    ``seed`` as for ``ScaledHeNormal``: one instance per layer."""

    def __init__(self, sigma: float = 0.05, seed=None):
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        super().__init__(mean=0.0, stddev=float(sigma), seed=seed)

    def get_config(self) -> dict:
        config = super().get_config()
        return {"sigma": config["stddev"], "seed": config["seed"]}
