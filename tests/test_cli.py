"""The keras-simplex command: its parser and code in this process (``run``), and through its
installed entry point where the process itself is what is tested (``run_installed``)."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import types

import h5py
import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import command_in_process, random_one_hot

COMMAND = os.path.join(os.path.dirname(sys.executable), "keras-simplex")
DUMMY = pathlib.Path(ks.__file__).parent / "datasets" / "encode_chipseq" / "dummy_data"


def run(*args, cwd=None, expect=0):
    """``keras-simplex ARGS`` in this process: its exit code, stdout and stderr."""
    code, out, err = command_in_process(*args, cwd=cwd)
    assert code == expect, (out[-2000:], err[-3000:])
    return types.SimpleNamespace(returncode=code, stdout=out, stderr=err)


def run_installed(*args, expect=0):
    """``keras-simplex ARGS`` as a new process, through the installed entry point."""
    result = subprocess.run([COMMAND, *map(str, args)], capture_output=True, text=True, timeout=600)
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
    run("export", "--model", workspace / "model.keras", "--output", workspace / "serving" / "2", "--no-fast",
        "--ig-rule", "riemann_midpoint")
    assert (workspace / "serving" / "2" / "saved_model.pb").exists()
    settings = ks.serving.export_settings(workspace / "serving" / "2")
    assert settings["model"] == str(workspace / "model.keras") and settings["ig_rule"] == "riemann_midpoint"
    assert settings["fast"] is False and settings["ig_steps"] == 20
    failed = run("export", "--model", workspace / "model.keras", "--output", workspace / "serving" / "3",
                 "--ig-steps", "1", expect=1)
    assert "--ig-steps/--ig-rule: steps must be >= 2 for the trapezoid rule" in failed.stderr


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
    np.save(workspace / "x.npy", x)  # one array, no key
    run("attribute", "--model", model, "--input", workspace / "x.npy", "--output", workspace / "npy.npz")
    np.testing.assert_array_equal(np.load(workspace / "npy.npz")["corrected"], np.swapaxes(saved["corrected"], 1, 2))
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
    x = random_one_hot(8, 200)
    np.savez(workspace / "splits.npz", x_train=x, y_train=np.ones(8), x_valid=x, y_valid=np.ones(8))
    splits = run("train", "--data", workspace / "splits.npz", "--output", workspace / "m.keras", expect=1)
    assert last_error_line(splits) == (
        f"keras-simplex: error: {workspace / 'splits.npz'} has no x_validation, y_validation, x_test, y_test: an NPZ "
        f"of splits holds x_train, y_train, x_validation, y_validation, x_test and y_test (this one: x_train, "
        f"y_train, x_valid, y_valid)")
    usage = run_installed("attribute", "--model", model, expect=2)
    assert "--input" in usage.stderr
    assert "explains each command" in run_installed("--help").stdout
    installed = run_installed("attribute", "--model", model, "--input", workspace / "x.npz", "--output",
                              workspace / "o.h5", "--samples", "3", expect=1)
    assert installed.stderr == "keras-simplex: error: --samples does not apply to saliency\n"  # and nothing else
    evaluated = run_installed("evaluate", "--model", model, "--data", "synthetic_motifs/tiny", "--data-dir",
                              workspace / "tfds")
    assert "auroc" in evaluated.stdout.lower() and "absl" not in evaluated.stderr  # no TFDS deprecation notes


def test_simple_mistakes_are_reported_before_tensorflow_is_imported(workspace):
    """Missing files, outputs in a missing folder, and method options a method does not read:
    the error, exit 1, and no TensorFlow import (seconds) before it."""
    model, x, out = str(workspace / "model.keras"), str(workspace / "x.npz"), str(workspace / "never.h5")
    missing = str(workspace / "missing")
    in_missing = str(workspace / "missing" / "o.h5")
    cases = [
        (["attribute", "--model", missing, "--input", x, "--output", out], f"model file not found: {missing}"),
        (["attribute", "--model", model, "--model", missing, "--input", x, "--output", out],
         f"model file not found: {missing}"),
        (["attribute", "--model", model, "--input", missing, "--output", out], f"input file not found: {missing}"),
        (["attribute", "--model", model, "--input", x, "--genome", missing, "--output", out],
         f"genome file not found: {missing}"),
        (["attribute", "--model", model, "--input", x, "--output", out, "--steps", "5"],
         "--steps does not apply to saliency"),
        (["attribute", "--model", model, "--input", x, "--output", out, "--method", "smoothgrad", "--steps", "5",
          "--baselines", "2"], "--steps, --baselines does not apply to smoothgrad"),
        (["attribute", "--model", model, "--input", x, "--output", out, "--method", "ism", "--seed", "1"],
         "--seed does not apply to ism"),
        (["evaluate", "--model", model, "--data", missing + ".npz"], f"data file not found: {missing}.npz"),
        (["train", "--data", missing + ".h5", "--output", str(workspace / "m.keras")],
         f"data file not found: {missing}.h5"),
        (["export", "--model", missing, "--output", str(workspace / "never")], f"model file not found: {missing}"),
        (["angles", "--maps", missing, "--output", out], f"maps file not found: {missing}"),
        (["attribute", "--model", model, "--input", x, "--output", in_missing], f"output folder does not exist: {missing}"),
        (["attribute", "--model", model, "--input", x, "--output", out, "--bigwig", in_missing[:-2] + "bw"],
         f"output folder does not exist: {missing}"),
        (["angles", "--maps", x, "--output", in_missing], f"output folder does not exist: {missing}"),
        (["jaspar-meme", "--output", in_missing[:-2] + "meme"], f"output folder does not exist: {missing}"),
        (["export", "--model", model, "--output", str(workspace / "x.npz" / "serving" / "1")],
         f"output folder is not a folder: {x}"),  # export makes the missing folders, not through a file
        # outputs of the wrong kind: once found only when the finished result was renamed into place
        (["attribute", "--model", model, "--input", x, "--output", str(workspace)],
         f"{workspace} is a folder; this output is a file: give a file name"),
        (["train", "--data", x, "--output", str(workspace)], f"{workspace} is a folder; this output is a file"
                                                               f": give a file name"),
        (["export", "--model", model, "--output", x], f"{x} is a file; this output is a folder: give a folder name"),
        (["attribute", "--model", model, "--input", x, "--format", "modisco", "--output", model],
         f"{model} is a file; this output is a folder: give a folder name"),
    ]
    probe = ("import json, sys, contextlib, io, keras_simplex_cli\n"
             "for argv in json.loads(sys.argv[1]):\n"
             "    err = io.StringIO()\n"
             "    with contextlib.redirect_stderr(err):\n"
             "        code = keras_simplex_cli.main(argv)\n"
             "    print(json.dumps([code, err.getvalue(), 'tensorflow' in sys.modules]))\n")
    result = subprocess.run([sys.executable, "-c", probe, json.dumps([argv for argv, _ in cases])],
                            capture_output=True, text=True, timeout=120)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert answers == [[1, f"keras-simplex: error: {message}\n", False] for _, message in cases], result.stderr


def test_every_method_reads_the_method_options_of_the_registry():
    """The launcher's table of the options each method reads (checked before TensorFlow is
    imported) is the registry's, plus --seed."""
    from keras_simplex_cli import FLAGS_READ, METHOD_OPTIONS

    for name in ks.methods.METHODS:
        read = {flag for flag, option in METHOD_OPTIONS.items() if option in ks.methods.method_options(name)}
        assert set(FLAGS_READ[name]) == read | {"seed"}, name


def test_a_command_in_a_callers_process_gives_its_signal_handlers_back(workspace):
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ)}
    run("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.npz", "--output",
        workspace / "back.h5")
    run("attribute", "--model", workspace / "model.keras", "--input", workspace / "nope.fa", "--output",
        workspace / "back.h5", expect=1)
    assert {number: signal.getsignal(number) for number in handlers} == handlers


def test_reproduce_hands_every_argument_but_verbosity_to_the_experiments():
    from keras_simplex_cli import reproduce_arguments

    assert reproduce_arguments(["--qui", "reproduce", "--trials", "1", "-v", "angles"]) == (
        ["--qui", "reproduce", "-v"], ["--trials", "1", "angles"])  # an abbreviated --quiet too, as argparse allows
    assert reproduce_arguments(["train", "--data", "reproduce"]) == (["train", "--data", "reproduce"], None)


def test_reproduce_and_demo_commands(tmp_path):
    # options before the experiment's name (once "unrecognized arguments": argparse's REMAINDER)
    run("reproduce", "--output-dir", tmp_path / "r", "--sequences", "200", "--epochs", "1",
        "--eval-sequences", "8", "--models", "cnn_shallow_relu", "--", "angles")
    assert (tmp_path / "r" / "report.md").exists()
    out = run("demo", "--output-dir", tmp_path / "d", "--sequences", "300", "--epochs", "1").stdout
    assert "corrected" in out and (tmp_path / "d" / "saliency_logos.png").exists()
    assert json.load(open(tmp_path / "d" / "results.json"))["sequences"] > 0


def test_bed_windows_past_chromosome_ends_and_strands(workspace, tmp_path):
    rng = np.random.default_rng(8)
    chrom = "".join(rng.choice(list("ACGT"), 1000))
    chrom = chrom[:650] + "N" * 20 + chrom[670:]  # an assembly gap inside the BED12 window
    (tmp_path / "genome.fa").write_text(f">chr1\n{chrom}\n")
    # a narrowPeak on '-' (summit 150 -> window 51-251: the summit at index 100 read on '-', as
    # 50-250 puts it on '+'), a BED6 on '+', a BED12 (its 10th column,
    # blockCount 1, is no summit: window 600-800 around the midpoint) and one past the end
    (tmp_path / "peaks.bed").write_text("chr1\t0\t400\tp\t0\t-\t1\t1\t1\t150\nchr1\t400\t600\tq\t0\t+\n"
                                        "chr1\t600\t800\tb\t0\t+\t600\t800\t0\t1\t200,\t0,\nchr1\t900\t1000\n")
    model = workspace / "model.keras"
    common = ["attribute", "--model", model, "--input", tmp_path / "peaks.bed", "--genome", tmp_path / "genome.fa"]
    summary = run(*common, "--output", tmp_path / "skip.h5", "--stranded").stdout
    assert "; 1 BED windows past a chromosome start or end skipped (--out-of-bounds pad keeps them)" in summary
    complement = str.maketrans("ACGT", "TGCA")
    with h5py.File(tmp_path / "skip.h5") as f:
        assert [n.decode() for n in f["names"][()]] == ["chr1:51-251(-)", "chr1:400-600", "chr1:600-800"]
        assert ks.one_hot_decode(f["x"][()]) == [chrom[51:251].translate(complement)[::-1], chrom[400:600],
                                                 chrom[600:800]]
        assert f.attrs["windows_skipped"] == 1 and f.attrs["out_of_bounds"] == "skip" and f.attrs["stranded"]
        assert list(f["bed_line"][()]) == [1, 2, 3] and list(f["bed_name"].asstr()[()]) == ["p", "q", "b"]
    # N (the gap, the padding) with expected gradients: shuffles keep N as its own symbol
    summary = run(*common, "--output", tmp_path / "pad.npz", "--out-of-bounds", "pad", "--method",
                  "expected_gradients", "--baselines", "2", "--steps", "3").stdout
    assert "; 1 BED windows past a chromosome start or end padded with N" in summary
    saved = np.load(tmp_path / "pad.npz")
    assert list(saved["names"]) == ["chr1:50-250", "chr1:400-600", "chr1:600-800", "chr1:850-1050"]
    decoded = ks.one_hot_decode(saved["x"])
    assert decoded[2] == chrom[600:800] and decoded[3] == chrom[850:] + "N" * 50 and int(saved["windows_padded"]) == 1
    assert list(saved["bed_line"]) == [1, 2, 3, 4] and list(saved["bed_name"]) == ["p", "q", "b", "."]
    assert np.isfinite(saved["corrected"]).all() and np.abs(saved["corrected"][2]).max() > 0
    # modisco inputs carry the BED columns too: peaks.tsv in the folder, datasets in the legacy file
    run(*common, "--output", tmp_path / "modisco", "--format", "modisco")
    assert (tmp_path / "modisco" / "peaks.tsv").read_text().splitlines() == [
        "name\tbed_line\tbed_name", "chr1:50-250\t1\tp", "chr1:400-600\t2\tq", "chr1:600-800\t3\tb"]
    run(*common, "--output", tmp_path / "modisco.h5", "--format", "modisco")
    with h5py.File(tmp_path / "modisco.h5") as f:
        assert list(f["bed_line"][()]) == [1, 2, 3] and list(f["bed_name"].asstr()[()]) == ["p", "q", "b"]


@pytest.fixture(scope="module")
def three_task_model(workspace):
    """An untrained 3-output CNN saved as .keras (the multi-task case)."""
    import keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input((200, 4))
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(6, 9, activation="relu")(inputs))
    path = workspace / "three.keras"
    keras.Model(inputs, keras.layers.Dense(3)(x)).save(path)
    return path


def test_modisco_format_folder_and_legacy_h5(workspace):
    import keras

    model, x = workspace / "model.keras", random_one_hot(12, 200, seed=6)
    np.savez(workspace / "m.npz", x=x)
    common = ["attribute", "--model", model, "--input", workspace / "m.npz", "--method", "expected_gradients",
              "--baselines", "2", "--steps", "3", "--seed", "4", "--format", "modisco"]
    run(*common, "--output", workspace / "modisco_in")
    folder = workspace / "modisco_in"
    assert sorted(os.listdir(folder)) == ["attr.npz", "names.txt", "ohe.npz", "provenance.json"]
    ohe, attr = (np.load(folder / f"{name}.npz")["arr_0"] for name in ("ohe", "attr"))  # no pickle needed
    assert ohe.dtype == attr.dtype == np.float32 and ohe.shape == attr.shape == (12, 4, 200)
    np.testing.assert_array_equal(ohe, np.swapaxes(x, 1, 2))
    loaded = keras.saving.load_model(model)
    expected = ks.expected_gradients(loaded, x, num_baselines=2, steps=3, seed=4, hypothetical=True)
    np.testing.assert_allclose(attr, np.swapaxes(expected, 1, 2), atol=1e-5)
    assert (folder / "names.txt").read_text().split() == [str(i) for i in range(12)]
    provenance = json.loads((folder / "provenance.json").read_text())
    options = json.loads(provenance["method_options"])
    assert provenance["keras_simplex_version"] == ks.__version__ and provenance["seed"] == 4
    assert options["hypothetical"] and options["num_baselines"] == 2 and options["baseline"] == "dinucleotide_shuffle"
    assert json.loads(provenance["models"]) == [str(model)] and provenance["input"] == str(workspace / "m.npz")
    assert provenance["map"] == "corrected" and not provenance["logits"]
    run(*common, "--output", workspace / "legacy.h5", "--map", "raw")
    with h5py.File(workspace / "legacy.h5") as f:
        assert sorted(f) == ["hyp_scores", "input_seqs", "names"]
        np.testing.assert_array_equal(f["input_seqs"][()], x)
        raw = ks.expected_gradients(loaded, x, num_baselines=2, steps=3, seed=4, hypothetical=True, correct=False)
        np.testing.assert_allclose(f["hyp_scores"][()], raw, atol=1e-5)
        assert f.attrs["map"] == "raw" and f.attrs["method"] == "expected_gradients"


def test_several_targets_strands_and_models(workspace, three_task_model):
    import keras

    x = random_one_hot(10, 200, seed=7)
    np.savez(workspace / "t.npz", x=x)
    three = keras.saving.load_model(three_task_model)
    run("attribute", "--model", three_task_model, "--input", workspace / "t.npz", "--output", workspace / "t.h5",
        "--targets", "2,0", "--average-strands", "--method", "integrated_gradients", "--steps", "4", "--delta")
    with h5py.File(workspace / "t.h5") as f:
        assert f["corrected"].shape == (10, 2, 200, 4) and f["angles"].shape == (10, 2, 200)
        expected = ks.Explainer(three, [2, 0], reduce=None).integrated_gradients(x, steps=4, outputs=("delta",),
                                                                               average_strands=True)
        np.testing.assert_allclose(f["delta"][()], expected.delta, atol=1e-5)
        for column, t in enumerate([2, 0]):
            np.testing.assert_allclose(f["corrected"][:, column], ks.integrated_gradients(
                three, x, target=t, steps=4, average_strands=True), atol=1e-5)
        assert json.loads(f.attrs["target"]) == [2, 0] and f.attrs["average_strands"]
    run("attribute", "--model", three_task_model, "--input", workspace / "t.npz", "--output", workspace / "t_modisco",
        "--targets", "all", "--format", "modisco")
    assert sorted(os.listdir(workspace / "t_modisco")) == ["attr.0.npz", "attr.1.npz", "attr.2.npz", "names.txt",
                                                           "ohe.npz", "provenance.json"]
    np.testing.assert_allclose(np.load(workspace / "t_modisco" / "attr.1.npz")["arr_0"],
                               np.swapaxes(ks.saliency(three, x, target=1), 1, 2), atol=1e-5)
    run("attribute", "--model", three_task_model, "--input", workspace / "t.npz", "--output", workspace / "shap",
        "--targets", "2,0", "--method", "deep_lift_shap", "--baselines", "3", "--format", "modisco")
    for t in (2, 0):  # DeepSHAP's hypothetical contributions, one unit at a time
        expected = ks.Explainer(three, t).deep_lift_shap(x, num_references=3, hypothetical=True).raw
        np.testing.assert_allclose(np.load(workspace / "shap" / f"attr.{t}.npz")["arr_0"],
                                   np.swapaxes(expected, 1, 2), atol=1e-5)
    model = workspace / "model.keras"
    run("attribute", "--model", model, "--model", model, "--input", workspace / "t.npz", "--output", workspace / "e.npz")
    saved = np.load(workspace / "e.npz")
    np.testing.assert_allclose(saved["corrected"], ks.saliency(keras.saving.load_model(model), x), atol=1e-5)
    np.testing.assert_allclose(saved["corrected_dispersion"], 0, atol=1e-6)
    assert saved["raw_dispersion"].shape == (10, 200) and len(json.loads(str(saved["models"]))) == 2
    both = run("attribute", "--model", three_task_model, "--input", workspace / "t.npz", "--output", workspace / "o.h5",
               "--target", "1", "--targets", "all", expect=1)
    assert "not both" in last_error_line(both)
    from_end = run("attribute", "--model", three_task_model, "--input", workspace / "t.npz", "--targets=-1,0",
                   "--output", workspace / "from_end.npz")
    assert "wrote 10 saliency maps" in from_end.stdout
    assert json.loads(str(np.load(workspace / "from_end.npz")["target"])) == [2, 0]
    twice = run("attribute", "--model", three_task_model, "--input", workspace / "t.npz", "--targets", "0,0",
                "--format", "modisco", "--output", workspace / "twice", expect=1)
    assert "names an output unit more than once" in last_error_line(twice) and not (workspace / "twice").exists()
    legacy = run("attribute", "--model", three_task_model, "--input", workspace / "t.npz", "--targets", "all",
                 "--format", "modisco", "--output", workspace / "o.h5", expect=1)
    assert "one target" in last_error_line(legacy)


def test_bigwig_track_at_genome_coordinates(workspace, tmp_path):
    import keras
    import pyBigWig

    rng = np.random.default_rng(9)
    chrom = "".join(rng.choice(list("ACGT"), 1000))
    (tmp_path / "genome.fa").write_text(f">chr1\n{chrom}\n")
    # two overlapping windows (300-500, and 401-601 read on '-': its midpoint at index 100 in read
    # orientation) and one past the end
    (tmp_path / "peaks.bed").write_text("chr1\t300\t500\nchr1\t400\t600\tq\t0\t-\nchr1\t900\t1000\n")
    model = workspace / "model.keras"
    run("attribute", "--model", model, "--input", tmp_path / "peaks.bed", "--genome", tmp_path / "genome.fa",
        "--stranded", "--output", tmp_path / "maps.h5", "--bigwig", tmp_path / "track.bw")
    loaded = keras.saving.load_model(model)
    complement = str.maketrans("ACGT", "TGCA")
    x = ks.one_hot_encode([chrom[300:500], chrom[401:601].translate(complement)[::-1]])
    contribution = (x * ks.saliency(loaded, x)).sum(-1)
    expected = np.full(1000, np.nan)
    expected[300:500] = contribution[0]
    expected[401:601] = contribution[1][::-1]  # back on the genome's strand
    expected[401:500] = (contribution[0][101:] + contribution[1][::-1][:99]) / 2  # overlaps: the mean
    with pyBigWig.open(str(tmp_path / "track.bw")) as track:
        assert track.chroms() == {"chr1": 1000}
        np.testing.assert_allclose(track.values("chr1", 0, 1000, numpy=True), expected, rtol=1e-5, atol=1e-7)
    fasta = run("attribute", "--model", model, "--input", workspace / "seqs.fa", "--output", tmp_path / "o.h5",
                "--bigwig", tmp_path / "t.bw", expect=1)
    assert "needs BED" in last_error_line(fasta)
    fasta = run("attribute", "--model", model, "--input", workspace / "seqs.fa", "--output", tmp_path / "o.h5",
                "--stranded", expect=1)  # once ignored without a word
    assert "--stranded reverse-complements the windows of '-' strand BED intervals" in last_error_line(fasta)


def test_bigwig_track_is_the_contribution_whatever_the_map_form(workspace, tmp_path):
    """Integrated gradients' maps are contributions (summed over the alphabet), their modisco
    form hypothetical (taken at the observed letter): the same track either way."""
    import pyBigWig

    rng = np.random.default_rng(5)
    (tmp_path / "genome.fa").write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), 700)) + "\n")
    (tmp_path / "peaks.bed").write_text("chr1\t100\t300\nchr1\t400\t600\n")
    common = ["--model", workspace / "model.keras", "--input", tmp_path / "peaks.bed", "--genome",
              tmp_path / "genome.fa", "--method", "integrated_gradients", "--steps", "4"]
    run("attribute", *common, "--output", tmp_path / "maps.h5", "--bigwig", tmp_path / "maps.bw")
    run("attribute", *common, "--format", "modisco", "--output", tmp_path / "modisco", "--bigwig",
        tmp_path / "modisco.bw")
    with h5py.File(tmp_path / "maps.h5") as f:
        assert f.attrs["map_form"] == "contributions"
        expected = np.full(700, np.nan)
        expected[100:300], expected[400:600] = f["corrected"][()].sum(-1)
    assert json.loads((tmp_path / "modisco" / "provenance.json").read_text())["map_form"] == "per_letter"
    for name in ("maps.bw", "modisco.bw"):
        with pyBigWig.open(str(tmp_path / name)) as track:
            np.testing.assert_allclose(track.values("chr1", 0, 700, numpy=True), expected, rtol=1e-4, atol=1e-7)
    raw_ism = run("attribute", *common[:6], "--method", "ism", "--map", "raw", "--output", tmp_path / "ism.h5",
                  "--bigwig", tmp_path / "ism.bw", expect=1)
    assert "ism's raw map is 0 at every observed letter" in last_error_line(raw_ism)
    assert not (tmp_path / "ism.bw").exists() and not (tmp_path / "ism.h5").exists()


def test_one_bigwig_track_per_target(three_task_model, tmp_path):
    import pyBigWig

    rng = np.random.default_rng(6)
    (tmp_path / "genome.fa").write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), 600)) + "\n")
    (tmp_path / "peaks.bed").write_text("chr1\t100\t300\tp\t0\t-\nchr1\t200\t400\n")
    common = ["--model", three_task_model, "--input", tmp_path / "peaks.bed", "--genome", tmp_path / "genome.fa",
              "--stranded", "--method", "integrated_gradients", "--steps", "3"]
    both = run("attribute", *common, "--targets", "2,0", "--output", tmp_path / "maps.h5", "--bigwig",
               tmp_path / "track.bw")
    assert f"track {tmp_path / 'track.2.bw'}, {tmp_path / 'track.0.bw'}" in both.stdout
    assert not (tmp_path / "track.bw").exists()
    for t in (2, 0):
        run("attribute", *common, "--target", str(t), "--output", tmp_path / f"one.{t}.h5", "--bigwig",
            tmp_path / f"one.{t}.bw")
        with pyBigWig.open(str(tmp_path / f"track.{t}.bw")) as per_target, \
                pyBigWig.open(str(tmp_path / f"one.{t}.bw")) as alone:
            np.testing.assert_allclose(per_target.values("chr1", 0, 600, numpy=True),
                                       alone.values("chr1", 0, 600, numpy=True), rtol=1e-4, atol=1e-7)


def test_per_target_tracks_appear_all_or_none(three_task_model, tmp_path, monkeypatch):
    """A failure while writing the second track leaves no new track and the previous ones as
    they were, and the previous maps too (they were once replaced before the tracks were
    written, leaving new maps beside old tracks); no temporary is left."""
    import keras_simplex.tracks

    rng = np.random.default_rng(6)
    (tmp_path / "genome.fa").write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), 600)) + "\n")
    (tmp_path / "peaks.bed").write_text("chr1\t100\t300\n")
    (tmp_path / "track.0.bw").write_bytes(b"previous")
    (tmp_path / "maps.h5").write_bytes(b"previous maps")
    real, calls = keras_simplex.tracks._write, []

    def failing_second(pybigtools, temporary, sizes, entries, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real(pybigtools, temporary, sizes, entries, path)

    monkeypatch.setattr(keras_simplex.tracks, "_write", failing_second)
    failed = run("attribute", "--model", three_task_model, "--input", tmp_path / "peaks.bed", "--genome",
                 tmp_path / "genome.fa", "--targets", "2,0", "--output", tmp_path / "maps.h5", "--bigwig",
                 tmp_path / "track.bw", expect=1)
    assert last_error_line(failed) == "keras-simplex: error: disk full" and len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.fa", "genome.fa.fai", "maps.h5", "peaks.bed",
                                                          "track.0.bw"]
    assert (tmp_path / "track.0.bw").read_bytes() == b"previous"
    assert (tmp_path / "maps.h5").read_bytes() == b"previous maps"


def test_maps_that_fail_to_finish_keep_the_previous_tracks(three_task_model, tmp_path, monkeypatch):
    """NPZ maps are written when they are finished, after the tracks: a failure there (a full
    disk) must leave the previous tracks too, not new tracks beside the previous maps."""
    import keras_simplex.sequence_io

    rng = np.random.default_rng(6)
    (tmp_path / "genome.fa").write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), 600)) + "\n")
    (tmp_path / "peaks.bed").write_text("chr1\t100\t300\n")
    (tmp_path / "track.bw").write_bytes(b"previous")
    (tmp_path / "maps.npz").write_bytes(b"previous maps")

    def full_disk(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras_simplex.sequence_io.AttributionWriter, "_finish", full_disk)
    failed = run("attribute", "--model", three_task_model, "--input", tmp_path / "peaks.bed", "--genome",
                 tmp_path / "genome.fa", "--target", "1", "--output", tmp_path / "maps.npz", "--bigwig",
                 tmp_path / "track.bw", expect=1)
    assert "No space left on device" in last_error_line(failed)
    assert (tmp_path / "track.bw").read_bytes() == b"previous"
    assert (tmp_path / "maps.npz").read_bytes() == b"previous maps"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.fa", "genome.fa.fai", "maps.npz", "peaks.bed",
                                                          "track.bw"]


def test_a_command_run_without_the_launcher_is_checked_too(workspace):
    from keras_simplex import cli
    from keras_simplex_cli import parser

    args = parser().parse_args(["attribute", "--model", str(workspace / "model.keras"), "--input",
                                str(workspace / "x.npz"), "--output", str(workspace / "never.h5"), "--steps", "5"])
    assert cli.run(args) == 1 and not (workspace / "never.h5").exists()


def test_angles_of_maps_made_elsewhere(tmp_path):
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(9, 30, 4)).astype(np.float32)
    maps[:, :, :] += rng.normal(size=(9, 30, 1)).astype(np.float32) * 3  # a large off-simplex part
    np.save(tmp_path / "maps.npy", np.swapaxes(maps, 1, 2))  # (N, A, L), as PyTorch tools write them
    out = run("angles", "--maps", tmp_path / "maps.npy", "--channels-first", "--output", tmp_path / "a.npz",
              "--batch-size", "4").stdout
    saved = np.load(tmp_path / "a.npz")
    norm = np.linalg.norm(maps, axis=-1)
    expected = np.degrees(np.arcsin(maps.sum(-1) / (2 * norm)))  # sqrt(A) = 2
    np.testing.assert_allclose(saved["angles"], expected, atol=1e-3)
    np.testing.assert_allclose(saved["corrected"], maps - maps.mean(-1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(saved["large_angle_fraction"][:, 1], (np.abs(expected) > 45).mean(1))
    assert f"mean |angle| {np.abs(expected).mean():.1f} deg" in out
    assert str(saved["keras_simplex_version"]) == ks.__version__ and "key" not in saved.files  # .npy: one array
    np.savez(tmp_path / "bad.npz", arr_0=np.full((2, 5, 4), np.nan, np.float32))
    bad = run("angles", "--maps", tmp_path / "bad.npz", "--output", tmp_path / "b.npz", expect=1)
    assert "NaN" in last_error_line(bad) and not (tmp_path / "b.npz").exists()
    # (N, A, L) maps without --channels-first: an error, not the angles of 4 positions of 30 letters
    flipped = run("angles", "--maps", tmp_path / "maps.npy", "--output", tmp_path / "c.npz", expect=1)
    assert last_error_line(flipped) == (f"keras-simplex: error: {tmp_path / 'maps.npy'} has shape (9, 4, 30), 30 "
                                        f"letters at 4 positions: it looks (N, A, L), as tangermeme and captum "
                                        f"write; read it with --channels-first")
    np.save(tmp_path / "nla.npy", maps)
    run("angles", "--maps", tmp_path / "nla.npy", "--channels-first", "--output", tmp_path / "c.npz", expect=1)
    assert not (tmp_path / "c.npz").exists()
    with pytest.raises(ValueError, match=r"it looks \(N, A, L\).*np.swapaxes"):
        ks.diagnose_maps(np.swapaxes(maps, 1, 2))
    protein = ks.diagnose_maps(rng.normal(size=(2, 15, 20)))  # a 15-residue peptide: fewer positions than letters
    assert protein["angles"].shape == (2, 15)
    tiny = maps.astype(np.float64) * 1e-50  # float64 maps are read in float64 (in float32 they would be 0)
    np.save(tmp_path / "tiny.npy", tiny)
    run("angles", "--maps", tmp_path / "tiny.npy", "--output", tmp_path / "t.h5")
    with h5py.File(tmp_path / "t.h5") as f:
        np.testing.assert_allclose(f["angles"][()], expected, atol=1e-3)
        np.testing.assert_allclose(f["corrected"][()], tiny - tiny.mean(-1, keepdims=True), rtol=1e-6, atol=0)


def test_deep_lift_shap_from_the_command_line(workspace):
    import keras

    model, x = workspace / "model.keras", random_one_hot(6, 200, seed=12)
    np.savez(workspace / "d.npz", x=x)
    common = ["attribute", "--model", model, "--input", workspace / "d.npz", "--method", "deep_lift_shap",
              "--baselines", "3", "--seed", "2"]
    run(*common, "--output", workspace / "dls.h5", "--delta", "--logits")
    explainer = ks.Explainer(keras.saving.load_model(model), logits=True)
    expected = explainer.deep_lift_shap(x, num_references=3, seed=2)
    with h5py.File(workspace / "dls.h5") as f:
        np.testing.assert_allclose(f["raw"][()], expected.raw, atol=1e-5)
        np.testing.assert_allclose(f["delta"][()], expected.delta, atol=1e-5)
        assert json.loads(f.attrs["method_options"])["num_references"] == 3 and f.attrs["seed"] == 2
    run(*common, "--output", workspace / "dls_modisco", "--format", "modisco", "--logits")
    hypothetical = explainer.deep_lift_shap(x, num_references=3, seed=2, hypothetical=True)
    np.testing.assert_allclose(np.load(workspace / "dls_modisco" / "attr.npz")["arr_0"],
                               np.swapaxes(hypothetical.corrected, 1, 2), atol=1e-5)
    wrong = run(*common, "--output", workspace / "o.h5", "--steps", "4", expect=1)
    assert last_error_line(wrong) == "keras-simplex: error: --steps does not apply to deep_lift_shap"


def test_ism_from_the_command_line(workspace, capsys):
    import keras

    from keras_simplex import cli

    model, x = workspace / "model.keras", random_one_hot(3, 200, seed=13)
    np.savez(workspace / "i.npz", x=x)
    common = ["attribute", "--model", str(model), "--input", str(workspace / "i.npz"), "--method", "ism"]
    run(*common, "--output", workspace / "ism.h5", "--logits")
    expected = ks.Explainer(keras.saving.load_model(model), logits=True).ism(x)
    with h5py.File(workspace / "ism.h5") as f:
        np.testing.assert_allclose(f["raw"][()], expected, atol=1e-5)
        np.testing.assert_allclose(f["corrected"][()], expected - expected.mean(-1, keepdims=True), atol=1e-5)
        assert "angles" not in f and "seed" not in f.attrs and f.attrs["method"] == "ism"
    for extra, message in ((["--seed", "1"], "--seed does not apply to ism"),
                           (["--delta"], "--delta does not apply to ism (its maps are exact differences)"),
                           (["--average-strands"], "ism explains one model: not with several --model or --average-strands")):
        assert cli.main([*common, "--output", str(workspace / "never.h5"), *extra]) == 1
        assert capsys.readouterr().err.strip().splitlines()[-1] == f"keras-simplex: error: {message}"
    assert not (workspace / "never.h5").exists()


def test_quiet_verbose_stdin_stdout_and_evaluate_on_arrays(workspace, capsys, monkeypatch):
    """In process (TensorFlow already imported): -q prints nothing on success, -v adds the
    traceback to an error, FASTA comes from stdin with `--input -`, a MEME file goes to stdout
    with `--output -`, and evaluate reads the .npz that train reads."""
    import io

    from keras_simplex import cli

    model, x = str(workspace / "model.keras"), random_one_hot(5, 200, seed=21)
    fasta = "".join(f">q{i}\n{s}\n" for i, s in enumerate(ks.one_hot_decode(x)))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(fasta.encode())))
    assert cli.main(["-q", "attribute", "--model", model, "--input", "-", "--output", str(workspace / "stdin.h5")]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "sequences" not in err
    with h5py.File(workspace / "stdin.h5") as f:
        np.testing.assert_allclose(f["corrected"][()], ks.saliency(cli._load_model(model), x), atol=1e-5)
        assert f.attrs["input"] == "-" and [n.decode() for n in f["names"][()]] == [f"q{i}" for i in range(5)]
    assert cli.main(["attribute", "-v", "--model", model, "--input", str(workspace / "bad.fa"),
                     "--output", str(workspace / "never.h5")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "line 1: malformed FASTA" in err.strip().splitlines()[-1]
    assert cli.main(["jaspar-meme", "--release", "JASPAR2024", "--output", "-"]) == 0
    meme = capsys.readouterr().out
    assert meme.startswith("MEME version 4") and meme.count("MOTIF ") > 800
    y = np.zeros(10)
    y[:5] = 1
    arrays = {f"{kind}_{split}": value for split in ("train", "validation", "test")
              for kind, value in (("x", random_one_hot(10, 200, seed=22)), ("y", y))}
    np.savez(workspace / "arrays.npz", **arrays)
    assert cli.main(["evaluate", "--model", model, "--data", str(workspace / "arrays.npz")]) == 0
    out = capsys.readouterr().out
    assert "test AUROC" in out and "on 10 sequences" in out and "angles of 5 positive test sequences" in out


def test_errors_say_what_to_type(workspace, three_task_model, tmp_path):
    model = workspace / "model.keras"
    (tmp_path / "short.fa").write_text(">a\n" + "ACGT" * 25 + "\n>b\n" + "ACGT" * 25 + "\n")
    (tmp_path / "right.fa").write_text(">a\n" + "ACGT" * 50 + "\n")
    short = run("attribute", "--model", model, "--input", tmp_path / "short.fa", "--output", tmp_path / "o.h5", expect=1)
    assert last_error_line(short) == (f"keras-simplex: error: {tmp_path / 'short.fa'}: record 'a' has length 100, the "
                                      f"model reads 200")
    several = run("attribute", "--model", three_task_model, "--input", tmp_path / "right.fa", "--output",
                  tmp_path / "o.h5", expect=1)
    assert "(command line: --target N; attribute also takes --targets all / --targets 0,5,7" in last_error_line(several)
    x = np.full((2, 200, 20), 0.1, np.float32)  # a protein alphabet off the simplex
    np.savez(tmp_path / "off.npz", x=x)
    off = run("attribute", "--model", model, "--input", tmp_path / "off.npz", "--output", tmp_path / "o.h5", expect=1)
    assert "[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, ...] (20 values). Pass check_simplex=False (command line: " \
           "--allow-off-simplex)" in last_error_line(off)
    np.savez(tmp_path / "nal.npz", x=np.swapaxes(random_one_hot(2, 200), 1, 2))
    flipped = run("attribute", "--model", model, "--input", tmp_path / "nal.npz", "--output", tmp_path / "o.h5",
                  expect=1)
    assert last_error_line(flipped).endswith("it looks (N, A, L), as tangermeme and captum write; read it with "
                                             "--channels-first")
    config = run("build-dataset", "synthetic_motifs/nosuch", "--data-dir", tmp_path, expect=1)
    assert last_error_line(config) == ("keras-simplex: error: synthetic_motifs has no config 'nosuch'; choose one of: "
                                       "original, paper, tiny (as synthetic_motifs/CONFIG)")
    assert not (tmp_path / "o.h5").exists()


def test_train_writes_no_diverged_model(tmp_path, monkeypatch):
    """Weights gone NaN in training (once saved, with exit 0 and an arbitrary AUROC) write nothing."""
    x = random_one_hot(40, 100, seed=2)
    y = (np.arange(40) % 2).astype(np.float32)
    np.savez(tmp_path / "d.npz", **{f"{a}_{s}": v for s in ("train", "validation", "test") for a, v in (("x", x), ("y", y))})

    def diverge(model, *args, **kwargs):
        model.weights[0].assign(np.full(model.weights[0].shape, np.nan, np.float32))

    monkeypatch.setattr(ks, "train_paper_protocol", diverge)
    code, _, err = command_in_process("train", "--data", tmp_path / "d.npz", "--model", "cnn_shallow", "--output",
                                      tmp_path / "m.keras")
    assert code == 1 and "training diverged" in err and not (tmp_path / "m.keras").exists()


def test_train_and_evaluate_multitask_labels_and_ground_truth_in_h5(workspace, tmp_path):
    """Labels (N, 3) train a three-output model, regularized and monitored on the gradient of
    the outputs' sum, and evaluate reports each output's AUROC and scores --target's maps;
    labels (N, 1) work as (N,) (each once crashed: the callback's target, a (N, 1) against
    (N,) AUROC); an original-layout .h5 with model_test is scored against its ground truth."""
    import tensorflow_datasets as tfds

    from keras_simplex.datasets.h5 import export_h5
    from keras_simplex.metrics import roc_auc

    rng = np.random.default_rng(4)
    arrays = {}
    for split, n in (("train", 60), ("validation", 30), ("test", 40)):
        arrays[f"x_{split}"] = random_one_hot(n, 200, seed=n)
        arrays[f"y_{split}"] = (rng.random((n, 3)) < 0.5).astype(np.float32)
    np.savez(tmp_path / "multi.npz", **arrays)
    np.savez(tmp_path / "one.npz", **{k: v[:, :1] if k.startswith("y") else v for k, v in arrays.items()})
    out = run("train", "--data", tmp_path / "multi.npz", "--model", "cnn_shallow", "--epochs", "1", "--strength",
              "1e-4", "--output", tmp_path / "multi.keras").stdout
    model = keras.saving.load_model(tmp_path / "multi.keras")
    aurocs = roc_auc(arrays["y_test"].T, model.predict(arrays["x_test"], verbose=0).T)
    assert model.output_shape == (None, 3)
    assert f"test AUROC mean {aurocs.mean():.4f} over 3 outputs ({', '.join(f'{a:.4f}' for a in aurocs)})" in out
    out = run("evaluate", "--model", tmp_path / "multi.keras", "--data", tmp_path / "multi.npz", "--target", "2",
              "--sequences", "5").stdout
    assert "over 3 outputs" in out and "maps of output 2 of 3" in out and "angles of 5 positive" in out
    failed = run("evaluate", "--model", tmp_path / "multi.keras", "--data", tmp_path / "multi.npz", "--target", "3",
                 expect=1)
    assert "target 3 is out of range" in last_error_line(failed) and "AUROC" not in failed.stdout
    export_h5(tmp_path / "multi.h5", {split: {"x": arrays[f"x_{split}"], "y": arrays[f"y_{split}"]}
                                      for split in ("train", "validation", "test")})  # (N, 3) labels kept
    out = run("evaluate", "--model", tmp_path / "multi.keras", "--data", tmp_path / "multi.h5", "--sequences", "5").stdout
    assert f"test AUROC mean {aurocs.mean():.4f} over 3 outputs" in out and "maps of output 0 of 3" in out
    out = run("train", "--data", tmp_path / "one.npz", "--model", "cnn_shallow", "--epochs", "1", "--output",
              tmp_path / "one.keras").stdout
    assert re.search(r"saved .*one\.keras; test AUROC \d\.\d{4}$", out.strip())
    assert "test AUROC" in run("evaluate", "--model", tmp_path / "one.keras", "--data", tmp_path / "one.npz").stdout

    test = tfds.as_numpy(tfds.builder("synthetic_motifs/tiny", data_dir=str(workspace / "tfds"))
                         .as_dataset(split="test", batch_size=-1))
    splits = {split: {"x": test["sequence"], "y": test["label"], "ground_truth": test["ground_truth"]}
              for split in ("train", "validation", "test")}
    export_h5(tmp_path / "tiny.h5", splits)
    from_h5 = run("evaluate", "--model", workspace / "model.keras", "--data", tmp_path / "tiny.h5", "--sequences",
                  "20").stdout
    from_tfds = run("evaluate", "--model", workspace / "model.keras", "--data", "synthetic_motifs/tiny", "--data-dir",
                    workspace / "tfds", "--sequences", "20").stdout
    assert "saliency corrected" in from_h5 and from_h5 == from_tfds


def test_bed_windows_for_a_model_of_any_length(tmp_path):
    """A model that reads any length gets BED windows of --length (it was told BED input
    needs --genome, which it had); --length against a fixed-length model is an error."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, 4))
    hidden = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(3, 5, activation="relu")(inputs))
    keras.Model(inputs, keras.layers.Dense(1)(hidden)).save(tmp_path / "any.keras")
    rng = np.random.default_rng(2)
    (tmp_path / "genome.fa").write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), 900)) + "\n")
    (tmp_path / "peaks.bed").write_text("chr1\t100\t300\nchr1\t400\t460\n")
    common = ["attribute", "--model", tmp_path / "any.keras", "--input", tmp_path / "peaks.bed", "--genome",
              tmp_path / "genome.fa", "--output", tmp_path / "maps.h5"]
    assert "give BED windows one with --length N" in last_error_line(run(*common, expect=1))
    run(*common, "--length", "150")
    with h5py.File(tmp_path / "maps.h5") as f:
        assert f["corrected"].shape == (2, 150, 4)
        assert [n.decode() for n in f["names"][()]] == ["chr1:125-275", "chr1:355-505"]
    fixed = ks.models.cnn_shallow(input_length=200)
    fixed.save(tmp_path / "fixed.keras")
    failed = run(*common[:2], tmp_path / "fixed.keras", *common[3:], "--length", "150", expect=1)
    assert last_error_line(failed) == "keras-simplex: error: --length 150, but the model reads sequences of 200"
    np.savez(tmp_path / "x.npz", x=random_one_hot(2, 150))
    failed = run(*common[:4], tmp_path / "x.npz", "--output", tmp_path / "x.h5", "--length", "150", expect=1)
    assert "--length sets the length of BED windows; other inputs are read as they are" in last_error_line(failed)


def test_counts_below_one_are_usage_errors_naming_the_option(workspace):
    """`--baselines 0` for DeepSHAP once said only "must be >= 1, got 0"."""
    for method, option in (("deep_lift_shap", "--baselines"), ("expected_gradients", "--baselines"),
                           ("smoothgrad", "--samples")):
        failed = run("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.npz", "--output",
                     workspace / "never.h5", "--method", method, option, "0", expect=2)
        assert f"argument {option}: must be >= 1, got 0" in failed.stderr
    failed = run("evaluate", "--model", workspace / "model.keras", "--data", workspace / "x.npz", "--sequences", "-1",
                 expect=2)  # once the last positive sequence silently dropped
    assert "argument --sequences: must be >= 1, got -1" in failed.stderr
    for strength in ("-1e-3", "nan", "inf"):  # once: silently no regularizer, or a NaN model saved with exit 0
        failed = run("train", "--data", workspace / "x.npz", "--output", workspace / "never.keras",
                     f"--strength={strength}", expect=2)
        assert f"argument --strength: must be a finite number >= 0, got {strength}" in failed.stderr


def test_quiet_silences_the_libraries_of_talkative_commands(tmp_path):
    """-q prints errors only: TFDS's "Downloading and preparing" and progress bars once went
    to stdout and stderr anyway."""
    talkative = run_installed("build-dataset", "synthetic_motifs/tiny", "--data-dir", tmp_path / "loud")
    assert "Generating" in talkative.stderr and "built synthetic_motifs/tiny" in talkative.stdout
    built = run_installed("-q", "build-dataset", "synthetic_motifs/tiny", "--data-dir", tmp_path / "tfds")
    assert built.stdout == "" and "Generating" not in built.stderr and "Downloading" not in built.stderr
    assert (tmp_path / "tfds" / "synthetic_motifs").is_dir()
    usage = run_installed("-q", "reproduce", "correction", "--no-such-option", expect=2)  # what -q never hides
    assert "unrecognized arguments: --no-such-option" in usage.stderr
