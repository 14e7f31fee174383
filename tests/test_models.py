import numpy as np
import pytest

import keras_simplex as ks


@pytest.mark.parametrize(
    "builder, params", [(ks.models.cnn_shallow, 15_433), (ks.models.cnn_deep, 53_161)]
)
@pytest.mark.parametrize("activation", ["relu", "exponential"])
def test_paper_models_parameter_counts_and_outputs(builder, params, activation):
    model = builder(input_length=200, first_activation=activation)
    assert model.count_params() == params
    y = model(np.full((2, 200, 4), 0.25, np.float32))
    assert y.shape == (2, 1) and np.all((y.numpy() > 0) & (y.numpy() < 1))
