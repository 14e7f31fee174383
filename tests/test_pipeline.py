"""Attribution on Apache Beam (DirectRunner, two worker processes): the merged output equals
the local command's, for FASTA, BED and TFDS inputs; a killed job resumes where it stopped, with no
record lost or repeated; the merge refuses an incomplete manifest."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import keras_simplex as ks
from conftest import random_one_hot
from keras_simplex import cli
from keras_simplex.datasets import build, encode_chipseq
from keras_simplex.pipeline import merge_shards

pytest.importorskip("apache_beam")
DUMMY = Path(encode_chipseq.__file__).parent / "dummy_data"
WORKERS = "--direct_num_workers=2 --direct_running_mode=multi_processing"
COMMAND = os.path.join(os.path.dirname(os.sys.executable), "keras-simplex")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam")
    keras.utils.set_random_seed(0)
    ks.models.cnn_deep(input_length=200).save(root / "model.keras")
    with open(root / "seqs.fa", "w") as f:
        for i, s in enumerate(ks.one_hot_decode(random_one_hot(30, 200, seed=8))):
            f.write(f">r{i}\n{s}\n")
    build.build_dataset("synthetic_motifs/tiny", root / "tfds")  # 40 test sequences
    return root


def read(path):
    with h5py.File(path) as f:
        return {key: f[key][()] for key in f}, dict(f.attrs)


def assert_same_output(local, beam):
    (a, a_attrs), (b, b_attrs) = read(local), read(beam)
    assert set(a) == set(b) and {k: str(v) for k, v in a_attrs.items()} == {k: str(v) for k, v in b_attrs.items()}
    for key in {"names", "x", "bed_line", "bed_name"} & set(a):  # BED: the rows' lines and names
        np.testing.assert_array_equal(a[key], b[key])
    for key in ("raw", "corrected"):
        np.testing.assert_allclose(b[key], a[key], atol=1e-6 * np.abs(a[key]).max())


@pytest.mark.parametrize("kind", ["fasta", "bed", "tfds"])
def test_the_merged_output_equals_the_local_one(files, tmp_path, kind):
    source = {"fasta": ["--input", str(files / "seqs.fa")],
              "bed": ["--input", str(DUMMY / "dnase" / "dnase_peaks.narrowPeak"), "--genome", str(DUMMY / "genome.fa")],
              "tfds": ["--input", "tfds:synthetic_motifs/tiny:test", "--data-dir", str(files / "tfds")]}[kind]
    common = ["-q", "attribute", "--model", str(files / "model.keras"), *source, "--method", "expected_gradients",
              "--baselines", "2", "--steps", "3", "--seed", "4"]
    assert cli.main([*common, "--output", str(tmp_path / "local.h5")]) == 0
    assert cli.main([*common, "--output", str(tmp_path / "beam.h5"), "--beam-runner", "DirectRunner",
                     "--beam-options", WORKERS, "--shard-size", "7"]) == 0
    assert_same_output(tmp_path / "local.h5", tmp_path / "beam.h5")
    assert ("bed_line" in read(tmp_path / "beam.h5")[0]) == (kind == "bed")
    manifest = json.loads((tmp_path / "beam.h5.shards" / "manifest.json").read_text())
    rows = len(read(tmp_path / "local.h5")[0]["names"])
    assert manifest["records"] == rows and [s["first_record"] for s in manifest["shards"]] == list(range(0, rows, 7))
    if kind == "tfds":  # the split's sequences, in its order
        import tensorflow_datasets as tfds

        test = tfds.as_numpy(tfds.builder("synthetic_motifs/tiny", data_dir=str(files / "tfds")).as_dataset(
            split="test", batch_size=-1, shuffle_files=False))
        np.testing.assert_array_equal(read(tmp_path / "beam.h5")[0]["x"], test["sequence"])


def test_a_killed_job_resumes_without_losing_or_repeating_records(files, tmp_path):
    common = ["attribute", "--model", str(files / "model.keras"), "--input", str(files / "seqs.fa"),
              "--method", "expected_gradients", "--baselines", "5", "--steps", "10", "--seed", "2"]
    assert cli.main(["-q", *common, "--output", str(tmp_path / "local.h5")]) == 0
    beam = [*common, "--output", str(tmp_path / "beam.h5"), "--beam-runner", "DirectRunner", "--beam-options",
            WORKERS, "--shard-size", "1"]  # 30 shards of about 0.1 s: the kill lands mid-run
    shards = tmp_path / "beam.h5.shards"
    job = subprocess.Popen([COMMAND, *beam], start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(shards.glob("shard-*.h5")) and time.time() < deadline and job.poll() is None:
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)  # the launcher and its workers, mid-run
    job.wait()
    done = list(shards.glob("shard-*.h5"))
    assert 0 < len(done) < 30 and not (tmp_path / "beam.h5").exists()
    stamps = {p.name: p.stat().st_mtime for p in done}
    assert cli.main(["-q", *beam]) == 0  # the same command finishes the job
    assert all(shards.joinpath(name).stat().st_mtime == stamp for name, stamp in stamps.items())  # not redone
    assert_same_output(tmp_path / "local.h5", tmp_path / "beam.h5")
    assert len(set(read(tmp_path / "beam.h5")[0]["names"])) == 30


def test_a_bundle_that_fails_mid_shard_is_retried_by_beam(files, tmp_path, monkeypatch):
    """The bundle-based DirectRunner retries a failed bundle (up to 4 attempts), as Dataflow
    does; a worker that dies in the middle of a shard leaves no partial shard, and the retry
    writes it whole: no record lost or repeated."""
    common = ["-q", "attribute", "--model", str(files / "model.keras"), "--input", str(files / "seqs.fa"),
              "--method", "integrated_gradients", "--steps", "4", "--batch-size", "4"]
    assert cli.main([*common, "--output", str(tmp_path / "local.h5")]) == 0
    explain, calls, failures = cli._explain, [], []

    def fails_once_mid_shard(job, args, x):
        calls.append(len(x))
        if len(calls) == 5 and not failures:  # the second batch of a shard of two or more batches
            failures.append(len(calls))
            raise RuntimeError("worker lost")
        return explain(job, args, x)

    monkeypatch.setattr(cli, "_explain", fails_once_mid_shard)
    assert cli.main([*common, "--output", str(tmp_path / "beam.h5"), "--beam-runner", "BundleBasedDirectRunner",
                     "--shard-size", "10"]) == 0
    assert failures == [5] and sum(calls) > 30  # one batch failed; its shard was explained again
    assert sorted(p.name for p in (tmp_path / "beam.h5.shards").iterdir()) == [
        "manifest.json", "shard-000000000000.h5", "shard-000000000010.h5", "shard-000000000020.h5"]
    assert_same_output(tmp_path / "local.h5", tmp_path / "beam.h5")
    assert len(set(read(tmp_path / "beam.h5")[0]["names"])) == 30


def test_the_merge_refuses_an_incomplete_manifest(tmp_path):
    folder = tmp_path / "out.h5.shards"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"records": 10, "attributes": {}, "shards": [
        {"file": "shard-000000000000.h5", "first_record": 0, "end_record": 5},
        {"file": "shard-000000000007.h5", "first_record": 7, "end_record": 10}]}))
    with pytest.raises(ValueError, match="records 5-7 are in no shard"):
        merge_shards(str(folder), str(tmp_path / "out.h5"))
    assert not (tmp_path / "out.h5").exists()
    shutil.rmtree(folder)


def test_shards_with_other_fields_are_not_merged(tmp_path):
    """Kept shards of another run or version (here one without BED columns) would misalign
    rows: the merge stops, and a writer refuses a batch with other fields."""
    from keras_simplex.sequence_io import AttributionWriter

    folder = tmp_path / "maps.h5.shards"
    folder.mkdir()
    x = random_one_hot(2, 10, seed=1)
    for first, columns in ((0, {"bed_line": np.array([1, 2])}), (2, {})):
        with AttributionWriter(str(folder / f"shard-{first}.h5"), {"first_record": first, "end_record": first + 2}) as writer:
            writer.write(["a", "b"], x=x, **columns)
    shards = [{"first_record": 0, "end_record": 2, "file": "shard-0.h5"},
              {"first_record": 2, "end_record": 4, "file": "shard-2.h5"}]
    (folder / "manifest.json").write_text(json.dumps({"shards": shards, "records": 4, "attributes": {}}))
    with pytest.raises(ValueError, match="shards of different runs or versions"):
        merge_shards(str(folder), str(tmp_path / "maps.h5"))
    assert not (tmp_path / "maps.h5").exists()
    with pytest.raises(ValueError, match="a batch with the fields"):
        with AttributionWriter(str(tmp_path / "o.h5")) as writer:
            writer.write(["a", "b"], x=x, bed_line=np.array([1, 2]))
            writer.write(["c", "d"], x=x)


def test_a_rerun_of_another_request_never_reuses_shards(files, tmp_path, capsys):
    """Shards are reused only by the request that made them: another method, option, shard
    size or a model rewritten at the same path stops the run before any work, naming the
    difference (the shards were once taken as done: maps of output 0 labelled target 2, and
    records lost when the shard size changed); the same request finishes at once."""
    model = tmp_path / "model.keras"
    shutil.copy(files / "model.keras", model)
    output, shards = tmp_path / "beam.h5", tmp_path / "beam.h5.shards"
    common = ["-q", "attribute", "--model", str(model), "--input", str(files / "seqs.fa"), "--output", str(output),
              "--beam-runner", "DirectRunner"]
    assert cli.main([*common, "--shard-size", "10"]) == 0
    first = read(output)[0]["corrected"]

    def stamps():
        return {p.name: p.stat().st_mtime_ns for p in shards.iterdir() if p.name.startswith("shard-")}

    kept = stamps()
    assert len(kept) == 3
    modified = os.stat(model).st_mtime_ns
    for change, named in ((["--method", "gradient_x_input"], "method 'saliency' there, 'gradient_x_input' here"),
                          (["--logits"], "logits False there, True here"),
                          (["--shard-size", "15"], "another --shard-size"),
                          (["--touch"], f"{model} changed since the shards were made")):
        if change == ["--touch"]:
            os.utime(model, ns=(modified, modified + 10**9))  # retrained in place: same path, new file
            change = []
        assert cli.main([*common, *(change if "--shard-size" in change else ["--shard-size", "10", *change])]) == 1
        assert named in capsys.readouterr().err
        assert stamps() == kept and sorted(os.listdir(shards)) == sorted([*kept, "manifest.json"])
    np.testing.assert_array_equal(read(output)[0]["corrected"], first)  # the output kept
    os.utime(model, ns=(modified, modified))
    assert cli.main([*common, "--shard-size", "10"]) == 0  # the same request again: nothing redone
    assert stamps() == kept


def test_shards_of_the_previous_fingerprint_format_are_named_as_such():
    from keras_simplex.pipeline import _difference

    old, new = json.dumps({"/m.keras": [10, 5]}), json.dumps({"/m.keras": {".": [10, 5]}})
    assert _difference("request_files", old, new) == ("made by an older version of keras_simplex, which fingerprinted "
                                                      "files otherwise")


def test_a_tfds_input_rebuilt_since_its_shards_were_made_is_named(files, tmp_path, capsys):
    """A TFDS input is a folder of files: one of them rewritten (the dataset rebuilt in place)
    makes its shards another request's."""
    common = ["-q", "attribute", "--model", str(files / "model.keras"), "--input", "tfds:synthetic_motifs/tiny:test",
              "--data-dir", str(files / "tfds"), "--output", str(tmp_path / "beam.h5"), "--beam-runner", "DirectRunner",
              "--shard-size", "20"]
    assert cli.main(common) == 0
    info = next((files / "tfds").glob("synthetic_motifs/tiny/*/dataset_info.json"))
    modified = os.stat(info).st_mtime_ns
    try:
        os.utime(info, ns=(modified, modified + 10**9))
        assert cli.main(common) == 1
        assert f"{info.parent} changed since the shards were made" in capsys.readouterr().err
    finally:
        os.utime(info, ns=(modified, modified))
    assert cli.main(common) == 0
