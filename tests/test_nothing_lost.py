"""Nothing lost, nothing silently wrong: outputs appear complete or not at all, a previous
result survives kills, Ctrl-C, SIGTERM and full disks, inputs are checked before any work,
and every error is one line (the keras-simplex command: as a child process where signals and
file-size limits are tested, in this process otherwise)."""

import gzip
import os
import pathlib
import resource
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_simplex as ks
from conftest import command_in_process, random_one_hot
from keras_simplex.atomic import _owner, atomic_output, remove_stale_temporaries

COMMAND = os.path.join(os.path.dirname(sys.executable), "keras-simplex")
LENGTH = 50


def start(*args, file_size_limit=None, env=None):
    """The command as a child process (stdout/stderr piped; optional RLIMIT_FSIZE in bytes),
    with SIGINT at its default as in a terminal (a test run started in the background, e.g.
    ``make test &``, would otherwise pass on the ignored SIGINT of background jobs)."""
    def limit():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    environment = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.Popen([COMMAND, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=limit, env=environment)


def finish(process, timeout=600):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def run(*args, file_size_limit=None):
    """``(exit code, stdout, stderr)`` of the command: in this process (``command_in_process``),
    or as a child process when it needs a file-size limit."""
    if file_size_limit is None:
        return command_in_process(*args)
    return finish(start(*args, file_size_limit=file_size_limit))


def our_lines(stderr: str) -> list[str]:
    """The command's own lines on stderr (TensorFlow's C++ start-up logs aside)."""
    return [line for line in stderr.splitlines() if line.startswith("keras-simplex:") or "Traceback" in line]


def snapshot(path: pathlib.Path) -> dict:
    """Every file under ``path`` (or the file itself) with its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def leftovers(folder: pathlib.Path) -> list[str]:
    """Temporary outputs left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny model, 4,000 sequences as FASTA and NPZ, and training data (200 nt)."""
    root = tmp_path_factory.mktemp("lost")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH, 4))
    hidden = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(8, 7, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.save(root / "model.keras")
    x = random_one_hot(4000, LENGTH, seed=1)
    np.savez(root / "x.npz", x=x)
    with open(root / "x.fa", "w") as handle:
        for i, sequence in enumerate(ks.one_hot_decode(x)):
            handle.write(f">s{i}\n{sequence}\n")
    long = random_one_hot(2000, 200, seed=2)  # the paper's models need 200 positions
    y = (long[:, :, 0].sum(1) > 50).astype(np.float32)
    np.savez(root / "train.npz", x_train=long[:1500], y_train=y[:1500], x_validation=long[1500:1800],
             y_validation=y[1500:1800], x_test=long[1800:], y_test=y[1800:])
    return root


def long_attribution(workspace, output):
    """An attribution that runs for several seconds (expected gradients, small batches)."""
    return ("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.npz", "--output", output,
            "--method", "expected_gradients", "--baselines", "10", "--steps", "20", "--batch-size", "50")


def previous_output(workspace, name):
    """A finished output to protect, made by a quick run."""
    path = workspace / "runs" / name
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        code, _, err = run("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.npz",
                           "--output", path)
        assert code == 0, err
    return path


def wait_for_progress(process):
    """Block until the first batch has been attributed (the first progress line, on stderr)."""
    for line in process.stderr:
        if line.decode(errors="replace").split(" ")[0].isdigit():  # "50 sequences, 120/s"
            return
    raise AssertionError("the command ended before its first batch")


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
@pytest.mark.parametrize("how, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_an_interrupted_attribution_keeps_the_previous_output(workspace, suffix, how, code):
    output = previous_output(workspace, f"maps{suffix}")
    before = snapshot(output)
    process = start(*long_attribution(workspace, output))
    wait_for_progress(process)
    process.send_signal(how)
    returncode, _, err = finish(process)
    assert returncode == code, err
    if how != signal.SIGKILL:
        assert our_lines(err) == [{143: "keras-simplex: terminated", 130: "keras-simplex: interrupted"}[code]]
        assert leftovers(output.parent) == []
    assert snapshot(output) == before
    remove_stale_temporaries(str(output))  # what the next write to this path does first
    assert leftovers(output.parent) == []


@pytest.mark.parametrize("suffix, batch_size, limit", [(".h5", 1024, 200_000), (".h5", 200, 900_000),
                                                       (".npz", 1024, 200_000)])
def test_a_full_disk_keeps_the_previous_output(workspace, suffix, batch_size, limit):
    """Also when the disk fills after several batches (HDF5 writes batch by batch)."""
    output = previous_output(workspace, f"full{suffix}")
    before = snapshot(output)
    code, _, err = run("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.npz",
                       "--output", output, "--batch-size", batch_size, file_size_limit=limit)
    assert code == 1, err
    assert our_lines(err) == [f"keras-simplex: error: cannot write {output}: File too large"], err  # not its temporary
    assert snapshot(output) == before and leftovers(output.parent) == []


def test_concurrent_runs_do_not_share_a_partial_file(workspace):
    output = workspace / "runs" / "shared.h5"
    output.parent.mkdir(exist_ok=True)
    processes = [start("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.npz",
                       "--output", output, "--seed", str(seed), env={"HDF5_USE_FILE_LOCKING": "FALSE"})
                 for seed in (1, 2)]
    for process in processes:
        code, _, err = finish(process)
        assert code == 0, err
    with h5py.File(output) as handle:
        assert handle["corrected"].shape == (4000, LENGTH, 4)
    assert leftovers(output.parent) == []


def test_training_checks_its_output_first_and_keeps_a_previous_model(workspace):
    previous = workspace / "runs" / "model.keras"
    previous.parent.mkdir(exist_ok=True)
    previous.write_bytes((workspace / "model.keras").read_bytes())
    before = snapshot(previous)
    train = ("train", "--data", workspace / "train.npz", "--model", "cnn_shallow")
    for output, message in [(workspace / "runs" / "model.h5", "must end with .keras"),
                            (workspace / "missing" / "model.keras", "output folder does not exist")]:
        started = time.perf_counter()
        code, _, err = run(*train, "--output", output)
        assert code == 1 and message in our_lines(err)[0], err
        assert time.perf_counter() - started < 60  # before loading data and training
    code, _, err = run(*train, "--epochs", "0", "--output", previous)
    assert code == 2 and "must be >= 1" in err
    for how, expected in [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)]:
        process = start(*train, "--epochs", "50", "--output", previous)
        assert any(b"Epoch" in line for line, _ in zip(process.stderr, range(20)))  # training has started (progress)
        process.send_signal(how)
        code, _, err = finish(process)
        assert code == expected, err
        if how != signal.SIGKILL:
            assert len(our_lines(err)) == 1 and our_lines(err)[0] in ("keras-simplex: terminated",
                                                                      "keras-simplex: interrupted"), err
    code, _, err = run(*train, "--epochs", "1", "--output", previous, file_size_limit=20_000)  # the save fails
    assert code == 1 and len(our_lines(err)) == 1, err
    assert snapshot(previous) == before and leftovers(previous.parent) == []


def test_export_replaces_a_folder_whole_or_not_at_all(workspace, tmp_path):
    target = tmp_path / "serving" / "1"
    code, _, err = run("export", "--model", workspace / "model.keras", "--output", target, "--ig-steps", "4")
    assert code == 0, err
    before = snapshot(target)
    code, _, err = run("export", "--model", workspace / "model.keras", "--output", target, file_size_limit=30_000)
    assert code == 1 and len(our_lines(err)) == 1, err
    assert snapshot(target) == before and leftovers(target.parent) == []
    for how, expected in [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)]:
        process = start("export", "--model", workspace / "model.keras", "--output", target)
        while not leftovers(target.parent) and process.poll() is None:  # the new export is being written
            time.sleep(0.01)
        process.send_signal(how)
        code, _, err = finish(process)
        assert code in (expected, 0), err  # 0: the export finished before the signal arrived
        # The previous export, byte for byte, or (a signal after the final rename) the complete new one.
        assert snapshot(target) == before or tf.saved_model.load(str(target)).signatures["angles"] is not None
        remove_stale_temporaries(str(target))
        assert leftovers(target.parent) == []
        before = snapshot(target)
    (target / "notes.txt").write_text("not part of an export")  # a folder with other files is never replaced
    code, _, err = run("export", "--model", workspace / "model.keras", "--output", target)
    assert code == 1 and "holds what is not a previous SavedModel (notes.txt); refusing to replace it" in err, err
    assert snapshot(target) == {**before, "notes.txt": b"not part of an export"}
    (target / "notes.txt").unlink()
    code, _, err = run("export", "--model", workspace / "model.keras", "--output", target, "--allow-non-one-hot")
    assert code == 0, err
    assert leftovers(target.parent) == []
    loaded = tf.saved_model.load(str(target))
    soft = tf.constant(np.full((2, LENGTH, 4), 0.25, np.float32))  # N, accepted with --allow-non-one-hot
    assert loaded.signatures["corrected_saliency"](sequences=soft)["corrected_saliency"].shape == (2, LENGTH, 4)


def test_a_folder_of_other_files_is_never_replaced(workspace, tmp_path):
    """A folder output given a folder the user keeps other things in (a project folder, a TF
    Serving base path with its versions, the current folder) is refused before any work."""
    mine = tmp_path / "project"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep")
    (mine / "sub" / "b.txt").write_text("keep")
    base = tmp_path / "serving"
    for version in ("1", "2"):
        (base / version).mkdir(parents=True)
        (base / version / "saved_model.pb").write_bytes(b"version " + version.encode())
    kept = {path: snapshot(path) for path in (mine, base)}
    modisco = ("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.npz", "--format",
               "modisco")
    code, _, err = run(*modisco, "--output", mine)
    assert code == 1 and our_lines(err) == [f"keras-simplex: error: {mine} exists and holds what is not a previous "
                                            f"modisco input folder (notes.txt, sub); refusing to replace it: give a "
                                            f"new or empty folder"], err
    code, _, err = run("export", "--model", workspace / "model.keras", "--output", base)
    assert code == 1 and "holds what is not a previous SavedModel (1, 2)" in err, err
    assert "TF Serving reads numbered versions: export to BASE/1, BASE/2, ..." in err
    code, _, err = command_in_process(*modisco, "--output", ".", cwd=mine)
    assert code == 1 and f"{mine} is the current folder or holds it" in err, err
    assert {path: snapshot(path) for path in kept} == kept and leftovers(tmp_path) == []
    folder = tmp_path / "motifs"  # a previous modisco folder is replaced as a whole
    for _ in range(2):
        code, _, err = run(*modisco, "--output", folder)
        assert code == 0, err
    assert sorted(os.listdir(folder)) == ["attr.npz", "names.txt", "ohe.npz", "provenance.json"]
    with pytest.raises(FileExistsError, match="holds what is not a previous output .notes.txt, sub."):
        with atomic_output(mine) as temporary:  # the writer's last line of defence
            os.mkdir(temporary)
    assert snapshot(mine) == kept[mine] and leftovers(tmp_path) == []


def test_ctrl_c_while_tensorflow_loads_is_one_line(workspace, tmp_path):
    process = start("attribute", "--model", workspace / "model.keras", "--input", workspace / "x.fa", "--output",
                    tmp_path / "o.h5")
    time.sleep(0.5)  # importing TensorFlow takes seconds
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process)
    assert code == 130 and our_lines(err) == ["keras-simplex: interrupted"] and out == "", err
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_of_files_and_folders(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            pathlib.Path(temporary).write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and leftovers(tmp_path) == []
    with atomic_output(target) as temporary:
        assert pathlib.Path(temporary).suffix == ".txt" and pathlib.Path(temporary).parent == tmp_path
        pathlib.Path(temporary).write_text("new")
    assert target.read_text() == "new"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a").write_text("old")
    with atomic_output(folder, own=lambda name: name == "a") as temporary:  # "a": what the writer writes
        os.mkdir(temporary)
        pathlib.Path(temporary, "b").write_text("new")
    assert sorted(os.listdir(folder)) == ["b"] and leftovers(tmp_path) == []
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, namespace = _owner()  # of this process: temporaries of this host and PID namespace go at once
    stale = tmp_path / f".out.{host}_{namespace}_{dead.pid}-abcd.partial.txt"
    stale.write_text("from a killed run")
    mine = tmp_path / f".out.{host}_{namespace}_{os.getpid()}-abcd.partial.txt"
    mine.write_text("from a running process")
    with atomic_output(target) as temporary:
        pathlib.Path(temporary).write_text("newer")
    assert not stale.exists() and mine.exists()


# --- a genome index never stale ---------------------------------------------------------------


def test_a_stale_genome_index_is_rebuilt(workspace, tmp_path):
    rng = np.random.default_rng(3)
    genome = tmp_path / "genome.fa"
    first = "".join(rng.choice(list("ACGT"), 1000))
    genome.write_text(f">chr1\n{first}\n")
    import pyfaidx

    pyfaidx.Fasta(str(genome))  # writes genome.fa.fai
    second = "".join(rng.choice(list("ACGT"), 1200))
    genome.write_text(">chr1\n" + "\n".join(second[i : i + 60] for i in range(0, 1200, 60)) + "\n")
    old = time.time() - 3600
    os.utime(str(genome) + ".fai", (old, old))
    (tmp_path / "peaks.bed").write_text("chr1\t100\t150\nchr1\t1100\t1150\n")
    output = tmp_path / "bed.h5"
    code, _, err = run("attribute", "--model", workspace / "model.keras", "--input", tmp_path / "peaks.bed",
                       "--genome", genome, "--output", output)
    assert code == 0, err
    with h5py.File(output) as handle:
        assert ks.one_hot_decode(handle["x"][()]) == [second[100:150], second[1100:1150]]


def test_a_stale_index_that_cannot_be_rebuilt_is_an_error(tmp_path, monkeypatch):
    from keras_simplex.datasets.encode import open_genome

    genome = tmp_path / "genome.fa"
    genome.write_text(">chr1\nACGT\n")
    (tmp_path / "genome.fa.fai").write_text("chr1\t4\t6\t4\t5\n")
    os.utime(str(genome) + ".fai", (0, 0))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match=r"genome\.fa\.fai is older than the genome FASTA .*genome\.fa"):
        open_genome(str(genome))


# --- checked before computing; one line, always -----------------------------------------------


def test_a_bad_record_after_5000_good_ones_stops_before_any_work(workspace, tmp_path):
    fasta = tmp_path / "late.fa"
    good = ks.one_hot_decode(random_one_hot(5000, LENGTH, seed=5))
    fasta.write_text("".join(f">s{i}\n{sequence}\n" for i, sequence in enumerate(good)) + ">bad\n" + "ACGTX" * 10 + "\n")
    output = tmp_path / "late.h5"
    code, out, err = run("attribute", "--model", workspace / "model.keras", "--input", fasta, "--output", output)
    assert code == 1 and our_lines(err) == [
        f"keras-simplex: error: {fasta}, line 10001: record 'bad' has letters 'X' outside the alphabet 'ACGT' (and N)"], err
    assert out == "" and not output.exists() and leftovers(tmp_path) == []  # no batch was attributed
    x = random_one_hot(6000, LENGTH, seed=4)
    x[5003, 7] = np.nan
    np.savez(tmp_path / "nan.npz", x=x)
    code, out, err = run("attribute", "--model", workspace / "model.keras", "--input", tmp_path / "nan.npz",
                         "--output", output)
    assert code == 1 and len(our_lines(err)) == 1 and "first at sequence 5003, position 7" in err, err
    assert out == ""


@pytest.mark.parametrize("case, message", [
    ("latin1", "line 3: not UTF-8 text (byte 0xe9)"),
    ("truncated_gzip", "x.fa.gz: a truncated or corrupt gzip file (Compressed file ended"),
    ("truncated_gzip_bed", "peaks.bed.gz: a truncated or corrupt gzip file (Compressed file ended"),
    ("corrupt_model", "is not a valid .keras file"),
    ("empty_h5", "holds no sequences"),
    ("group_h5", "is a group, not an array"),
    ("batch_size", "must be >= 1"),
])
def test_errors_name_the_file_and_the_cause_in_one_line(workspace, tmp_path, case, message):
    model, inputs, extra, expected_code = workspace / "model.keras", workspace / "x.fa", [], 1
    if case == "latin1":
        inputs = tmp_path / "x.fa"
        inputs.write_bytes(b">s\xc3\xa9\n" + b"ACGT" * 10 + b"\n>s2 caf\xe9\nACGT\n")
    elif case.startswith("truncated_gzip"):
        text = (workspace / "x.fa").read_bytes() if case == "truncated_gzip" else b"chr1\t10\t20\n" * 500
        inputs = tmp_path / ("x.fa.gz" if case == "truncated_gzip" else "peaks.bed.gz")
        packed = gzip.compress(text)
        inputs.write_bytes(packed[: len(packed) // 2])
        extra = [] if case == "truncated_gzip" else ["--genome", workspace / "x.fa"]
    elif case == "corrupt_model":
        model = tmp_path / "model.keras"
        model.write_bytes((workspace / "model.keras").read_bytes()[:1000])
    elif case in ("empty_h5", "group_h5"):
        inputs = tmp_path / "x.h5"
        with h5py.File(inputs, "w") as handle:
            if case == "empty_h5":
                handle["x"] = np.zeros((0, LENGTH, 4), np.float32)
            else:
                handle.create_group("x").create_dataset("inner", data=np.zeros(3))
    else:
        extra, expected_code = ["--batch-size", "0"], 2
    code, _, err = run("attribute", "--model", model, "--input", inputs, "--output", tmp_path / "o.h5", *extra)
    assert code == expected_code, err
    assert message in err and "Traceback" not in err
    if expected_code == 1:
        assert len(our_lines(err)) == 1 and message in our_lines(err)[0], err


def test_a_truncated_genome_is_a_clear_error_in_the_builder(tmp_path):
    from keras_simplex.datasets.encode import Windows, window_examples

    genome = tmp_path / "genome.fa"
    genome.write_text(">chr1\n" + "ACGT" * 50 + "\n")
    import pyfaidx

    pyfaidx.Fasta(str(genome))
    genome.write_text(">chr1\n" + "ACGT" * 20 + "\n")  # truncated after indexing
    os.utime(str(genome), (0, 0))  # as if the index were newer: it is used as it is
    windows = Windows(np.array(["chr1"]), np.array([100]), np.array([150]), np.array([1]))
    with pytest.raises(ValueError, match="chr1:100-150 has only .* letters; the FASTA file is truncated"):
        list(window_examples(str(genome), windows))


def test_a_killed_dataset_build_is_cleaned_up_by_the_next(tmp_path):
    """Once abandoned: a concurrent build's folder (written just now) is left to finish."""
    from keras_simplex.datasets.build import build_dataset

    builder = build_dataset("synthetic_motifs/tiny", tmp_path)
    version = pathlib.Path(builder.data_dir)
    leftover, running = (version.parent / f"incomplete.{token}_{version.name}" for token in ("0123AB", "4567CD"))
    for folder in (leftover, running):
        folder.mkdir()
        (folder / "dataset_info.json").write_text("{}")
    for path in (leftover / "dataset_info.json", leftover):
        os.utime(path, (0, 0))
    import shutil

    shutil.rmtree(builder.data_dir)
    build_dataset("synthetic_motifs/tiny", tmp_path)
    assert not leftover.exists() and (running / "dataset_info.json").exists()


def test_every_bed_window_is_checked_before_the_first_batch(workspace, tmp_path):
    genome = tmp_path / "genome.fa"
    genome.write_text(">chr1\n" + "ACGT" * 250 + "\n")
    lines = [f"chr1\t{100 + i % 800}\t{150 + i % 800}" for i in range(3000)]
    for last, window, side in (("chr1\t980\t1000", "965-1015", "end"), ("chr1\t0\t20", "-15-35", "start")):
        (tmp_path / "peaks.bed").write_text("\n".join([*lines, last]) + "\n")
        code, out, err = run("attribute", "--model", workspace / "model.keras", "--input", tmp_path / "peaks.bed",
                             "--genome", genome, "--output", tmp_path / "o.h5", "--batch-size", "100",
                             "--out-of-bounds", "error")
        assert code == 1 and our_lines(err) == [
            f"keras-simplex: error: {tmp_path / 'peaks.bed'}, line 3001: window chr1:{window} runs past the {side} of "
            f"chr1 (length 1000; --out-of-bounds skip or pad to go on)"], err
        assert out == "" and leftovers(tmp_path) == []


def test_gzipped_fasta_gives_the_maps_of_the_plain_file(workspace, tmp_path):
    fasta = tmp_path / "x.fa.gz"
    records = (workspace / "x.fa").read_text().splitlines(keepends=True)[:1400]  # the first 700 records
    fasta.write_bytes(gzip.compress("".join(records).encode()))
    code, _, err = run("attribute", "--model", workspace / "model.keras", "--input", fasta, "--output", tmp_path / "gz.npz")
    assert code == 0, err
    saved = np.load(tmp_path / "gz.npz")
    x = np.load(workspace / "x.npz")["x"][: len(saved["x"])]
    np.testing.assert_array_equal(saved["x"], x)
    np.testing.assert_allclose(saved["corrected"], ks.saliency(keras.saving.load_model(workspace / "model.keras"), x),
                               atol=1e-5)


def test_standard_input_spooled_to_disk_is_removed_on_sigterm(workspace, tmp_path):
    """FASTA on stdin is spooled to a file in TMPDIR (read twice: checks, then maps); SIGTERM's
    immediate exit once left that copy of the whole input behind."""
    with np.load(workspace / "x.npz") as arrays:
        sequences = ks.one_hot_decode(arrays["x"])
    (tmp_path / "in.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences)))
    spool = tmp_path / "tmp"
    spool.mkdir()
    arguments = [*long_attribution(workspace, tmp_path / "maps.h5")]
    arguments[arguments.index("--input") + 1] = "-"
    with open(tmp_path / "in.fa") as stdin:
        process = subprocess.Popen([COMMAND, *map(str, arguments)], stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(spool)))
        wait_for_progress(process)
        assert len(list(spool.glob("*.fa"))) == 1  # the spooled input, while the command runs
        process.send_signal(signal.SIGTERM)
        returncode, _, err = finish(process)
    assert returncode == 143, err
    assert list(spool.glob("*.fa")) == [] and not (tmp_path / "maps.h5").exists()


def test_a_full_disk_is_blamed_on_the_output_that_hit_it(tmp_path):
    """The error names the output whose temporary was being written (once, also when outputs
    nest), and an error about another file is left as it is."""
    import errno

    from keras_simplex.atomic import OutputWriteError

    outer, inner = str(tmp_path / "maps.h5"), str(tmp_path / "track.bw")
    with pytest.raises(OutputWriteError) as raised:
        with atomic_output(outer), atomic_output(inner) as temporary:
            raise OSError(errno.ENOSPC, "No space left on device", temporary)
    assert str(raised.value) == f"cannot write {inner}: No space left on device" and raised.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as raised:
        with atomic_output(outer):
            raise OSError(errno.ENOSPC, "No space left on device", "/tmp/elsewhere")
    assert not isinstance(raised.value, OutputWriteError) and raised.value.filename == "/tmp/elsewhere"
    assert os.listdir(tmp_path) == []
