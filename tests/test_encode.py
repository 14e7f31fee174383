"""The encode_chipseq TFDS builder and its window logic, on the dummy data beside it."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

import keras_simplex.datasets  # noqa: F401
from keras_simplex.datasets import build, encode, encode_chipseq
from keras_simplex.datasets.intervals import overlaps_any

DUMMY = pathlib.Path(encode_chipseq.__file__).parent / "dummy_data"


class EncodeChipseqTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = encode_chipseq.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["ctcf"]
    SPLITS = {"train": 20, "validation": 2, "test": 6}


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


def build_tiny(tmp_path, out_of_bounds, **options):
    config = encode_chipseq.EncodeChipseqConfig(
        name=f"tiny_{out_of_bounds}", factor="ctcf", window=20, out_of_bounds=out_of_bounds, **options)
    manual, genome = tiny_manual(tmp_path)
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
