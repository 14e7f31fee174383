import numpy as np
import pytest
import tensorflow as tf

from conftest import random_one_hot
from keras_simplex.validation import check_sequences


def test_accepts_one_hot_and_tensors():
    x = random_one_hot(2, 5)
    assert check_sequences(x).shape == (2, 5, 4)
    assert check_sequences(tf.constant(x), alphabet_size=4, length=5).dtype == np.float32


@pytest.mark.parametrize(
    "x, kwargs, error, message",
    [
        (np.zeros((2, 5), np.int64), {}, TypeError, "letter indices"),
        (random_one_hot(1, 5)[0], {}, ValueError, r"x\[None\]"),
        (np.zeros((0, 5, 4), np.float32), {}, ValueError, "empty batch"),
        (random_one_hot(2, 5, 5), {"alphabet_size": 4}, ValueError, "alphabet size 5"),
        (random_one_hot(2, 6), {"length": 5}, ValueError, "length 6"),
        (np.full((2, 5, 1), 1.0, np.float32), {}, ValueError, ">= 2"),
        (np.where(random_one_hot(2, 5) == 1, np.nan, 0).astype(np.float32), {}, ValueError, "NaN/Inf"),
        (random_one_hot(2, 5) * 2, {}, ValueError, "off the simplex"),
        (np.array(["ACGT"]), {}, TypeError, r"holds strings; one-hot encode sequences first"),
    ],
    ids=["integer", "rank2", "empty", "alphabet", "length", "size1", "nan", "off-simplex", "strings"],
)
def test_bad_inputs_raise_errors_naming_the_problem(x, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_sequences(x, **kwargs)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, bool])
def test_integer_and_boolean_one_hot_arrays_are_cast(dtype):
    x = random_one_hot(3, 5)
    cast = check_sequences(x.astype(dtype))
    assert cast.dtype == np.float32
    np.testing.assert_array_equal(cast, x)
    with pytest.raises(ValueError, match="off the simplex"):
        check_sequences(np.zeros((2, 5, 4), dtype))


def test_off_simplex_inputs_are_allowed_on_request():
    x = random_one_hot(2, 5) * 0.5
    np.testing.assert_array_equal(check_sequences(x, check_simplex=False), x)


def test_infinite_values_are_rejected_even_without_simplex_check():
    x = random_one_hot(2, 5)
    x[1, 3, 0] = np.inf
    with pytest.raises(ValueError, match="sequence 1, position 3"):
        check_sequences(x, check_simplex=False)


@pytest.mark.parametrize("values", [(np.inf, 0, 0, 0), (np.inf, -np.inf, 1, 0), (np.nan, 1, 0, 0), (-np.inf, 1, 0, 0)])
def test_infinite_values_are_named_as_such_by_the_simplex_check(values):
    x = random_one_hot(3, 5)
    x[2, 4] = values
    with pytest.raises(ValueError, match=r"NaN/Inf values \(first at sequence 2, position 4\)"):
        check_sequences(x)


def test_float16_rows_of_a_large_alphabet_are_on_the_simplex():
    """Sums of 20 float16 letters once rounded past the tolerance (a protein's X, 1/20 each, at
    0.99975 exactly, was refused as 1.05)."""
    from keras_simplex.encoding import PROTEIN, one_hot_encode

    x = one_hot_encode(["ACDEFXXGHI"], alphabet=PROTEIN, dtype=np.float16)
    assert check_sequences(x).dtype == np.float32
    rows = np.random.default_rng(0).dirichlet(np.ones(20), size=(50, 40)).astype(np.float16)
    check_sequences(rows)
    with pytest.raises(ValueError, match="off the simplex"):
        check_sequences(rows * np.float16(1.01))
