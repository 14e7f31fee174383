"""The keras-simplex command, run through its installed entry point."""

import json
import os
import pathlib
import subprocess
import sys

import h5py
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot

COMMAND = os.path.join(os.path.dirname(sys.executable), "keras-simplex")
DUMMY = pathlib.Path(ks.__file__).parent / "datasets" / "encode_chipseq" / "dummy_data"


def run(*args, cwd=None, expect=0):
    result = subprocess.run([COMMAND, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)
    assert result.returncode == expect, (result.stdout[-2000:], result.stderr[-3000:])
    return result


def last_error_line(result):
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny dataset built and a model trained and saved through the command line."""
    root = tmp_path_factory.mktemp("cli")
    run("build-dataset", "synthetic_motifs/tiny", "--data-dir", root / "tfds")
    run("train", "--data", "synthetic_motifs/tiny", "--data-dir", root / "tfds", "--model", "cnn_shallow",
        "--epochs", "1", "--strength", "1e-4", "--output", root / "model.keras", "--seed", "3")
    return root


def test_train_evaluate_and_export(workspace):
    assert (workspace / "model.keras").exists()
    out = run("evaluate", "--model", workspace / "model.keras", "--data", "synthetic_motifs/tiny",
              "--data-dir", workspace / "tfds", "--sequences", "20").stdout
    assert "test AUROC" in out and "saliency corrected" in out and "mean_abs" in out
    run("export", "--model", workspace / "model.keras", "--output", workspace / "serving" / "1", "--ig-steps", "4")
    assert (workspace / "serving" / "1" / "saved_model.pb").exists()
    run("export", "--model", workspace / "model.keras", "--output", workspace / "serving" / "2", "--no-fast")
    assert (workspace / "serving" / "2" / "saved_model.pb").exists()


def test_attribute_fasta_bed_h5_and_npz(workspace):
    model = workspace / "model.keras"
    x = random_one_hot(30, 200, seed=4)
    with open(workspace / "seqs.fa", "w") as f:
        for i, s in enumerate(ks.one_hot_decode(x)):
            f.write(f">s{i}\n{s[:100]}\n{s[100:]}\n")
    run("attribute", "--model", model, "--input", workspace / "seqs.fa", "--output", workspace / "fa.h5",
        "--method", "expected_gradients", "--baselines", "2", "--steps", "3", "--batch-size", "7", "--seed", "1")
    with h5py.File(workspace / "fa.h5") as f:
        assert f["raw"].shape == f["corrected"].shape == (30, 200, 4) and f["angles"].shape == (30, 200)
        np.testing.assert_array_equal(f["x"][()], x)
        assert f["names"][0].decode() == "s0" and f.attrs["method"] == "expected_gradients"
        np.testing.assert_allclose(f["corrected"][()].sum(-1), f["raw"][()].sum(-1), atol=1e-5)  # simplex baselines
    from keras_simplex import cli

    loaded = cli._load_model(str(model))
    np.savez(workspace / "x.npz", x=x)
    run("attribute", "--model", model, "--input", workspace / "x.npz", "--output", workspace / "x.npz.out.npz", "--layout", "NAL")
    saved = np.load(workspace / "x.npz.out.npz")
    np.testing.assert_allclose(saved["corrected"], np.swapaxes(ks.saliency(loaded, x), 1, 2), atol=1e-5)
    run("attribute", "--model", model, "--input", workspace / "x.npz", "--output", workspace / "plain.npz", "--no-fast",
        "--method", "integrated_gradients", "--steps", "5", "--max-points", "16")
    np.testing.assert_allclose(np.load(workspace / "plain.npz")["corrected"],
                               ks.integrated_gradients(loaded, x, steps=5, fast=False), atol=1e-5)
    with h5py.File(workspace / "x.h5", "w") as f:
        f["X_test"] = np.swapaxes(x, 1, 2)  # the original channels-first layout
    run("attribute", "--model", model, "--input", workspace / "x.h5", "--input-key", "X_test", "--channels-first",
        "--output", workspace / "h5.npz", "--method", "smoothgrad", "--samples", "3")
    assert np.load(workspace / "h5.npz")["raw"].shape == (30, 200, 4)
    peaks = workspace / "peaks.bed"
    peaks.write_text("chr1\t1000\t1400\tp\t0\t.\t1\t1\t1\t150\nchr2\t2000\t2100\n")
    run("attribute", "--model", model, "--input", peaks, "--genome", DUMMY / "genome.fa", "--output", workspace / "bed.h5")
    with h5py.File(workspace / "bed.h5") as f:
        assert [n.decode() for n in f["names"][()]] == ["chr1:1050-1250", "chr2:1950-2150"]


def test_bad_inputs_exit_non_zero_with_one_line(workspace):
    model = workspace / "model.keras"
    missing = run("attribute", "--model", model, "--input", workspace / "nope.fa", "--output", workspace / "o.h5", expect=1)
    assert last_error_line(missing) == f"keras-simplex: error: input file not found: {workspace / 'nope.fa'}"
    (workspace / "bad.fa").write_text("ACGT\n>a\nACGT\n")
    malformed = run("attribute", "--model", model, "--input", workspace / "bad.fa", "--output", workspace / "o.h5", expect=1)
    assert "line 1: malformed FASTA" in last_error_line(malformed)
    (workspace / "protein.fa").write_text(">p\n" + "MKVL" * 50 + "\n")
    alphabet = run("attribute", "--model", model, "--input", workspace / "protein.fa", "--output", workspace / "o.h5", expect=1)
    assert "outside the alphabet" in last_error_line(alphabet)
    np.savez(workspace / "five.npz", x=random_one_hot(2, 200, 5))
    size = run("attribute", "--model", model, "--input", workspace / "five.npz", "--output", workspace / "o.h5", expect=1)
    assert "alphabet size 5" in last_error_line(size)
    assert not (workspace / "o.h5").exists() and not (workspace / "o.h5.partial").exists()
    options = run("attribute", "--model", model, "--input", workspace / "x.npz", "--output", workspace / "o.h5",
                  "--samples", "3", expect=1)
    assert last_error_line(options) == "keras-simplex: error: --samples does not apply to saliency"
    points = run("attribute", "--model", model, "--input", workspace / "x.npz", "--output", workspace / "o.h5",
                 "--max-points", "0", expect=1)
    assert last_error_line(points) == "keras-simplex: error: max_points must be >= 1, got 0"
    usage = run("attribute", "--model", model, expect=2)
    assert "--input" in usage.stderr
    assert "explains each option" in run("--help").stdout


def test_reproduce_and_demo_commands(tmp_path):
    run("reproduce", "angles", "--output-dir", tmp_path / "r", "--sequences", "200", "--epochs", "1",
        "--eval-sequences", "8", "--models", "cnn_shallow_relu")
    assert (tmp_path / "r" / "report.md").exists()
    out = run("demo", "--output-dir", tmp_path / "d", "--sequences", "300", "--epochs", "1").stdout
    assert "corrected" in out and (tmp_path / "d" / "saliency_logos.png").exists()
    assert json.load(open(tmp_path / "d" / "results.json"))["sequences"] > 0


def test_bed_windows_past_chromosome_ends_and_strands(workspace, tmp_path):
    rng = np.random.default_rng(8)
    chrom = "".join(rng.choice(list("ACGT"), 1000))
    (tmp_path / "genome.fa").write_text(f">chr1\n{chrom}\n")
    # a narrowPeak on '-' (summit 150 -> window 50-250), a BED6 on '+', and one past the end
    (tmp_path / "peaks.bed").write_text("chr1\t0\t400\tp\t0\t-\t1\t1\t1\t150\nchr1\t400\t600\tq\t0\t+\nchr1\t900\t1000\n")
    model = workspace / "model.keras"
    common = ["attribute", "--model", model, "--input", tmp_path / "peaks.bed", "--genome", tmp_path / "genome.fa"]
    run(*common, "--output", tmp_path / "skip.h5", "--stranded")
    complement = str.maketrans("ACGT", "TGCA")
    with h5py.File(tmp_path / "skip.h5") as f:
        assert [n.decode() for n in f["names"][()]] == ["chr1:50-250(-)", "chr1:400-600"]
        assert ks.one_hot_decode(f["x"][()]) == [chrom[50:250].translate(complement)[::-1], chrom[400:600]]
        assert f.attrs["windows_skipped"] == 1 and f.attrs["out_of_bounds"] == "skip" and f.attrs["stranded"]
    run(*common, "--output", tmp_path / "pad.npz", "--out-of-bounds", "pad")
    saved = np.load(tmp_path / "pad.npz")
    assert list(saved["names"]) == ["chr1:50-250", "chr1:400-600", "chr1:850-1050"]
    assert ks.one_hot_decode(saved["x"])[2] == chrom[850:] + "N" * 50 and int(saved["windows_padded"]) == 1
