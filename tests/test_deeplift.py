"""DeepLIFT / DeepSHAP: summation to delta on the paper's models, exact linear results, clear
errors, and equality with tangermeme on a PyTorch twin (issue: reference methods, item 2). The
zoo (summation, invariances, unsupported models) is in the contract battery."""

import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot
from zoo import ZOO, randomize_batch_norm

ENTRIES = {entry.name: entry for entry in ZOO}


@pytest.mark.parametrize("build", [lambda: ks.models.cnn_deep(first_activation="exponential"),
                                   lambda: ks.models.cnn_deep(), lambda: ks.models.cnn_shallow(first_activation="exponential")])
def test_summation_to_delta_on_the_paper_models(build):
    keras.utils.set_random_seed(0)
    model = randomize_batch_norm(build())
    x = random_one_hot(3, 200, seed=4)
    explainer = ks.Explainer(model, logits=True)
    result = explainer.deep_lift_shap(x, num_references=4, seed=1)
    hypothetical = explainer.deep_lift_shap(x, num_references=4, seed=1, hypothetical=True)
    np.testing.assert_allclose((hypothetical.raw * x).sum(-1), result.raw.sum(-1), atol=1e-6)
    assert np.abs(result.delta).max() < 1e-4 * max(1.0, np.abs(result.raw.sum((1, 2))).max())


def test_sequences_taken_in_slices_get_the_maps_of_one_call():
    """On CPU a DeepSHAP call takes its sequences in independent slices (kernel.in_pieces),
    including slices that would be empty; each sequence keeps its own maps and delta."""
    keras.utils.set_random_seed(2)
    model = randomize_batch_norm(ks.models.cnn_shallow(input_length=200))
    x = random_one_hot(5, 200, seed=7)

    def maps(explainer, pieces):
        explainer.engine._deeplift.pieces = pieces
        explainer.engine._deeplift._functions.clear()
        return explainer.deep_lift_shap(x, num_references=3, seed=4)

    default = ks.Explainer(model, logits=True)
    two = default.deep_lift_shap(x, num_references=3, seed=4)
    assert default.engine._deeplift.pieces == 2  # the CPU default
    reference = maps(default, 1)
    few = ks.Explainer(model, logits=True, max_points=8)  # two sequences per call
    few.deep_lift_shap(x[:1], num_references=3)
    for result in (two, maps(few, 7)):  # 7 slices of 2 sequences: 5 empty
        for name in ("raw", "corrected", "angles"):
            value = getattr(reference, name)
            np.testing.assert_allclose(getattr(result, name), value, rtol=1e-5, atol=1e-5 * np.abs(value).max())
        scale = np.abs(reference.raw.sum((1, 2))).max()  # delta: zero up to rounding at this scale
        np.testing.assert_allclose(result.delta, reference.delta, atol=1e-5 * scale)


def test_a_linear_model_gives_the_exact_form():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((10, 4))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    weights = model.layers[-1].kernel.numpy().reshape(10, 4)
    x = random_one_hot(3, 10, seed=5)
    references = random_one_hot(6, 10, seed=6).reshape(3, 2, 10, 4)
    result = ks.Explainer(model).deep_lift_shap(x, references=references, hypothetical=True)
    expected = (weights - (references * weights).sum(-1, keepdims=True)).mean(1)
    np.testing.assert_allclose(result.raw, expected, atol=1e-6)
    corrected = weights - weights.mean(-1, keepdims=True)
    np.testing.assert_allclose(result.angles, np.broadcast_to(ks.simplex_angle(weights).numpy(), (3, 10)), atol=1e-4)
    np.testing.assert_allclose(result.corrected, (corrected - (references * corrected).sum(-1, keepdims=True)).mean(1),
                               atol=1e-6)


def test_one_map_per_output_unit_of_a_linear_model():
    """DeepSHAP of each unit, stacked on axis 1: for a linear model, x * mean_r (w_t - <r, w_t>)
    (the observed letters' contributions)."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((10, 4))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    weights = np.moveaxis(model.layers[-1].kernel.numpy().reshape(10, 4, 3), -1, 0)  # (T, L, A)
    x = random_one_hot(4, 10, seed=7)
    references = random_one_hot(8, 10, seed=8).reshape(4, 2, 10, 4)
    explainer = ks.Explainer(model, target=[2, 0], reduce=None)
    result = explainer.deep_lift_shap(x, references=references)
    assert explainer.engine._deeplift.function(False).experimental_get_tracing_count() == 1  # one trace, both units
    assert result.raw.shape == (4, 2, 10, 4) and result.angles.shape == (4, 2, 10) and result.delta.shape == (4, 2)
    for slot, unit in enumerate((2, 0)):
        expected = x * (weights[unit] - (references * weights[unit]).sum(-1, keepdims=True)).mean(1)
        np.testing.assert_allclose(result.raw[:, slot], expected, atol=1e-6)
        single = ks.Explainer(model, target=unit).deep_lift_shap(x, references=references)
        for field in ("raw", "corrected", "angles", "delta"):
            np.testing.assert_allclose(getattr(result, field)[:, slot], getattr(single, field), atol=1e-6)


def test_a_softmax_output_needs_logits():
    model = ENTRIES["softmax_output_logits"].build()
    with pytest.raises(ValueError, match=r"no rule for 'softmax.*\(Softmax\).*logits=True"):
        ks.Explainer(model, 1).deep_lift_shap(random_one_hot(2, 24), num_references=2)


def twin_of(model, activation):
    """A PyTorch module with ``model``'s weights, as tangermeme's deep_lift_shap wants it."""
    torch = pytest.importorskip("torch")

    class Exp(torch.nn.Module):
        def forward(self, x):
            return torch.exp(x)

    conv1, conv2, dense1, dense2 = [layer for layer in model.layers
                                    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Dense))]
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.a1 = torch.nn.Conv1d(4, 8, 5, padding=2), Exp() if activation == "exponential" else torch.nn.ReLU()
            self.p1, self.c2 = torch.nn.MaxPool1d(4), torch.nn.Conv1d(8, 8, 3, padding=1)
            self.bn, self.a2, self.p2 = torch.nn.BatchNorm1d(8, eps=norm.epsilon), torch.nn.ReLU(), torch.nn.MaxPool1d(3)
            self.d1, self.a3, self.d2 = torch.nn.Linear(40, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
            for mine, theirs in ((self.c1, conv1), (self.c2, conv2)):
                w, b = theirs.get_weights()
                mine.weight.data, mine.bias.data = torch.tensor(w.transpose(2, 1, 0)), torch.tensor(b)
            for mine, theirs in ((self.d1, dense1), (self.d2, dense2)):
                w, b = theirs.get_weights()
                mine.weight.data, mine.bias.data = torch.tensor(w.T), torch.tensor(b)
            gamma, beta, mean, variance = norm.get_weights()
            self.bn.weight.data, self.bn.bias.data = torch.tensor(gamma), torch.tensor(beta)
            self.bn.running_mean.data, self.bn.running_var.data = torch.tensor(mean), torch.tensor(variance)
            self.eval()

        def forward(self, x):  # (N, 4, L)
            h = self.p1(self.a1(self.c1(x)))
            h = self.p2(self.a2(self.bn(self.c2(h))))
            return self.d2(self.a3(self.d1(h.permute(0, 2, 1).flatten(1))))

    return Twin(), Exp


@pytest.mark.parametrize("activation", ["relu", "exponential"])
def test_equal_to_tangermeme_on_a_pytorch_twin(activation):
    """Runs where the bench extra (torch) and tangermeme are installed."""
    pytest.importorskip("tangermeme")
    import torch
    from tangermeme._deep_lift_utils import _nonlinear
    from tangermeme.deep_lift_shap import deep_lift_shap

    keras.utils.set_random_seed(0)
    inputs = keras.Input((60, 4))
    h = keras.layers.Conv1D(8, 5, padding="same", activation=activation,
                            kernel_initializer=keras.initializers.RandomNormal(0, 0.3))(inputs)
    h = keras.layers.MaxPooling1D(4)(h)
    h = keras.layers.BatchNormalization()(keras.layers.Conv1D(8, 3, padding="same")(h))
    h = keras.layers.MaxPooling1D(3)(keras.layers.Activation("relu")(h))
    h = keras.layers.Dense(5, activation="relu")(keras.layers.Flatten()(h))
    model = randomize_batch_norm(keras.Model(inputs, keras.layers.Dense(2)(h)))
    twin, exp = twin_of(model, activation)
    x = random_one_hot(4, 60, seed=0)
    references = ks.dinucleotide_shuffle(x, 10, seed=1)
    for hypothetical in (False, True):
        theirs = deep_lift_shap(twin, torch.tensor(np.swapaxes(x, 1, 2)),
                                references=torch.tensor(np.swapaxes(references, 2, 3)), target=0,
                                hypothetical=hypothetical, device="cpu", additional_nonlinear_ops={exp: _nonlinear})
        theirs = np.swapaxes(theirs.numpy(), 1, 2)
        ours = ks.Explainer(model, 0).deep_lift_shap(x, references=references, hypothetical=hypothetical)
    


def test_equal_to_captum_where_its_rules_hold():
    """captum's DeepLift on a PyTorch twin without max pooling (where its known bugs bite):
    the same hypothetical contributions for the same references. Runs with the bench extra."""
    torch = pytest.importorskip("torch")
    captum = pytest.importorskip("captum.attr")

    keras.utils.set_random_seed(2)
    inputs = keras.Input((30, 4))
    h = keras.layers.Conv1D(6, 5, padding="same", activation="relu",
                            kernel_initializer=keras.initializers.RandomNormal(0, 0.4))(inputs)
    h = keras.layers.Dense(5, activation="sigmoid")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    conv, dense1, dense2 = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv1D, keras.layers.Dense))]

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.relu = torch.nn.Conv1d(4, 6, 5, padding=2), torch.nn.ReLU()
            self.d1, self.sigmoid, self.d2 = torch.nn.Linear(180, 5), torch.nn.Sigmoid(), torch.nn.Linear(5, 1)
            w, b = conv.get_weights()
            self.conv.weight.data, self.conv.bias.data = torch.tensor(w.transpose(2, 1, 0)), torch.tensor(b)
            for mine, theirs in ((self.d1, dense1), (self.d2, dense2)):
                w, b = theirs.get_weights()
                mine.weight.data, mine.bias.data = torch.tensor(w.T), torch.tensor(b)

        def forward(self, x):  # (N, L, A) like the Keras model
            h = self.relu(self.conv(x.permute(0, 2, 1))).permute(0, 2, 1).flatten(1)
            return self.d2(self.sigmoid(self.d1(h)))

    def hypothetical(multipliers, inputs, baselines):
        (m,), (r,) = multipliers, baselines
        return (m - (r * m).sum(-1, keepdim=True),)

    x = random_one_hot(3, 30, seed=7)
    references = ks.dinucleotide_shuffle(x, 4, seed=8).astype(np.float32)
    theirs = captum.DeepLift(Twin().eval()).attribute(
        torch.tensor(np.repeat(x, 4, axis=0)), baselines=torch.tensor(references.reshape(-1, 30, 4)), target=0,
        custom_attribution_func=hypothetical).detach().numpy().reshape(3, 4, 30, 4).mean(1)
    ours = ks.Explainer(model).deep_lift_shap(x, references=references, hypothetical=True)
    np.testing.assert_allclose(ours.raw, theirs, atol=1e-4 * np.abs(theirs).max())
    gradient = ks.Explainer(model).saliency(x).raw  # the rules matter: the plain gradient is far off
    assert np.abs(gradient - theirs).max() > 1e-2 * np.abs(theirs).max()


@pytest.mark.parametrize("activation", ["sparsemax", "glu", "softmax", lambda z: z * keras.ops.mean(z)])
def test_an_activation_that_is_not_element_wise_is_refused(activation):
    """The rescale rule holds for a function of one unit only: sparsemax (its units sum to 1)
    once got it silently, and contributions summed to 0 where f(x) - f(r) was 0.32."""
    inputs = keras.Input((6, 4))
    hidden = keras.layers.Dense(4, activation=activation)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    with pytest.raises(ValueError, match=r"no rule for the activation .* of 'dense"):
        ks.Explainer(model).deep_lift_shap(random_one_hot(2, 6), num_references=2)


def test_a_linear_activation_layer_needs_no_rule():
    """``Activation("linear")`` is the identity: its gradient, like a layer without activation."""
    inputs = keras.Input((6, 4))
    model = keras.Model(inputs, keras.layers.Activation("linear")(keras.layers.Dense(1)(keras.layers.Flatten()(inputs))))
    x = random_one_hot(3, 6)
    result = ks.Explainer(model).deep_lift_shap(x, num_references=3)
    np.testing.assert_allclose(result.delta, 0, atol=1e-5)
