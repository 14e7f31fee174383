"""``encode_chipseq``: transcription-factor binding windows from ENCODE, built from files the
user downloads (manual download).

One config per factor of the paper (GM12878): positives are 200-nt windows around ChIP-seq
peak summits, negatives DNase-seq peaks of GM12878 whose peak and window overlap no ChIP-seq
peak, balanced by down-sampling, split 70/10/20 at random keeping overlapping windows together
(or by held-out chromosomes in a custom config). Windows past a chromosome start or end are
skipped by default (``out_of_bounds``; the count is in ``info.metadata["dropped"]``), or padded
with N, or an error; a peak itself past its chromosome's end is an error (another assembly).
``info.metadata["fingerprint"]`` records the config, the input files and the builder version
(``keras_simplex.datasets.provenance``).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
import tensorflow_datasets as tfds

from keras_simplex.datasets import encode, provenance
from keras_simplex.datasets.splits import check_split_fractions

PAPER_FACTORS = ("CTCF", "MAX", "ATF2", "Arid3", "BACH1", "GABPA", "ZNF24", "ELK1", "SRF", "REST")

_INSTRUCTIONS = """\
Place these files in the manual directory (`--manual-dir`, default `<data_dir>/downloads/manual`):

  genome.fa (or .fa.gz bgzipped, with its .fai/.gzi index)  the genome assembly the peaks were
      called on (GRCh38 or hg19, e.g. the ENCODE reference FASTA); pyfaidx indexes a plain FASTA
      on first use if the folder is writable.
  dnase/<file>.bed.gz                 GM12878 DNase-seq peaks: ENCODE file ENCFF235KUD.
  chip/<factor>/<file>.bed.gz         ChIP-seq peaks of each factor in GM12878 (narrowPeak, IDR
      thresholded or conservative peaks; several files, e.g. replicates, are merged).

<factor> is the config name in lower case: ctcf, max, atf2, arid3, bach1, gabpa, znf24, elk1,
srf, rest. The paper's Table 1 lists the ENCODE accessions of the ChIP-seq files, but they are
not recorded in this package: look them up on the ENCODE portal (biosample GM12878, assay TF
ChIP-seq, target <factor>, output type "IDR thresholded peaks", the assembly of your genome).
Example: REST in GM12878 has the peak file ENCFF262MRD (used by the Koo lab's preprocessing
scripts; not verified to be the paper's).
"""


@dataclasses.dataclass
class EncodeChipseqConfig(tfds.core.BuilderConfig):
    """Which factor and how windows are made and split.

    Attributes:
      factor: sub-folder of ``chip/`` holding the factor's peak files.
      window: window length in nt.
      seed: seed of down-sampling and of the random split.
      split_fractions: train/validation/test fractions of the random split.
      validation_chromosomes, test_chromosomes: hold out these chromosomes instead (every
        other chromosome is training data).
      n_policy: ``"uniform"`` encodes N as 0.25 at each letter; ``"drop"`` drops windows with N
        (or another non-ACGT letter) before balancing, counted in ``info.metadata["dropped"]``
        (``positive_with_n`` / ``negative_with_n``).
      out_of_bounds: windows past a chromosome start or end: ``"skip"`` drops them before
        balancing and splitting (counted in ``info.metadata["dropped"]``,
        ``positive_past_chromosome_end`` / ``negative_past_chromosome_end``, and logged);
        ``"pad"`` keeps them, read clipped and padded with N outside the chromosome (counted in
        ``info.metadata["padded"]``; the N are encoded as ``n_policy`` says, so ``"drop"``
        drops these windows too, before balancing); ``"error"`` stops before any example is
        written, naming the peak file, line and window and the chromosome length.

    Held-out chromosomes are checked before any example is written: each is in the genome
    and has windows, none is in both lists, and no split is empty.
    """

    factor: str = "ctcf"
    window: int = 200
    seed: int = 0
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    validation_chromosomes: tuple[str, ...] = ()
    test_chromosomes: tuple[str, ...] = ()
    n_policy: str = "uniform"
    out_of_bounds: str = "skip"

    def __post_init__(self):
        encode.check_out_of_bounds(self.out_of_bounds)
        encode.check_n_policy(self.n_policy)
        self.split_fractions = check_split_fractions(self.split_fractions)
        if isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer)) or self.window <= 0:
            raise ValueError(f"window must be a positive number of nt, got {self.window!r}")
        for field in ("validation_chromosomes", "test_chromosomes"):
            names = getattr(self, field)
            if isinstance(names, str):
                raise ValueError(f"{field} must be a sequence of chromosome names, e.g. ({names!r},), got the string "
                                 f"{names!r}")
            setattr(self, field, tuple(names))


class Builder(tfds.core.GeneratorBasedBuilder):
    """ENCODE ChIP-seq vs DNase-seq windows, one-hot encoded.

    Pass ``use_beam=True`` (``tfds.builder(..., use_beam=True)`` or ``build_dataset(...,
    beam_runner="DirectRunner")``) to generate with Apache Beam for genome-scale peak sets.
    """

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "2.0.0": "Summits of narrowPeak lines ending in a tab read (were midpoints); negatives whose window overlaps a ChIP-seq "
                 "peak dropped; the random split keeps overlapping windows in one split; n_policy='drop' drops "
                 "windows with N before balancing (counted); a peak past its chromosome's end is an error; held-out "
                 "chromosomes and split fractions checked; the fingerprint of config and inputs in the metadata.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
    BUILDER_CONFIGS = [
        EncodeChipseqConfig(name=factor.lower(), factor=factor.lower(), description=f"{factor} ChIP-seq in GM12878")
        for factor in PAPER_FACTORS
    ]

    def __init__(self, *, use_beam: bool = False, **kwargs):
        self.use_beam = use_beam
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "sequence": tfds.features.Tensor(
                        shape=(self.builder_config.window, 4), dtype=np.float32, encoding="zlib"
                    ),
                    "label": tfds.features.ClassLabel(names=["dnase_only", "chip_peak"]),
                    "chrom": tfds.features.Text(),
                    "start": np.int64,
                    "end": np.int64,
                }
            ),
            supervised_keys=("sequence", "label"),
            homepage="https://www.encodeproject.org",
            # "dropped": windows dropped while building, by reason; "out_of_bounds": the policy;
            # "padded": windows padded with N past a chromosome start or end; "fingerprint":
            # what made the data (provenance)
            metadata=tfds.core.MetadataDict(),
        )

    def fingerprint(self, manual_dir: str | os.PathLike) -> dict:
        """What makes this config's data (``provenance.fingerprint``): the builder version, the
        config's fields, and the size and mtime of the genome FASTA and the peak files in
        ``manual_dir`` (a one-line error naming the layout when files are missing)."""
        genome, dnase, chip = encode.manual_files(manual_dir, self.builder_config.factor)
        inputs = provenance.input_files(manual_dir, [genome, *dnase, *chip])
        return provenance.fingerprint(self.builder_config, str(self.VERSION), inputs)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        manual = os.fspath(dl_manager.manual_dir)
        self.info.metadata["fingerprint"] = self.fingerprint(manual)  # before the files are read
        genome_path, dnase_files, chip_files = encode.manual_files(manual, config.factor)
        genome = encode.open_genome(genome_path)
        sizes = {name: len(record) for name, record in genome.items()}
        chip, dnase = encode.read_peaks(chip_files), encode.read_peaks(dnase_files)
        for peaks in (chip, dnase):
            encode.check_chromosomes(peaks, sizes, genome_path)
        windows = encode.chipseq_windows(chip, dnase, sizes, config.window, config.seed, config.out_of_bounds,
                                         config.n_policy, genome)
        self.info.metadata["dropped"] = windows.dropped
        self.info.metadata["out_of_bounds"] = config.out_of_bounds
        outside = encode.outside_chromosome(windows.chrom, windows.start, windows.end, sizes)
        self.info.metadata["padded"] = int(outside.sum())  # 0 unless out_of_bounds="pad" (and n_policy="uniform")
        splits = encode.split_windows(windows, config.seed, config.split_fractions, config.validation_chromosomes,
                                      config.test_chromosomes, genome_chromosomes=list(sizes))
        return {name: self._generate_examples(genome_path, part) for name, part in splits.items()}

    def _generate_examples(self, genome_path: str, windows: encode.Windows):
        n_policy, out_of_bounds = self.builder_config.n_policy, self.builder_config.out_of_bounds
        if not self.use_beam:
            return encode.window_examples(genome_path, windows, n_policy, out_of_bounds)
        beam = tfds.core.lazy_imports.apache_beam
        shards = np.array_split(np.arange(len(windows)), max(1, len(windows) // 1000))
        return beam.Create([windows.take(index) for index in shards if len(index)]) | beam.FlatMap(
            functools.partial(_shard_examples, genome_path=genome_path, n_policy=n_policy, out_of_bounds=out_of_bounds)
        )


def _shard_examples(windows: encode.Windows, genome_path: str, n_policy: str, out_of_bounds: str = "skip"):
    """Beam worker: the examples of one shard of windows (opens the FASTA itself)."""
    yield from encode.window_examples(genome_path, windows, n_policy, out_of_bounds)
