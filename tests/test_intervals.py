import gzip

import numpy as np
import pytest

from keras_simplex.datasets.intervals import Intervals, centered_windows, overlap_groups, overlaps_any, read_bed


def random_intervals(rng, n, chroms=("chr1", "chr2", "chrX"), span=5000, max_width=300):
    start = rng.integers(0, span, n)
    end = start + rng.integers(1, max_width, n)
    return Intervals(
        rng.choice(np.array(chroms, dtype=object), n), start, end, np.full(n, -1),
        np.full(n, "test", dtype=object), np.arange(1, n + 1),
    )


@pytest.mark.parametrize("seed", range(5))
def test_overlaps_any_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    query, reference = random_intervals(rng, 400), random_intervals(rng, 150, chroms=("chr1", "chr2", "chr9"))
    brute = np.array([
        any(c == q_c and s < q_e and e > q_s for c, s, e in zip(reference.chrom, reference.start, reference.end))
        for q_c, q_s, q_e in zip(query.chrom, query.start, query.end)
    ])
    np.testing.assert_array_equal(overlaps_any(query, reference), brute)
    assert brute.any() and not brute.all()


def test_touching_intervals_do_not_overlap():
    a = Intervals(np.array(["c"], object), np.array([10]), np.array([20]), np.array([-1]), np.array(["a"], object), np.array([1]))
    for start, end, expected in [(20, 30, False), (0, 10, False), (19, 30, True), (0, 11, True), (12, 13, True)]:
        b = Intervals(np.array(["c"], object), np.array([start]), np.array([end]), np.array([-1]), np.array(["b"], object), np.array([1]))
        assert overlaps_any(a, b)[0] == expected, (start, end)


def test_read_bed_plain_gzip_and_narrowpeak(tmp_path):
    text = "track name=x\n# comment\nchr1\t100\t300\tp\t0\t.\t1\t1\t1\t50\nchr2\t5\t25\n"
    (tmp_path / "a.bed").write_text(text)
    with gzip.open(tmp_path / "a.bed.gz", "wt") as f:
        f.write(text)
    for name in ("a.bed", "a.bed.gz"):
        peaks = read_bed(tmp_path / name)
        assert list(peaks.chrom) == ["chr1", "chr2"] and list(peaks.summit) == [50, -1]
        assert list(peaks.line) == [3, 4]
    start, end = centered_windows(peaks, 200)
    np.testing.assert_array_equal(start, [50, -85])  # summit 150 and midpoint 15
    np.testing.assert_array_equal(end - start, 200)


@pytest.mark.parametrize(
    "text, message",
    [
        ("chr1\t100\n", "line 1: malformed BED line .*3 tab-separated"),
        ("chr1\t10\t20\nchr1\tx\t20\n", "line 2: malformed BED line"),
        ("chr1\t30\t20\n", "invalid interval"),
        ("chr1\t0\t20\tp\t0\t.\t1\t1\t1\t25\n", "summit offset 25 outside"),
        ("# only a header\n", "empty peak file"),
    ],
)
def test_read_bed_errors_name_file_and_line(tmp_path, text, message):
    (tmp_path / "peaks.bed").write_text(text)
    with pytest.raises(ValueError, match=f"peaks.bed.*{message}"):
        read_bed(tmp_path / "peaks.bed")


def test_summits_come_from_narrowpeak_lines_only(tmp_path):
    """Column 10 of BED12 and gappedPeak lines is a block count, never a summit."""
    lines = ["chr1\t100\t300\tp\t0\t.\t1\t1\t1\t50",  # narrowPeak: summit at 150
             "chr1\t100\t300\tb\t0\t+\t100\t300\t0\t2\t10,10\t0,190",  # BED12
             "chr1\t100\t300\tg\t0\t+\t100\t300\t0\t2\t10,10\t0,190\t5\t1\t1"]  # gappedPeak
    (tmp_path / "mixed.bed").write_text("\n".join(lines) + "\n")
    peaks = read_bed(tmp_path / "mixed.bed")
    assert list(peaks.summit) == [50, -1, -1]
    start, end = centered_windows(peaks, 20)
    np.testing.assert_array_equal(start, [140, 190, 190])  # the summit; the midpoints


def test_trailing_tabs_and_line_ends_add_no_column(tmp_path):
    """A narrowPeak line written with a trailing tab once counted 11 columns, so its summit was
    ignored and the window centred on the midpoint; CRLF and trailing spaces read the same."""
    line = "chr1\t100\t300\tpk1\t0\t+\t5\t1\t1\t40"
    for ending in ("\n", "\t\n", " \n", "\r\n", "\t\r\n"):
        (tmp_path / "p.narrowPeak").write_text(line + ending)
        intervals = read_bed(tmp_path / "p.narrowPeak")
        assert intervals.summit.tolist() == [40] and intervals.name.tolist() == ["pk1"], repr(ending)


@pytest.mark.parametrize("seed", range(3))
def test_overlap_groups_are_the_connected_groups_of_overlapping_intervals(seed):
    """Brute force: intervals overlapping (not touching) are in one group, and each group is
    connected (a union-find over all overlapping pairs gives the same partition)."""
    rng = np.random.default_rng(seed)
    iv = random_intervals(rng, 300, span=20000, max_width=200)
    groups = overlap_groups(iv.chrom, iv.start, iv.end)
    parent = list(range(len(iv)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(iv)):
        for j in range(i):
            if iv.chrom[i] == iv.chrom[j] and iv.start[i] < iv.end[j] and iv.start[j] < iv.end[i]:
                parent[root(i)] = root(j)
    roots = np.array([root(i) for i in range(len(iv))])
    for i in range(len(iv)):
        np.testing.assert_array_equal(groups == groups[i], roots == roots[i])
    assert 1 < len(np.unique(groups)) < len(iv)
    chain = overlap_groups(np.array(["c"] * 4, object), np.array([0, 5, 9, 20]), np.array([6, 10, 20, 30]))
    assert chain.tolist() == [0, 0, 0, 1]  # linked through the middle ones; touching at 20 is no overlap
