import dataclasses

import numpy as np
import pytest

from keras_simplex.datasets import h5, synthetic

SMALL = dataclasses.replace(synthetic.ORIGINAL, num_positives=3000, num_negatives=3000, seed=5)


@pytest.fixture(scope="module")
def data():
    return synthetic.generate(SMALL)


def test_shapes_labels_and_splits(data):
    assert data.x.shape == data.ground_truth.shape == (6000, 200, 4)
    assert data.x.dtype == data.ground_truth.dtype == np.float32
    np.testing.assert_array_equal(data.x.sum(-1), 1)
    assert set(np.unique(data.x)) == {0.0, 1.0}
    np.testing.assert_array_equal(data.y, [1] * 3000 + [0] * 3000)
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sizes == {"train": 4200, "validation": 600, "test": 1200}
    assert len(np.unique(np.concatenate(list(data.splits.values())))) == 6000


def test_positives_contain_only_core_motifs_and_negatives_draw_from_the_whole_pool(data):
    core_ids = set(synthetic.CORE_MOTIF_IDS)
    positives = {m[0] for i in range(3000) for m in data.annotations(i)}
    negatives = {m[0] for i in range(3000, 6000) for m in data.annotations(i)}
    assert positives == core_ids
    assert core_ids < negatives and len(negatives) == 55  # 5 core + 50 background TFs
    paper = synthetic.generate(dataclasses.replace(synthetic.PAPER, num_positives=300, num_negatives=300))
    assert not {m[0] for i in range(300, 600) for m in paper.annotations(i)} & core_ids
    assert set(np.unique((paper.motif_index >= 0).sum(1))) == {3, 4, 5}


def test_motif_counts_follow_the_configured_distribution(data):
    counts = (data.motif_index >= 0).sum(axis=1)
    observed = np.array([(counts == k).mean() for k in SMALL.motif_counts])
    # 6000 draws: standard error <= 0.0065; allow 4 of them.
    np.testing.assert_allclose(observed, SMALL.motif_count_probs, atol=0.026)


def test_motifs_never_overlap_and_ground_truth_is_exact(data):
    for i in range(0, 6000, 7):
        covered = np.zeros(200, dtype=int)
        expected = np.full((200, 4), 0.25, np.float32)
        for matrix_id, start, strand in data.annotations(i):
            motif = next(m for m in data.pool if m.matrix_id == matrix_id and m.strand == strand)
            covered[start : start + motif.width] += 1
            expected[start : start + motif.width] = motif.pwm
        assert covered.max() <= 1, f"overlapping motifs in sequence {i}"
        starts = [a[1] for a in data.annotations(i)]
        assert starts == sorted(starts)
        np.testing.assert_allclose(data.ground_truth[i], expected, atol=1e-7)
        np.testing.assert_array_equal(data.ground_truth[i][covered == 0], 0.25)


def test_sequences_are_drawn_from_the_ground_truth(data):
    # Where the ground truth forbids a letter (probability 0), it never appears.
    assert not (data.x[data.ground_truth == 0] == 1).any()
    # Background letters are uniform.
    background = data.x[(data.ground_truth == 0.25).all(-1)]
    np.testing.assert_allclose(background.mean(0), 0.25, atol=0.01)


def test_generation_is_deterministic(data):
    again = synthetic.generate(SMALL)
    np.testing.assert_array_equal(again.x, data.x)
    np.testing.assert_array_equal(again.motif_start, data.motif_start)
    other = synthetic.generate(dataclasses.replace(SMALL, seed=6))
    assert not np.array_equal(other.x, data.x)


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        synthetic.SyntheticConfig(motif_count_probs=(0.5, 0.5, 0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="do not fit"):
        synthetic.generate(dataclasses.replace(SMALL, length=20, num_positives=5, num_negatives=5))


def test_h5_round_trip_in_the_original_layout(tmp_path, data):
    path = tmp_path / "synthetic_code_dataset.h5"
    splits = h5.synthetic_splits(data)
    h5.export_h5(path, splits)
    import h5py

    with h5py.File(path) as f:
        assert sorted(f) == sorted(
            f"{k}_{s}" for k in ("X", "Y", "model") for s in ("train", "valid", "test")
        )
        assert f["X_train"].shape == (4200, 4, 200) and f["Y_train"].shape == (4200, 1)
        assert f["model_test"].shape == (1200, 4, 200)
    loaded = h5.import_h5(path)
    for split, arrays in splits.items():
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[split][key], value)


def test_h5_errors_name_the_file(tmp_path):
    with pytest.raises(OSError, match="missing.h5"):
        h5.import_h5(tmp_path / "missing.h5")
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(ValueError, match="X_train"):
        h5.import_h5(tmp_path / "other.h5")


def test_split_fractions_must_be_three_non_negative_fractions_summing_to_one():
    for fractions in [(1.2, -0.1, -0.1), (0.8, 0.2), (0.6, 0.1, 0.1, 0.2), (0.5, 0.1, 0.1)]:
        with pytest.raises(ValueError, match=r"split_fractions must be three non-negative fractions"):
            synthetic.SyntheticConfig(split_fractions=fractions)
    assert synthetic.SyntheticConfig(split_fractions=(0.5, 0.5, 0.0)).split_fractions == (0.5, 0.5, 0.0)


def test_h5_float_labels_round_trip_as_float32(tmp_path, data):
    """Float labels (e.g. 0.2, 0.9) once came back cast to int64 (all 0); integer labels stay int64."""
    x = data.x[:6]
    floats = np.array([0.2, 0.9, 0.5, 1.0, 0.0, 0.7], np.float32)
    h5.export_h5(tmp_path / "float.h5", {s: {"x": x, "y": floats} for s in ("train", "validation", "test")})
    loaded = h5.import_h5(tmp_path / "float.h5")["train"]
    assert loaded["y"].dtype == np.float32
    np.testing.assert_array_equal(loaded["y"], floats)
    counts = np.array([[3, 0], [1, 2], [0, 0], [5, 1], [2, 2], [0, 7]])
    h5.export_h5(tmp_path / "int.h5", {"train": {"x": x, "y": counts}})
    loaded = h5.import_h5(tmp_path / "int.h5")["train"]
    assert loaded["y"].dtype == np.int64
    np.testing.assert_array_equal(loaded["y"], counts)


def test_h5_malformed_files_are_clear_errors(tmp_path, data):
    """A channels-last (N, L, A) X (also of 20 positions, the size of a protein alphabet), X and
    Y of other row counts, and X without Y: each once imported wrongly or a bare KeyError."""
    import h5py

    x, y = data.x[:6], data.y[:6, None]
    for length in (200, 20):
        with h5py.File(tmp_path / "last.h5", "w") as f:
            f["X_train"], f["Y_train"] = x[:, :length], y
        with pytest.raises(ValueError, match=rf"X_train has shape \(6, {length}, 4\), which looks channels last "
                                             r"\(N, L, A\); the original layout stores \(N, A, L\)"):
            h5.import_h5(tmp_path / "last.h5")
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f["X_train"], f["Y_train"] = np.swapaxes(x, 1, 2), y[:4]
    with pytest.raises(ValueError, match="X_train has 6 sequences but Y_train 4 labels"):
        h5.import_h5(tmp_path / "rows.h5")
    with h5py.File(tmp_path / "noy.h5", "w") as f:
        f["X_train"] = np.swapaxes(x, 1, 2)
    with pytest.raises(ValueError, match="X_train has no labels Y_train"):
        h5.import_h5(tmp_path / "noy.h5")
    with h5py.File(tmp_path / "nal.h5", "w") as f:  # (N, A, L) with L = 20: imported as it should be
        f["X_train"], f["Y_train"] = np.swapaxes(x[:, :20], 1, 2), y
    np.testing.assert_array_equal(h5.import_h5(tmp_path / "nal.h5")["train"]["x"], x[:, :20])
