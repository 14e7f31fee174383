"""bigWig tracks of window scores, read back with pyBigWig and pybigtools."""

import os
import resource
import signal

import numpy as np
import pyBigWig
import pybigtools
import pytest

from keras_simplex import tracks
from keras_simplex.tracks import window_coordinates, write_bigwig

RTOL = 1e-6  # bigWig stores float32


def expected_track(chroms, starts, scores, sizes, overlap):
    """Per-base values, chromosome -> (size,) array with NaN where no window is, from a plain
    per-position list of the windows' values."""
    covering = {chrom: [[] for _ in range(sizes[chrom])] for chrom in set(chroms)}
    for chrom, start, row in zip(chroms, starts, scores):
        for offset, value in enumerate(row):
            if 0 <= start + offset < sizes[chrom]:
                covering[chrom][start + offset].append(float(value))

    def combine(values):
        if not values:
            return np.nan
        return np.mean(values) if overlap == "mean" else max(values, key=lambda v: (abs(v), v))

    return {chrom: np.array([combine(values) for values in lists]) for chrom, lists in covering.items()}


def check_track(path, expected, sizes):
    """Both readers see exactly ``expected`` (NaN = no entry), chromosome by chromosome."""
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == {chrom: sizes[chrom] for chrom in expected if not np.isnan(expected[chrom]).all()}
        for chrom, values in expected.items():
            np.testing.assert_allclose(bw.values(chrom, 0, sizes[chrom]), values, rtol=RTOL, atol=0)
    with pybigtools.open(str(path)) as reader:
        for chrom, values in expected.items():
            np.testing.assert_allclose(reader.values(chrom, 0, sizes[chrom], fillna=None), values, rtol=RTOL, atol=0)
            rebuilt = np.full(sizes[chrom], np.nan)
            records = list(reader.records(chrom))
            for start, end, value in records:
                assert np.isnan(rebuilt[start:end]).all()  # records do not overlap
                rebuilt[start:end] = value
            np.testing.assert_allclose(rebuilt, values, rtol=RTOL, atol=0)
            for (_, end, value), (start, _, following) in zip(records, records[1:]):
                assert start > end or value != following  # equal neighbours are merged into one run


def test_non_overlapping_windows_and_uncovered_bases(tmp_path):
    rng = np.random.default_rng(0)
    sizes = {"chr1": 100}
    chroms, starts, scores = ["chr1", "chr1"], np.array([50, 10]), rng.normal(size=(2, 12))
    write_bigwig(str(tmp_path / "a.bw"), chroms, starts, scores, sizes)
    expected = expected_track(chroms, starts, scores, sizes, "mean")
    assert np.isnan(expected["chr1"][:10]).all() and np.isnan(expected["chr1"][22:50]).all()
    check_track(tmp_path / "a.bw", expected, sizes)
    with pyBigWig.open(str(tmp_path / "a.bw")) as bw:
        assert np.isnan(bw.values("chr1", 22, 50)).all()
        assert len(bw.intervals("chr1")) == 24  # one entry per covered base, none for gaps


@pytest.mark.parametrize("overlap", ["mean", "max"])
def test_overlapping_windows(tmp_path, overlap):
    rng = np.random.default_rng(1)
    sizes = {"chr1": 200}
    chroms = ["chr1"] * 6
    starts = np.array([30, 0, 10, 25, 100, 118])  # 0..55 overlapping, 100..138 touching
    scores = rng.normal(size=(6, 20)) * rng.choice([1, 10], size=(6, 1))
    write_bigwig(str(tmp_path / "a.bw"), chroms, starts, scores, sizes, overlap=overlap)
    expected = expected_track(chroms, starts, scores, sizes, overlap)
    check_track(tmp_path / "a.bw", expected, sizes)
    if overlap == "max":
        assert np.nanmin(expected["chr1"]) < 0  # a negative value of larger magnitude won somewhere
        np.testing.assert_allclose(expected["chr1"][15], max(scores[1, 15], scores[2, 5], key=abs))


def test_max_takes_largest_magnitude_and_the_positive_one_on_a_tie(tmp_path):
    sizes = {"chr1": 10}
    scores = np.array([[1.0, -3.0, 2.0, -2.0], [-1.5, 3.0, 0.5, 2.0]])
    for order in ([0, 1], [1, 0]):
        path = str(tmp_path / f"{order[0]}.bw")
        write_bigwig(path, ["chr1", "chr1"], np.array([2, 2]), scores[order], sizes, overlap="max")
        with pyBigWig.open(path) as bw:
            np.testing.assert_array_equal(bw.values("chr1", 2, 6), [-1.5, 3.0, 2.0, 2.0])


def test_constant_values_are_merged_into_runs(tmp_path):
    sizes = {"chr1": 100}
    scores = np.array([[0.5] * 10, [0.5] * 10, [0.25] * 10])
    write_bigwig(str(tmp_path / "a.bw"), ["chr1"] * 3, np.array([0, 10, 30]), scores, sizes)
    with pybigtools.open(str(tmp_path / "a.bw")) as reader:
        assert list(reader.records("chr1")) == [(0, 20, 0.5), (30, 40, 0.25)]


def test_windows_past_chromosome_ends_are_clipped(tmp_path):
    rng = np.random.default_rng(2)
    sizes = {"chr1": 50, "chr2": 30}
    chroms, starts = ["chr1", "chr1", "chr2", "chr2"], np.array([-5, 40, 25, -30])  # the last one is all outside
    scores = rng.normal(size=(4, 15))
    write_bigwig(str(tmp_path / "a.bw"), chroms, starts, scores, sizes)
    expected = expected_track(chroms, starts, scores, sizes, "mean")
    np.testing.assert_array_equal(expected["chr1"][:10], scores[0, 5:])
    np.testing.assert_array_equal(expected["chr1"][40:], scores[1, :10])
    np.testing.assert_array_equal(expected["chr2"][25:], scores[2, :5])
    check_track(tmp_path / "a.bw", expected, sizes)
    with pybigtools.open(str(tmp_path / "a.bw")) as reader:
        assert list(reader.records("chr1"))[0][0] == 0
        assert list(reader.records("chr2"))[-1][1] == 30


def test_chromosomes_in_any_order(tmp_path):
    rng = np.random.default_rng(3)
    sizes = {"chr1": 60, "chr2": 60, "chr10": 60, "chrX": 60, "chrUn": 60}
    chroms = np.array(["chrX", "chr2", "chr10", "chr2", "chr1", "chrX"])  # numpy strings, unsorted, interleaved
    starts = np.array([5, 40, 0, 2, 30, 10])
    scores = rng.normal(size=(6, 20))
    write_bigwig(str(tmp_path / "a.bw"), chroms, starts, scores, sizes)
    expected = expected_track(list(chroms), starts, scores, sizes, "mean")
    check_track(tmp_path / "a.bw", expected, sizes)
    with pyBigWig.open(str(tmp_path / "a.bw")) as bw:
        assert "chrUn" not in bw.chroms()  # no window there: not in the file


def test_reverse_windows_round_trip(tmp_path):
    sizes = {"chr1": 40}
    names = ["chr1:0-10", "chr1:20-30(-)"]
    chroms, starts, reverse = window_coordinates(names)
    genome_order = np.arange(10.0) + 1  # the value at the window's first base, second base, ...
    scores = np.stack([genome_order, genome_order[::-1]])  # the (-) window's scores run from its end
    scores[reverse] = scores[reverse, ::-1]
    write_bigwig(str(tmp_path / "a.bw"), chroms, starts, scores, sizes)
    with pyBigWig.open(str(tmp_path / "a.bw")) as bw:
        np.testing.assert_array_equal(bw.values("chr1", 0, 10), genome_order)
        np.testing.assert_array_equal(bw.values("chr1", 20, 30), genome_order)


@pytest.mark.parametrize("change, message", [
    (dict(scores=np.array([[1.0, np.nan, 2.0]])), r"scores\[0, 1\] is nan"),
    (dict(scores=np.array([[1.0, np.inf, 2.0]])), r"scores\[0, 1\] is inf"),
    (dict(scores=np.array([[1e39, 0.0, 0.0]])), "float32"),
    (dict(scores=np.array([1.0, 2.0, 3.0])), "2-D"),
    (dict(chroms=["chrZ"]), "'chrZ' is not in chrom_sizes"),
    (dict(chroms=["chr1", "chr1"]), "one entry per window"),
    (dict(starts=np.array([0, 1])), "one entry per window"),
    (dict(starts=np.array([0.5])), "integer"),
    (dict(overlap="median"), "overlap must be one of"),
    (dict(path="a.bigWIG"), "must end in one of"),
    (dict(starts=np.array([10])), "no window overlaps"),
    (dict(chrom_sizes={"chr1": 0}), "must be an integer"),
])
def test_bad_inputs(tmp_path, change, message):
    arguments = dict(path="a.bw", chroms=["chr1"], starts=np.array([0]), scores=np.array([[1.0, 2.0, 3.0]]),
                     chrom_sizes={"chr1": 10}, overlap="mean")
    arguments.update(change)
    arguments["path"] = str(tmp_path / arguments["path"])
    with pytest.raises(ValueError, match=message):
        write_bigwig(**arguments)
    assert os.listdir(tmp_path) == []


def previous_file(tmp_path):
    path = str(tmp_path / "a.bw")
    write_bigwig(path, ["chr1"], np.array([0]), np.array([[1.0, 2.0]]), {"chr1": 10})
    with open(path, "rb") as handle:
        return path, handle.read()


def assert_unchanged(path, old):
    with open(path, "rb") as handle:
        assert handle.read() == old
    assert os.listdir(os.path.dirname(path)) == ["a.bw"]  # no temporary left behind


def test_previous_file_survives_a_bad_input(tmp_path):
    path, old = previous_file(tmp_path)
    with pytest.raises(ValueError, match="chrZ"):
        write_bigwig(path, ["chr1", "chrZ"], np.array([0, 0]), np.ones((2, 3)), {"chr1": 10})
    assert_unchanged(path, old)


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt()])
def test_previous_file_survives_a_failure_while_writing(tmp_path, monkeypatch, failure):
    """pybigtools swallows exceptions of its input iterator: they must still propagate."""
    path, old = previous_file(tmp_path)
    runs = tracks._runs

    def failing_runs(chrom, origin, values):
        yield from runs(chrom, origin, values)
        raise failure

    monkeypatch.setattr(tracks, "_runs", failing_runs)
    with pytest.raises(type(failure)):
        write_bigwig(path, ["chr1"], np.array([0]), np.ones((1, 5)), {"chr1": 10})
    assert_unchanged(path, old)


def test_previous_file_survives_a_silent_pybigtools_failure(tmp_path, monkeypatch):
    """pybigtools reports some failed writes only by printing: the file is checked."""
    path, old = previous_file(tmp_path)
    real_open = pybigtools.open

    class BrokenWriter:
        def __init__(self, path):
            self.path = path

        def write(self, chrom_sizes, entries):
            list(entries)
            with open(self.path, "wb") as handle:
                handle.write(b"not a bigWig")

    monkeypatch.setattr(pybigtools, "open", lambda p, mode="r": BrokenWriter(p) if mode == "w" else real_open(p))
    with pytest.raises(RuntimeError, match="pybigtools failed to write"):
        write_bigwig(path, ["chr1"], np.array([0]), np.ones((1, 5)), {"chr1": 10})
    assert_unchanged(path, old)


@pytest.mark.parametrize("length", [3_000, 200_000])
def test_previous_file_survives_a_full_disk(tmp_path, length):
    """A file-size limit stands in for a full disk; pybigtools then prints or panics."""
    path, old = previous_file(tmp_path)
    scores = np.random.default_rng(4).normal(size=(1, length))
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
    try:
        with pytest.raises(RuntimeError, match="pybigtools failed to write"):
            write_bigwig(path, ["chr1"], np.array([0]), scores, {"chr1": 300_000})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert_unchanged(path, old)


def test_window_coordinates():
    names = ["chr1:100-200", "chr2:-5-95(-)", "HLA-A*01:01:01:01:10-20", b"chrX:5-15(-)", np.str_("chrM:0-3")]
    chroms, starts, reverse = window_coordinates(names)
    assert chroms == ["chr1", "chr2", "HLA-A*01:01:01:01", "chrX", "chrM"]
    np.testing.assert_array_equal(starts, [100, -5, 10, 5, 0])
    np.testing.assert_array_equal(reverse, [False, True, False, True, False])
    assert starts.dtype == np.int64 and reverse.dtype == bool


@pytest.mark.parametrize("name", ["chr1", "chr1:100", "chr1:a-b", "chr1:10-20(+)", "chr1:20-10", ":10-20",
                                  "chr1:10-20 "])
def test_window_coordinates_rejects_other_names(name):
    with pytest.raises(ValueError, match="is not chrom:start-end"):
        window_coordinates(["chr1:0-10", name])
