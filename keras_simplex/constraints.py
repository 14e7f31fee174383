"""Keep first-layer kernels zero-mean across the alphabet: input gradients in the simplex.

For a first layer ``h = sum_{j,a} W[j, a, f] x[l + j, a] + b``, every input-gradient entry
is a combination of kernel columns ``W[j, :, f]``; if each has zero mean over the alphabet,
so does the gradient at every position, and its angle to the simplex is 0 by construction.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="keras_simplex")
class ZeroMeanAlphabet(keras.constraints.Constraint):
    """Kernel constraint: subtract the mean over the alphabet (input-channel) axis.

    For ``Conv1D`` kernels ``(width, A, filters)`` and ``Dense`` kernels ``(A, units)`` on
    the sequence input, the alphabet is axis ``-2``. Use it on the layer that reads the
    one-hot input: ``Conv1D(..., kernel_constraint=ZeroMeanAlphabet())``. Keras applies
    constraints after each optimizer update: a freshly initialized kernel is projected by the
    first training step, and the angles are 0 from then on.
    """

    def __call__(self, w):
        return w - keras.ops.mean(w, axis=-2, keepdims=True)

    def get_config(self) -> dict:
        return {}


def fold_simplex_projection(model: keras.Model) -> keras.Model:
    """A copy of ``model`` whose input layer is folded into zero-mean form plus a bias.

    The first layer's kernel ``W`` (a ``Conv1D`` or ``Dense`` reading the model input) becomes
    ``W - mean_a W`` and its bias absorbs ``sum_j mean_a W[j, :, f]``. On one-hot (or any
    simplex) inputs every window sums to 1 per position, so:

    - with ``'valid'`` padding (or a Dense layer) predictions are unchanged exactly, and the
      copy's *raw* input gradients equal the original's *corrected* (simplex-projected)
      gradients;
    - with ``'same'`` (or ``'causal'``) padding the zero-padded positions near the sequence
      ends do not sum to 1, so the first layer's outputs within half a kernel of either end
      differ; through pooling and dense layers the predictions and the input gradients can
      then differ everywhere (measured on CNN-deep: gradients 40% apart, relative), so use
      ``'valid'`` padding for the exact equivalence;
    - off the simplex (inputs whose positions do not sum to 1) the copy is a different
      function.

    The original model is left untouched.
    """
    layer = _input_layer(model)
    if not getattr(layer, "use_bias", False):
        raise ValueError(f"layer {layer.name!r} has no bias to absorb the kernel mean; build it with use_bias=True")
    folded = keras.models.clone_model(model)
    folded.set_weights(model.get_weights())
    target = folded.get_layer(layer.name)
    kernel = keras.ops.convert_to_numpy(target.kernel)
    mean = kernel.mean(axis=-2, keepdims=True)
    target.kernel.assign(kernel - mean)
    absorbed = mean.reshape(-1, kernel.shape[-1]).sum(axis=0)  # sum over kernel positions
    bias = keras.ops.convert_to_numpy(target.bias)
    target.bias.assign(bias + absorbed.astype(bias.dtype))
    return folded


def _input_layer(model: keras.Model) -> Any:
    """The Conv1D or Dense layer that reads the model's sequence input."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, (keras.layers.Conv1D, keras.layers.Dense)):
            return layer
        raise ValueError(
            f"the first layer {layer.name!r} is a {type(layer).__name__}; folding needs a Conv1D or Dense "
            f"layer reading the one-hot input"
        )
    raise ValueError("the model has no layers")
