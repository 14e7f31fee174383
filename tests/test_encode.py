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
