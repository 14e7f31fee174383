import numpy as np
import pytest

from keras_simplex.encoding import PROTEIN, one_hot_decode, one_hot_encode


def test_round_trip_and_layout():
    x = one_hot_encode(["ACGT", "ttga"])
    assert x.shape == (2, 4, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], np.eye(4))
    assert one_hot_decode(x) == ["ACGT", "TTGA"]


def test_unknown_letters_are_uniform_or_rejected():
    x = one_hot_encode("ANT")
    np.testing.assert_allclose(x[0, 1], 0.25)
    assert one_hot_decode(x) == ["ANT"]
    with pytest.raises(ValueError, match="position 1"):
        one_hot_encode("ANT", unknown="error")


def test_protein_alphabet_and_length_check():
    assert one_hot_encode("MKV", alphabet=PROTEIN).shape == (1, 3, 20)
    with pytest.raises(ValueError, match="same length"):
        one_hot_encode(["AC", "A"])
