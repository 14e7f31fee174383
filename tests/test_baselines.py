import collections
import itertools

import numpy as np
import pytest

from conftest import random_one_hot
from keras_simplex.baselines import dinucleotide_shuffle, make_baselines, shuffle
from keras_simplex.encoding import one_hot_decode, one_hot_encode


def dinucleotides(seq):
    return collections.Counter(seq[i : i + 2] for i in range(len(seq) - 1))


def letter_pairs(x):
    """Independent count of adjacent letter pairs from a one-hot array (N, L, A) -> (N, A, A)."""
    return np.einsum("nla,nlb->nab", x[:, :-1], x[:, 1:])


@pytest.mark.parametrize("size", [4, 20])
def test_dinucleotide_shuffle_preserves_counts_exactly(size):
    x = random_one_hot(12, 150, size, seed=size)
    shuffled = dinucleotide_shuffle(x, 8, seed=1)
    assert shuffled.shape == (12, 8, 150, size)
    for b in range(8):
        np.testing.assert_array_equal(letter_pairs(shuffled[:, b]), letter_pairs(x))
        np.testing.assert_array_equal(shuffled[:, b, 0], x[:, 0])
        np.testing.assert_array_equal(shuffled[:, b, -1], x[:, -1])


def test_dinucleotide_shuffles_are_diverse_and_reproducible():
    x = random_one_hot(3, 200, seed=5)
    a = dinucleotide_shuffle(x, 50, seed=7)
    b = dinucleotide_shuffle(x, 50, seed=7)
    np.testing.assert_array_equal(a, b)
    for i in range(3):
        distinct = {s.tobytes() for s in a[i]}
        assert len(distinct) == 50
        assert all((s != x[i]).any() for s in a[i])
        # Shuffles move letters: on average most positions change.
        assert (a[i].argmax(-1) != x[i].argmax(-1)).mean() > 0.5
    assert not np.array_equal(a, dinucleotide_shuffle(x, 50, seed=8))


def test_dinucleotide_shuffle_is_uniform_over_valid_sequences():
    seq = "ACGTAACGGA"
    valid = {
        "".join(p) for p in set(itertools.permutations(seq))
        if dinucleotides("".join(p)) == dinucleotides(seq) and p[0] == seq[0] and p[-1] == seq[-1]
    }
    draws = 24000
    counts = collections.Counter(one_hot_decode(dinucleotide_shuffle(one_hot_encode(seq), draws, seed=3)[0]))
    assert set(counts) == valid
    expected = draws / len(valid)
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    # 11 degrees of freedom: P(chi2 > 31.3) = 0.001.
    assert chi2 < 31.3, counts


def test_positions_that_are_not_one_hot_are_shuffled_as_their_own_symbol():
    """N (1/A at every letter) and other probability vectors: dinucleotides with them are kept,
    and the shuffle's N positions get the original vectors in their order."""
    seq = "ACGNNTACGTTNAGCTAGGNACGT" * 4
    x = one_hot_encode([seq])
    x[0, 3] = [0.5, 0.5, 0.0, 0.0]  # the first N: another non-one-hot vector
    shuffled = dinucleotide_shuffle(x, 20, seed=4)[0]
    others = ~np.isin(x[0], [0, 1]).all(-1) | (x[0].sum(-1) != 1)
    for s in shuffled:
        decoded = "".join("ACGT"[row.argmax()] if ((row == 0) | (row == 1)).all() and row.sum() == 1 else "N" for row in s)
        assert dinucleotides(decoded) == dinucleotides(seq) and decoded[0] == seq[0] and decoded[-1] == seq[-1]
        np.testing.assert_array_equal(s[np.array([c == "N" for c in decoded])], x[0][others])
    assert len({s.tobytes() for s in shuffled}) == 20


def test_position_shuffle_keeps_composition():
    x = random_one_hot(4, 60, seed=2)
    s = shuffle(x, 5, seed=0)
    np.testing.assert_array_equal(s.sum(axis=2), np.repeat(x.sum(axis=1)[:, None], 5, axis=1))
    assert not np.array_equal(s[:, 0], x)


def test_make_baselines_shapes_and_errors():
    x = random_one_hot(3, 10, seed=1)
    assert make_baselines(x, "zeros").shape == (1, 1, 10, 4)
    uniform = make_baselines(x, "uniform")
    np.testing.assert_allclose(uniform, 0.25)
    assert make_baselines(x, "shuffle", 4, seed=0).shape == (3, 4, 10, 4)
    assert make_baselines(x, "dinucleotide_shuffle", 2, seed=0).shape == (3, 2, 10, 4)
    assert make_baselines(x, x[0]).shape == (1, 1, 10, 4)
    assert make_baselines(x, x).shape == (3, 1, 10, 4)
    assert make_baselines(x, x[:, None].repeat(2, 1)).shape == (3, 2, 10, 4)
    with pytest.raises(ValueError, match="does not fit"):
        make_baselines(x, x[:, :5])
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baselines(x, "gc")
    with pytest.raises(ValueError, match="NaN"):
        make_baselines(x, np.full((10, 4), np.nan, np.float32))
