"""The encode_chipseq TFDS builder and its window logic, on the dummy data beside it."""

import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

import keras_simplex.datasets  # noqa: F401
from keras_simplex.datasets import build, encode, encode_chipseq, splits
from keras_simplex.datasets.intervals import Intervals, overlaps_any

DUMMY = pathlib.Path(encode_chipseq.__file__).parent / "dummy_data"


class EncodeChipseqTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = encode_chipseq.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["ctcf"]
    SPLITS = {"train": 21, "validation": 1, "test": 6}  # groups of overlapping windows stay together


@pytest.fixture(scope="module")
def peaks():
    genome = encode.open_genome(str(DUMMY / "genome.fa"))
    sizes = {name: len(record) for name, record in genome.items()}
    chip = encode.read_peaks(encode.peak_files(DUMMY / "chip" / "ctcf"))
    dnase = encode.read_peaks(encode.peak_files(DUMMY / "dnase"))
    return chip, dnase, sizes


def test_windows_are_balanced_centred_and_inside_chromosomes(peaks):
    chip, dnase, sizes = peaks
    windows = encode.chipseq_windows(chip, dnase, sizes, window=200, seed=0)
    assert (windows.label == 1).sum() == (windows.label == 0).sum() == 14
    assert windows.dropped["positive_past_chromosome_end"] == 2
    np.testing.assert_array_equal(windows.end - windows.start, 200)
    assert all(0 <= s and e <= sizes[c] for c, s, e in zip(windows.chrom, windows.start, windows.end))
    summits = set(zip(chip.chrom, chip.start + chip.summit))
    assert all((c, s + 100) in summits for c, s, l in zip(windows.chrom, windows.start, windows.label) if l == 1)
    # Negatives come from DNase peaks that overlap no ChIP peak.
    free = dnase.take(np.flatnonzero(~overlaps_any(dnase, chip)))
    centres = set(zip(free.chrom, free.start + free.summit))
    assert all((c, s + 100) in centres for c, s, l in zip(windows.chrom, windows.start, windows.label) if l == 0)


def test_chromosome_holdout_split(peaks):
    chip, dnase, sizes = peaks
    windows = encode.chipseq_windows(chip, dnase, sizes)
    splits = encode.split_windows(windows, validation_chromosomes=["chr2"], test_chromosomes=["chr3"])
    assert set(splits["test"].chrom) == {"chr3"} and set(splits["validation"].chrom) == {"chr2"}
    assert set(splits["train"].chrom) == {"chr1"}
    assert sum(len(s) for s in splits.values()) == len(windows)


def test_n_bases_uniform_or_dropped(tmp_path, peaks):
    chip, dnase, sizes = peaks
    windows = encode.chipseq_windows(chip, dnase, sizes)
    with_n = windows.take(np.flatnonzero((windows.chrom == "chr2") & (windows.start < 1010) & (windows.end > 1000)))
    assert len(with_n) > 0
    (key, example), *_ = encode.window_examples(str(DUMMY / "genome.fa"), with_n, "uniform")
    rows = example["sequence"][1000 - with_n.start[0] : 1010 - with_n.start[0]]
    np.testing.assert_array_equal(rows, 0.25)
    assert list(encode.window_examples(str(DUMMY / "genome.fa"), with_n, "drop")) == []


def copy_dummy(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual)
    return manual


def test_bgzipped_genome_and_gzipped_peaks(tmp_path):
    from Bio import bgzf
    import gzip

    manual = tmp_path / "manual"
    for folder in ("dnase", "chip/ctcf"):
        (manual / folder).mkdir(parents=True)
        for source in (DUMMY / folder).iterdir():
            with gzip.open(manual / folder / (source.name + ".gz"), "wb") as f:
                f.write(source.read_bytes())
    with bgzf.BgzfWriter(str(manual / "genome.fa.gz"), "wb") as f:
        f.write((DUMMY / "genome.fa").read_bytes())
    packed = build.build_dataset("encode_chipseq/ctcf", tmp_path / "packed", manual_dir=manual)
    plain = decoded(build.build_dataset("encode_chipseq/ctcf", tmp_path / "plain", manual_dir=DUMMY))
    for split, examples in decoded(packed).items():
        assert len(examples) == len(plain[split]) > 0
        for x, y in zip(examples, plain[split]):
            np.testing.assert_array_equal(x["sequence"], y["sequence"])


def test_missing_chromosome_names_file_and_line(tmp_path):
    manual = copy_dummy(tmp_path)
    peak_file = manual / "chip" / "ctcf" / "ctcf_peaks.narrowPeak"
    peak_file.write_text(peak_file.read_text() + "chrUn_x\t10\t300\tp\t0\t.\t1\t1\t1\t100\n")
    with pytest.raises(ValueError, match=r"ctcf_peaks.narrowPeak, line 17: chromosome 'chrUn_x' is not in the genome"):
        build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=manual)


def test_bad_files_give_clear_errors(tmp_path):
    manual = copy_dummy(tmp_path)
    (manual / "dnase" / "dnase_peaks.narrowPeak").write_text("")
    with pytest.raises(ValueError, match="dnase_peaks.narrowPeak: no intervals"):
        build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=manual)
    manual = copy_dummy(tmp_path / "2")
    (manual / "genome.fa").write_text("this is not a fasta file\n")
    (manual / "genome.fa.fai").unlink()
    with pytest.raises(ValueError, match="cannot read genome FASTA .*genome.fa"):
        build.build_dataset("encode_chipseq/ctcf", tmp_path / "data2", manual_dir=manual)
    manual = copy_dummy(tmp_path / "3")
    shutil.rmtree(manual / "chip" / "ctcf")
    with pytest.raises(FileNotFoundError, match="no peak files"):
        build.build_dataset("encode_chipseq/ctcf", tmp_path / "data3", manual_dir=manual)


def decoded(builder):
    return {s: list(tfds.as_numpy(builder.as_dataset(split=s, shuffle_files=False))) for s in ("train", "validation", "test")}


def test_builds_are_deterministic_with_and_without_beam(tmp_path):
    plain = build.build_dataset("encode_chipseq/ctcf", tmp_path / "plain", manual_dir=DUMMY)
    again = build.build_dataset("encode_chipseq/ctcf", tmp_path / "again", manual_dir=DUMMY)
    beam = build.build_dataset("encode_chipseq/ctcf", tmp_path / "beam", manual_dir=DUMMY, beam_runner="DirectRunner")
    first, second = decoded(plain), decoded(beam)
    for split, examples in decoded(again).items():  # same order, same values
        assert [e["start"] for e in examples] == [e["start"] for e in first[split]]
        for x, y in zip(examples, first[split]):
            np.testing.assert_array_equal(x["sequence"], y["sequence"])
    reloaded = tfds.builder("encode_chipseq/ctcf", data_dir=str(tmp_path / "plain"))
    assert reloaded.info.metadata["dropped"]["positive_past_chromosome_end"] == 2
    for split in first:
        key = lambda e: (e["chrom"], e["start"])  # noqa: E731
        a, b = sorted(first[split], key=key), sorted(second[split], key=key)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x["sequence"], y["sequence"])
            assert x["label"] == y["label"]


def tiny_manual(tmp_path):
    """A manual folder with a 2-chromosome genome and 5 + 5 peaks (no overlaps, so nothing is
    down-sampled once both classes keep all windows): the ChIP peaks on lines 4 and 5 give
    20-nt windows past chr1's start (-5..15) and chr2's end (585..605 on 600 nt)."""
    rng = np.random.default_rng(3)
    genome = {"chr1": "".join(rng.choice(list("ACGT"), 800)), "chr2": "".join(rng.choice(list("ACGT"), 600))}
    manual = tmp_path / "manual"
    (manual / "chip" / "ctcf").mkdir(parents=True)
    (manual / "dnase").mkdir()
    (manual / "genome.fa").write_text("".join(f">{name}\n{seq}\n" for name, seq in genome.items()))
    (manual / "chip" / "ctcf" / "peaks.bed").write_text(
        "chr1\t100\t140\nchr1\t300\t340\nchr2\t200\t240\nchr1\t0\t10\nchr2\t590\t600\n")
    (manual / "dnase" / "peaks.bed").write_text(
        "chr1\t500\t540\nchr1\t700\t740\nchr2\t400\t440\nchr2\t50\t90\nchr1\t600\t640\n")
    return manual, genome


def build_tiny(tmp_path, out_of_bounds, manual=None, **options):
    config = encode_chipseq.EncodeChipseqConfig(
        name=f"tiny_{out_of_bounds}", factor="ctcf", window=20, out_of_bounds=out_of_bounds, **options)
    manual, genome = manual or tiny_manual(tmp_path)
    builder = encode_chipseq.Builder(config=config, data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    examples = [e for split in decoded(builder).values() for e in split]
    return builder, {(e["chrom"].decode(), int(e["start"])): e for e in examples}, genome


def test_out_of_bounds_skip_drops_and_counts(tmp_path, caplog):
    builder, examples, _ = build_tiny(tmp_path, "skip")
    assert ("chr1", -5) not in examples and ("chr2", 585) not in examples
    assert len(examples) == 6  # 3 positives inside, balanced with 3 of the 5 negatives
    dropped = builder.info.metadata["dropped"]
    assert dropped["positive_past_chromosome_end"] == 2 and dropped["negative_past_chromosome_end"] == 0
    assert dropped["negative_downsampled"] == 2
    reloaded = encode_chipseq.Builder(config=builder.builder_config, data_dir=str(tmp_path / "data"))
    assert reloaded.info.metadata["dropped"]["positive_past_chromosome_end"] == 2
    assert reloaded.info.metadata["out_of_bounds"] == "skip" and reloaded.info.metadata["padded"] == 0
    assert "skipped 2 windows past a chromosome start or end" in caplog.text


def test_out_of_bounds_pad_reads_genome_then_n(tmp_path):
    from keras_simplex.encoding import one_hot_decode

    builder, examples, genome = build_tiny(tmp_path, "pad")
    assert len(examples) == 10 and builder.info.metadata["padded"] == 2
    assert builder.info.metadata["dropped"]["positive_past_chromosome_end"] == 0
    start, end = examples[("chr1", -5)], examples[("chr2", 585)]
    assert (int(start["end"]), int(end["end"])) == (15, 605)
    assert one_hot_decode(start["sequence"][None])[0] == "N" * 5 + genome["chr1"][:15]
    assert one_hot_decode(end["sequence"][None])[0] == genome["chr2"][585:] + "N" * 5
    np.testing.assert_array_equal(end["sequence"][15:], 0.25)  # N as n_policy="uniform" encodes it
    inside = examples[("chr1", 110)]
    assert one_hot_decode(inside["sequence"][None])[0] == genome["chr1"][110:130]


def test_out_of_bounds_error_names_the_window_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"peaks.bed, line 4: the 20-nt window chr1:-5-15 runs past the start of "
                                         r"chr1 \(length 800; 2 such ChIP-seq windows\)"):
        build_tiny(tmp_path, "error")
    assert not list((tmp_path / "data").rglob("*.tfrecord*"))
    manual, _ = tiny_manual(tmp_path / "2")
    (manual / "chip" / "ctcf" / "peaks.bed").write_text("chr2\t590\t600\n")
    chip = encode.read_peaks(encode.peak_files(manual / "chip" / "ctcf"))
    dnase = encode.read_peaks(encode.peak_files(manual / "dnase"))
    with pytest.raises(ValueError, match=r"line 1: the 20-nt window chr2:585-605 runs past the end of chr2 "
                                         r"\(length 600;"):
        encode.chipseq_windows(chip, dnase, {"chr1": 800, "chr2": 600}, window=20, out_of_bounds="error")


def test_out_of_bounds_invalid_policy(peaks):
    chip, dnase, sizes = peaks
    with pytest.raises(ValueError, match=r"out_of_bounds must be one of \('skip', 'pad', 'error'\), got 'clip'"):
        encode_chipseq.EncodeChipseqConfig(name="bad", out_of_bounds="clip")
    with pytest.raises(ValueError, match="out_of_bounds must be one of"):
        encode.chipseq_windows(chip, dnase, sizes, out_of_bounds="clip")
    windows = encode.chipseq_windows(chip, dnase, sizes, out_of_bounds="pad")
    assert windows.dropped["positive_past_chromosome_end"] == 0
    outside = encode.outside_chromosome(windows.chrom, windows.start, windows.end, sizes)
    # the dummy data's ChIP peaks at chr1's start and chr3's end, one DNase peak at chr2's end
    assert list(zip(windows.chrom[outside], windows.label[outside])) == [("chr1", 1), ("chr3", 1), ("chr2", 0)]
    with pytest.raises(ValueError, match=r"window chr1:-85-115 runs past the start of chr1 \(length 6000\)"):
        list(encode.window_examples(str(DUMMY / "genome.fa"), windows.take(np.flatnonzero(outside)), "uniform"))


def intervals(rows):
    """Intervals from ``(chrom, start, end, summit offset)`` rows (file "f", lines 1, 2, ...)."""
    chrom, start, end, summit = zip(*rows)
    return Intervals(np.array(chrom, object), np.array(start), np.array(end), np.array(summit),
                     np.full(len(rows), "f", object), np.arange(1, len(rows) + 1))


def test_the_random_split_keeps_overlapping_windows_together():
    """Replicate peak files call the same sites with summits 2 nt apart: the two 99%-identical
    windows once landed in different splits (77 of 200 sites). No window of one split overlaps
    a window of another now, and the fractions hold by window counts."""
    starts = np.sort(np.random.default_rng(0).choice(np.arange(1000, 900_000, 1000), 200, replace=False))
    chip = intervals([("chr1", int(s), int(s) + 300, summit) for summit in (150, 152) for s in starts])
    dnase = intervals([("chr1", int(s), int(s) + 150, 75) for s in range(950_000 - 400 * 400, 950_000, 400)])
    windows = encode.chipseq_windows(chip, dnase, {"chr1": 1_000_000}, 200, seed=0)
    assert (windows.label == 1).sum() == 377  # both windows of each site kept (balanced with 377 negatives)
    parts = encode.split_windows(windows, seed=0)
    assert sum(len(p) for p in parts.values()) == len(windows)
    as_intervals = {name: intervals(list(zip(p.chrom, p.start, p.end, np.full(len(p), -1)))) for name, p in parts.items()}
    for name, part in as_intervals.items():
        for other in set(parts) - {name}:
            assert not overlaps_any(part, as_intervals[other]).any(), (name, other)
    sizes = np.array([len(parts[name]) for name in ("train", "validation", "test")]) / len(windows)
    np.testing.assert_allclose(sizes, (0.7, 0.1, 0.2), atol=0.01)


def test_a_negative_window_overlapping_a_chip_peak_is_dropped():
    """A DNase peak beside a ChIP peak (no overlap) once gave a negative window holding the
    ChIP summit; it is dropped and counted now."""
    chip = intervals([("chr1", 10_000, 10_400, 10)])  # summit 10_010
    dnase = intervals([("chr1", 9_900, 10_000, 50), ("chr1", 50_000, 50_100, 50)])  # the first window: 9_850-10_050
    windows = encode.chipseq_windows(chip, dnase, {"chr1": 100_000}, 200)
    assert windows.dropped["negative_overlapping_chip"] == 1
    negatives = windows.take(np.flatnonzero(windows.label == 0))
    assert negatives.start.tolist() == [49_950]
    assert not overlaps_any(intervals([(c, s, e, -1) for c, s, e in zip(negatives.chrom, negatives.start,
                                                                           negatives.end)]), chip).any()


def holdout(test=("chr3",), validation=("chr2",), name="holdout", **options):
    return encode_chipseq.EncodeChipseqConfig(name=name, factor="ctcf", test_chromosomes=test,
                                              validation_chromosomes=validation, **options)


def test_a_build_is_reused_only_from_the_same_config_inputs_and_version(tmp_path):
    """A finished dataset was reused whatever made it (TFDS skips a prepared folder): a held-out
    config rebuilt under its name with another test chromosome kept the old split. Now it is
    reused only when config fields, input files (relative to the manual folder) and version
    match; otherwise an error names the difference before any work. A custom config built so
    loads by name."""
    manual, data = copy_dummy(tmp_path), tmp_path / "data"
    builder, reused = build.prepare_dataset("encode_chipseq", data, manual, config=holdout())
    assert not reused and builder.info.metadata["fingerprint"]["generation"] == str(encode_chipseq.Builder.VERSION)
    moved = tmp_path / "moved"
    shutil.copytree(manual, moved)  # the same files (sizes and times) in another folder
    assert build.prepare_dataset("encode_chipseq", data, moved, config=holdout())[1]
    with pytest.raises(ValueError, match=r"encode_chipseq/holdout/2.0.0 holds a dataset built otherwise: config field "
                                         r'test_chromosomes \["chr3"\] -> \["chr1"\]; build into another --data-dir or '
                                         r"delete .*holdout/2.0.0 to rebuild it"):
        build.build_dataset("encode_chipseq", data, manual, config=holdout(test=("chr1",)))
    peaks = manual / "chip" / "ctcf" / "ctcf_peaks.narrowPeak"
    os.utime(peaks, ns=(peaks.stat().st_atime_ns, peaks.stat().st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match=r"input files changed \(chip/ctcf/ctcf_peaks.narrowPeak modified\)"):
        build.build_dataset("encode_chipseq", data, manual, config=holdout())
    loaded = splits.prepared_builder("encode_chipseq/holdout", str(data))
    test = tfds.as_numpy(loaded.as_dataset(split="test", batch_size=-1))
    assert set(test["chrom"]) == {b"chr3"} and len(test["label"]) == loaded.info.splits["test"].num_examples > 0
    assert splits.load_splits("encode_chipseq/holdout", str(data))[0][0].shape[1:] == (200, 4)


def test_a_rebuild_from_changed_inputs_is_refused(tmp_path):
    """The same command after a peak file changed once reused the old dataset silently."""
    manual = copy_dummy(tmp_path)
    build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=manual)
    build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=manual)  # unchanged: reused
    with open(manual / "dnase" / "dnase_peaks.narrowPeak", "a") as f:
        f.write("chr1\t5000\t5100\n")
    with pytest.raises(ValueError, match=r"ctcf/2.0.0 holds a dataset built otherwise: input files changed "
                                         r"\(dnase/dnase_peaks.narrowPeak modified\)"):
        build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=manual)


def test_a_custom_config_built_with_tfds_loads_by_name(tmp_path):
    """Custom configs (held-out chromosomes, other windows) once could not be loaded by
    train/evaluate/reproduce/attribute (tfds:) input: their names are not registered."""
    build_tiny(tmp_path, "skip")
    train, validation, test = splits.load_splits("encode_chipseq/tiny_skip", str(tmp_path / "data"))
    assert train[0].shape[1:] == (20, 4) and len(train[0]) + len(validation[0]) + len(test[0]) == 6


def test_held_out_chromosomes_are_checked_before_any_example_is_written(tmp_path, peaks):
    """A name not in the genome ("3" for "chr3") once failed in TFDS after train was written; a
    chromosome in both lists silently left validation empty."""
    manual = copy_dummy(tmp_path)
    with pytest.raises(ValueError, match=r"test chromosome '3' is not in the genome FASTA \(whose chromosomes are "
                                         r"named chr1, chr2, chr3\)"):
        build.build_dataset("encode_chipseq", tmp_path / "data", manual, config=holdout(test=("3",)))
    assert not list((tmp_path / "data").rglob("*.tfrecord*"))
    chip, dnase, sizes = peaks
    windows = encode.chipseq_windows(chip, dnase, sizes)
    with pytest.raises(ValueError, match="chromosome chr2 is in both validation_chromosomes and test_chromosomes"):
        encode.split_windows(windows, validation_chromosomes=["chr2"], test_chromosomes=["chr2", "chr3"])
    with pytest.raises(ValueError, match="test chromosome 'chr3' has no windows"):
        encode.split_windows(windows.take(np.flatnonzero(windows.chrom != "chr3")), test_chromosomes=["chr3"],
                             genome_chromosomes=list(sizes))
    with pytest.raises(ValueError, match="the train split would be empty"):
        encode.split_windows(windows, validation_chromosomes=["chr1"], test_chromosomes=["chr2", "chr3"])
    with pytest.raises(ValueError, match="the validation split would be empty"):
        encode.split_windows(windows, fractions=(0.8, 0.0, 0.2))


def test_config_values_are_checked():
    for fractions in [(0.8, 0.2), (0.6, 0.1, 0.1, 0.2), (1.2, -0.1, -0.1), (0.5, 0.1, 0.1)]:
        with pytest.raises(ValueError, match="split_fractions must be three non-negative fractions"):
            encode_chipseq.EncodeChipseqConfig(name="bad", split_fractions=fractions)
    with pytest.raises(ValueError, match=r"n_policy must be one of \('uniform', 'drop'\), got 'keep'"):
        encode_chipseq.EncodeChipseqConfig(name="bad", n_policy="keep")
    for window in (0, -200, 2.5):
        with pytest.raises(ValueError, match="window must be a positive number of nt"):
            encode_chipseq.EncodeChipseqConfig(name="bad", window=window)
    with pytest.raises(ValueError, match=r"test_chromosomes must be a sequence of chromosome names, e.g. \('chr8',\)"):
        encode_chipseq.EncodeChipseqConfig(name="bad", test_chromosomes="chr8")


@pytest.mark.parametrize("out_of_bounds", ["skip", "pad", "error"])
def test_a_peak_past_its_chromosome_end_is_an_error_in_every_policy(tmp_path, out_of_bounds):
    """Peaks of another assembly: one past chr2's end (600 nt) once became an all-N positive
    with out_of_bounds="pad"."""
    manual, _ = tiny_manual(tmp_path)
    with open(manual / "chip" / "ctcf" / "peaks.bed", "a") as f:
        f.write("chr2\t5000\t5300\n")
    with pytest.raises(ValueError, match=r"peaks.bed, line 6: the peak chr2:5000-5300 lies past the end of chr2 "
                                         r"\(length 600 in the genome FASTA .*genome.fa; 1 peaks affected\); use the "
                                         r"genome assembly the peaks were called on"):
        build_tiny(tmp_path, out_of_bounds, manual=(manual, None))


def test_n_policy_drop_drops_windows_with_n_before_balancing(tmp_path):
    """Windows with N were once dropped after balancing (classes unbalanced) and not counted."""
    manual, genome = tiny_manual(tmp_path)
    chr1 = genome["chr1"][:115] + "N" + genome["chr1"][116:515] + "N" + genome["chr1"][516:]  # in 110-130 and 510-530
    (manual / "genome.fa").write_text(f">chr1\n{chr1}\n>chr2\n{genome['chr2']}\n")
    builder, examples, _ = build_tiny(tmp_path, "skip", manual=(manual, None), n_policy="drop",
                                      split_fractions=(0.5, 0.25, 0.25))  # 4 windows: 2, 1, 1
    dropped = builder.info.metadata["dropped"]
    assert dropped["positive_with_n"] == 1 and dropped["negative_with_n"] == 1
    assert dropped["negative_downsampled"] == 2  # 4 negatives left for 2 positives
    labels = [int(e["label"]) for e in examples.values()]
    assert sorted(labels) == [0, 0, 1, 1] and ("chr1", 110) not in examples and ("chr1", 510) not in examples


def test_a_missing_or_empty_manual_folder_is_a_one_line_error(tmp_path):
    """--manual-dir missing: reported before TensorFlow loads (once a truncated TFDS message
    after it); an empty one names the layout expected."""
    import keras_simplex_cli

    missing = tmp_path / "nope"
    args = keras_simplex_cli.parser().parse_args(["build-dataset", "encode_chipseq/ctcf", "--data-dir", str(tmp_path),
                                                  "--manual-dir", str(missing)])
    assert keras_simplex_cli.early_mistake(args) == f"manual folder not found: {missing}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"^the manual folder .*empty is empty: it must hold genome.fa \(the "
                                                r"genome FASTA\), dnase/ \(DNase-seq peak files\) and chip/<factor>/ "
                                                r"\(ChIP-seq peak files\)[^\n]*$"):
        build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=tmp_path / "empty")
