"""The synthetic_motifs TFDS builder, in TFDS's own testing style plus determinism checks."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import keras_simplex.datasets  # noqa: F401
from keras_simplex.datasets import build, synthetic_motifs


class SyntheticMotifsTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = synthetic_motifs.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["tiny"]
    SPLITS = {"train": 140, "validation": 20, "test": 40}


def decoded(data_dir, name="synthetic_motifs/tiny"):
    builder = tfds.builder(name, data_dir=str(data_dir))
    return {
        split: list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))
        for split in ("train", "validation", "test")
    }


def test_two_builds_decode_to_identical_examples(tmp_path):
    for d in ("a", "b"):
        build.build_dataset("synthetic_motifs/tiny", tmp_path / d)
    first, second = decoded(tmp_path / "a"), decoded(tmp_path / "b")
    for split in first:
        assert len(first[split]) == len(second[split]) > 0
        for x, y in zip(first[split], second[split]):
            for key in ("sequence", "ground_truth", "label"):
                np.testing.assert_array_equal(x[key], y[key])
            np.testing.assert_array_equal(x["motifs"]["start"], y["motifs"]["start"])
    example = first["train"][0]
    assert example["sequence"].shape == (200, 4) and example["sequence"].dtype == np.float32
    assert example["ground_truth"].dtype == np.float32


def test_loadable_with_tfds_load_and_supervised(tmp_path):
    build.build_dataset("synthetic_motifs/tiny", tmp_path)
    ds = tfds.load("synthetic_motifs/tiny", data_dir=str(tmp_path), split="test", as_supervised=True, download=False)
    x, y = next(iter(ds.batch(40)))
    assert x.shape == (40, 200, 4) and y.shape == (40,)


def test_interrupted_build_leaves_no_loadable_dataset(tmp_path, monkeypatch):
    def broken(self, data, indices):
        for n, item in enumerate(original(self, data, indices)):
            if n == 10:
                raise KeyboardInterrupt("interrupted")
            yield item

    original = synthetic_motifs.Builder._generate_examples
    monkeypatch.setattr(synthetic_motifs.Builder, "_generate_examples", broken)
    with pytest.raises(KeyboardInterrupt):
        build.build_dataset("synthetic_motifs/tiny", tmp_path)
    monkeypatch.undo()
    assert not tfds.builder("synthetic_motifs/tiny", data_dir=str(tmp_path)).is_prepared()
    with pytest.raises(Exception, match="not found|not prepared|download"):
        tfds.load("synthetic_motifs/tiny", data_dir=str(tmp_path), download=False)


def test_build_command_line(tmp_path, capsys):
    from keras_simplex import cli

    assert cli.main(["build-dataset", "synthetic_motifs/tiny", "--data-dir", str(tmp_path)]) == 0
    assert "train 140, validation 20, test 40" in capsys.readouterr().out
    assert cli.main(["build-dataset", "no_such_dataset", "--data-dir", str(tmp_path)]) == 1
    assert "keras-simplex: error:" in capsys.readouterr().err
