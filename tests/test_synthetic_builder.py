"""The synthetic_motifs TFDS builder, in TFDS's own testing style plus determinism checks."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

import keras_simplex.datasets  # noqa: F401
from keras_simplex.datasets import build, splits, synthetic, synthetic_motifs


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
    assert cli.main(["build-dataset", "synthetic_motifs/tiny", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"reused the dataset built in {tmp_path / 'synthetic_motifs' / 'tiny'}")
    assert cli.main(["build-dataset", "no_such_dataset", "--data-dir", str(tmp_path)]) == 1
    assert "keras-simplex: error:" in capsys.readouterr().err


def custom(**recipe):
    return synthetic_motifs.SyntheticMotifsConfig(
        name="mine", recipe=dataclasses.replace(synthetic.ORIGINAL, num_positives=20, num_negatives=20, **recipe))


def test_a_custom_config_is_reused_only_when_built_from_the_same_recipe(tmp_path):
    """A custom config rebuilt under its name with other sizes once kept the old data silently;
    now the same recipe is reused, another one (or a build that recorded no fingerprint) is an
    error naming the difference, and the built config loads by name."""
    builder, reused = build.prepare_dataset("synthetic_motifs", tmp_path, config=custom())
    assert not reused and builder.info.splits["train"].num_examples == 28
    assert build.prepare_dataset("synthetic_motifs", tmp_path, config=custom())[1]
    with pytest.raises(ValueError, match=r"synthetic_motifs/mine/1.0.0 holds a dataset built otherwise: config field "
                                         r"recipe.length 200 -> 100; .*delete .*mine/1.0.0 to rebuild it"):
        build.build_dataset("synthetic_motifs", tmp_path, config=custom(length=100))
    train, validation, test = splits.load_splits("synthetic_motifs/mine", str(tmp_path))
    assert train[0].shape == (28, 200, 4) and len(validation[0]) + len(test[0]) == 12
    with pytest.raises(ValueError, match="with config=, name is the dataset alone"):
        build.build_dataset("synthetic_motifs/mine", tmp_path, config=custom())


def test_a_build_that_recorded_no_fingerprint_is_reused_only_for_a_registered_config(tmp_path):
    """A dataset built by an older version (no fingerprint in its metadata) was reused silently:
    a custom config's recipe is then unknown, so it is refused; a registered config made from no
    input file by the same builder version (unchanged generation) is reused."""
    def forget_fingerprint(folder):
        metadata = folder / "metadata.json"
        recorded = json.loads(metadata.read_text()) if metadata.exists() else {}
        metadata.write_text(json.dumps({k: v for k, v in recorded.items() if k != "fingerprint"}))

    build.build_dataset("synthetic_motifs", tmp_path, config=custom())
    forget_fingerprint(tmp_path / "synthetic_motifs" / "mine" / "1.0.0")
    with pytest.raises(ValueError, match=r"mine/1.0.0 holds a dataset built otherwise: built by an older version of "
                                         r"keras_simplex, which recorded no fingerprint; build into another --data-dir"):
        build.build_dataset("synthetic_motifs", tmp_path, config=custom())
    build.build_dataset("synthetic_motifs/tiny", tmp_path)
    forget_fingerprint(tmp_path / "synthetic_motifs" / "tiny" / "1.0.0")
    assert build.prepare_dataset("synthetic_motifs/tiny", tmp_path)[1]  # reused


def test_an_unbuilt_custom_config_names_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"synthetic_motifs has no config 'mine' \(nor a custom config of that name "
                                         r"built in .*\); choose one of: original, paper, tiny"):
        splits.prepared_builder("synthetic_motifs/mine", str(tmp_path))
