"""Angle regularization: penalise the off-simplex angle of the input gradient while training.

Keras 3 has no symbolic ``model.add_loss``, and weight regularizers never see input
gradients, so the penalty is a wrapper layer: in training it takes the input gradient of the
wrapped model inside ``call`` (double backprop) and adds ``strength * penalty`` with
``self.add_loss``. At inference it is the wrapped model.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from keras_simplex.geometry import simplex_sine
from keras_simplex.logits import activated_output_layers, linear_activations
from keras_simplex.targets import check_target, select_target

PENALTIES = ("angle_l2", "sine_squared")


def angle_penalty(gradient: tf.Tensor, penalty: str = "angle_l2") -> tf.Tensor:
    """Scalar penalty of an input-gradient batch ``(N, L, A)``, float32.

    ``"angle_l2"`` (the paper's): batch mean of the L2 norm over positions of the angles in
    degrees, ``mean_n sqrt(sum_l theta_nl^2)`` (with 1e-12 added under the root, so that its
    derivative stays finite at zero angle). ``"sine_squared"``: mean over all positions of
    ``sin^2(theta) = (sum_a g_a)^2 / (A ||g||^2)``, smooth and bounded by 1. Both are computed
    as ``simplex_angle`` is (in float64, whatever the gradient's scale), and their derivative
    stays finite where a gradient is exactly normal to the simplex (+-90 degrees).
    """
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty {penalty!r}; choose one of {PENALTIES}")
    sine = simplex_sine(gradient)
    if penalty == "sine_squared":
        return tf.cast(tf.reduce_mean(tf.square(sine)), tf.float32)
    # arcsin has an infinite slope at +-1: differentiated at a sine just inside (a clip that
    # passes the gradient on), with the exact value.
    inside = sine + tf.stop_gradient(tf.clip_by_value(sine, -1.0 + 1e-9, 1.0 - 1e-9) - sine)
    angles = (tf.asin(inside) + tf.stop_gradient(tf.asin(sine) - tf.asin(inside))) * (180.0 / math.pi)
    return tf.cast(tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(angles), axis=-1) + 1e-12)), tf.float32)


@keras.saving.register_keras_serializable(package="keras_simplex")
class SimplexAngleRegularizer(keras.layers.Layer):
    """Wrap a model so that training adds ``strength * angle_penalty`` of its input gradient.

    >>> regularized = add_angle_regularizer(ks.models.cnn_deep(), strength=1e-3)
    >>> regularized.compile(...); regularized.fit(...)

    Args:
      backbone: the Keras model to train, ``(N, L, A)`` -> outputs.
      strength: initial penalty weight (a finite number >= 0), held in a non-trainable variable (``self.strength``)
        so it can change during training without recompiling (see ``SimplexAngleCallback``).
      penalty: ``"angle_l2"`` (the paper's) or ``"sine_squared"``, see ``angle_penalty``.
      logits: differentiate the output layer's pre-activation instead of its activation.
      target: output unit to differentiate: None (a single unit), an index, a list of indices
        (summed) or a slice (kept as the list of units it picks).

    The layer itself computes in float32 whatever the global dtype policy (the backbone keeps
    its own): under ``mixed_float16`` the penalty is computed from the input gradient cast to
    float32, where a sum of squared angles in degrees would overflow float16. The backbone's
    backward pass stays float16, so for very confident outputs the gradient can underflow and
    the penalty weaken.
    """

    def __init__(
        self,
        backbone: keras.Model,
        strength: float = 1e-3,
        penalty: str = "angle_l2",
        logits: bool = False,
        target: int | list[int] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {penalty!r}; choose one of {PENALTIES}")
        check_strength(strength)
        if callable(target):
            raise TypeError("target must be None, an index or a list of indices (callables cannot be saved)")
        output_shape = _known_shape(backbone, "output_shape")
        if not (isinstance(output_shape, tuple) and all(d is None or isinstance(d, int) for d in output_shape)):
            raise ValueError(f"the angle regularizer explains one output tensor and this model has "
                             f"{len(output_shape)} outputs: concatenate them into one "
                             f"(keras.layers.Concatenate) and choose units with target")
        target = check_target(target, output_shape)
        if isinstance(target, slice):  # saved as the list of units it picks
            if output_shape[-1] is None:
                raise ValueError("a slice target needs a known output axis; give a list of indices")
            target = list(range(output_shape[-1]))[target]
        self.backbone = backbone
        self.penalty = penalty
        self.logits = bool(logits)
        self.target = list(target) if isinstance(target, (list, tuple)) else target
        self.strength = self.add_weight(
            name="strength", shape=(), initializer=keras.initializers.Constant(float(strength)), trainable=False
        )
        if self.logits:
            if len(activated_output_layers(backbone)) != 1:
                raise ValueError("logits=True needs a model with exactly one activated output layer")

    def build(self, input_shape):
        if not self.backbone.built:
            self.backbone.build(input_shape)
        self.built = True

    def call(self, x, training=None):
        if not training:
            return self.backbone(x, training=training)
        with tf.GradientTape() as tape:
            tape.watch(x)
            if self.logits:
                with linear_activations(activated_output_layers(self.backbone)) as (activation,):
                    scores = self.backbone(x, training=True)
                outputs = activation(scores)
            else:
                outputs = scores = self.backbone(x, training=True)
            total = tf.reduce_sum(select_target(scores, self.target))
        gradient = tf.cast(tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO), tf.float32)
        self.add_loss(tf.cast(self.strength, tf.float32) * angle_penalty(gradient, self.penalty))
        return outputs

    def compute_output_shape(self, input_shape):
        return self.backbone.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            backbone=keras.saving.serialize_keras_object(self.backbone),
            strength=float(keras.ops.convert_to_numpy(self.strength)),
            penalty=self.penalty,
            logits=self.logits,
            target=self.target,
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> "SimplexAngleRegularizer":
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def add_angle_regularizer(model: keras.Model, strength: float = 1e-3, **options: Any) -> keras.Model:
    """A functional model ``input -> SimplexAngleRegularizer(model)``; options as the layer's.

    The regularized model predicts exactly like ``model`` (the same weights); the penalty only
    enters the training loss.
    """
    inputs = keras.Input(_known_shape(model, "input_shape")[1:], name="sequence")
    layer = SimplexAngleRegularizer(model, strength, name="simplex_angle_regularizer", **options)
    return keras.Model(inputs, layer(inputs), name=f"{model.name}_angle_regularized")


def check_strength(strength: Any) -> float:
    """``strength`` as a float; a ValueError unless it is a finite number >= 0."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"strength must be a number >= 0, got {strength!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"strength must be a finite number >= 0, got {strength!r}")
    return value


def _known_shape(model: keras.Model, which: str) -> Any:
    """``model.input_shape`` or ``output_shape``; a clear error for a model that records none."""
    try:
        return getattr(model, which)
    except (AttributeError, ValueError):
        raise ValueError(f"the angle regularizer needs a model with a known {which.replace('_', ' ')} "
                         f"(functional or Sequential); wrap a subclassed model: inputs = keras.Input((L, A)); "
                         f"keras.Model(inputs, model(inputs))") from None


def find_angle_regularizer(model: keras.Model) -> SimplexAngleRegularizer | None:
    """The ``SimplexAngleRegularizer`` layer of ``model`` (searched recursively), or None."""
    for layer in getattr(model, "layers", []):
        if isinstance(layer, SimplexAngleRegularizer):
            return layer
        if isinstance(layer, keras.Model):
            found = find_angle_regularizer(layer)
            if found is not None:
                return found
    return None


