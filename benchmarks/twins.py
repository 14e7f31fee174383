"""PyTorch twins of the package's convolutional models, for the PyTorch peers (captum,
tangermeme): the same function with the Keras weights copied across.

``TorchTwin(keras_model)`` covers chains of ``Conv1D`` ("same" padding, odd widths),
``BatchNormalization``, ``Activation`` (relu, exponential, linear), ``MaxPooling1D``,
``Dropout`` (inference: nothing), ``Flatten`` and ``Dense`` layers, as ``ks.models.cnn_deep``,
``cnn_shallow`` and ``basset`` build them. Every nonlinearity and pooling is its own module
(DeepLIFT implementations hook modules). ``TorchResidualTwin`` covers the BPNet-style model of
``benchmarks/architectures.py`` (a first convolution, residual dilated convolutions, a profile
convolution).
"""

from __future__ import annotations

import keras
import torch


class Exp(torch.nn.Module):
    def forward(self, x):
        return torch.exp(x)


class FlattenChannelsLast(torch.nn.Module):
    """``(N, C, L) -> (N, L * C)`` in the order Keras flattens ``(N, L, C)``."""

    def forward(self, h):
        return h.permute(0, 2, 1).flatten(1)


def _activation(name: str) -> torch.nn.Module:
    return {"relu": torch.nn.ReLU(), "exponential": Exp(), "linear": torch.nn.Identity()}[name]


def _conv(layer: keras.layers.Conv1D) -> torch.nn.Conv1d:
    """A stride-1 "same" ``Conv1D`` of odd width as ``torch.nn.Conv1d``, weights copied."""
    kernel, *bias = layer.get_weights()
    if layer.padding != "same" or kernel.shape[0] % 2 == 0 or tuple(layer.strides) != (1,):
        raise ValueError(f"{layer.name}: only stride-1 'same' convolutions of odd width are twinned")
    dilation = layer.dilation_rate[0]
    conv = torch.nn.Conv1d(kernel.shape[1], kernel.shape[2], kernel.shape[0], padding=dilation * (kernel.shape[0] // 2),
                           dilation=dilation, bias=bool(bias))
    conv.weight.data = torch.tensor(kernel.transpose(2, 1, 0))
    if bias:
        conv.bias.data = torch.tensor(bias[0])
    return conv


def _module(layer: keras.layers.Layer) -> list[torch.nn.Module]:
    """The PyTorch modules computing ``layer`` in inference, weights copied."""
    if isinstance(layer, keras.layers.Conv1D):
        return [_conv(layer), _activation(layer.activation.__name__)]
    if isinstance(layer, keras.layers.BatchNormalization):
        gamma, beta, mean, var = layer.get_weights()
        norm = torch.nn.BatchNorm1d(len(gamma), eps=layer.epsilon)
        norm.weight.data, norm.bias.data = torch.tensor(gamma), torch.tensor(beta)
        norm.running_mean.data, norm.running_var.data = torch.tensor(mean), torch.tensor(var)
        return [norm]
    if isinstance(layer, keras.layers.Activation):
        return [_activation(layer.activation.__name__)]
    if isinstance(layer, keras.layers.MaxPooling1D):
        return [torch.nn.MaxPool1d(layer.pool_size[0])]
    if isinstance(layer, keras.layers.Flatten):
        return [FlattenChannelsLast()]
    if isinstance(layer, keras.layers.Dense):
        kernel, bias = layer.get_weights()
        linear = torch.nn.Linear(*kernel.shape)
        linear.weight.data, linear.bias.data = torch.tensor(kernel.T), torch.tensor(bias)
        return [linear, _activation(layer.activation.__name__)]
    if isinstance(layer, (keras.layers.Dropout, keras.layers.InputLayer)):
        return []
    raise ValueError(f"{layer.name}: {type(layer).__name__} layers are not twinned")


class TorchTwin(torch.nn.Module):
    """``keras_model`` in PyTorch, inference mode; ``forward`` takes ``(N, L, A)`` channels
    last and returns output ``output`` ``(N,)``; ``channels_first`` takes ``(N, A, L)`` and
    returns ``(N, outputs)``, as tangermeme calls models."""

    def __init__(self, keras_model: keras.Model, output: int = 0):
        super().__init__()
        self.layers = torch.nn.Sequential(*[m for layer in keras_model.layers for m in _module(layer)
                                            if not isinstance(m, torch.nn.Identity)])
        self.output = output
        self.eval()

    def forward(self, x):
        return self.channels_first(x.permute(0, 2, 1))[:, self.output]

    def channels_first(self, h):
        return self.layers(h)


class TorchResidualTwin(torch.nn.Module):
    """The BPNet-style model in PyTorch: ``(N, L, A) -> (N, L)`` profile logits; ``target``
    (a function of the logits, e.g. the profile target) gives ``(N,)`` when set."""

    def __init__(self, keras_model: keras.Model, target=None):
        super().__init__()
        convs = [_conv(layer) for layer in keras_model.layers if isinstance(layer, keras.layers.Conv1D)]
        self.first, self.residual, self.profile = convs[0], torch.nn.ModuleList(convs[1:-1]), convs[-1]
        self.target = target
        self.eval()

    def forward(self, x):
        h = torch.relu(self.first(x.permute(0, 2, 1)))
        for conv in self.residual:
            h = h + torch.relu(conv(h))
        logits = self.profile(h)[:, 0]
        return logits if self.target is None else self.target(logits)


class ChannelsFirst(torch.nn.Module):
    """The twin as tangermeme calls models: ``(N, A, L) -> (N, outputs)``."""

    def __init__(self, twin: TorchTwin):
        super().__init__()
        self.twin = twin
        self.eval()

    def forward(self, x):
        return self.twin.channels_first(x)
