"""``encode_chipseq``: transcription-factor binding windows from ENCODE, built from files the
user downloads (manual download).

One config per factor of the paper (GM12878): positives are 200-nt windows around ChIP-seq
peak summits, negatives DNase-seq peaks of GM12878 overlapping no ChIP-seq peak, balanced by
down-sampling, split 70/10/20 at random (or by held-out chromosomes in a custom config).
Windows past a chromosome start or end are skipped by default (``out_of_bounds``; the count is
in ``info.metadata["dropped"]``), or padded with N, or an error.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
import tensorflow_datasets as tfds

from keras_simplex.datasets import encode

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
      n_policy: ``"uniform"`` encodes N as 0.25 at each letter; ``"drop"`` drops windows with N.
      out_of_bounds: windows past a chromosome start or end: ``"skip"`` drops them before
        balancing and splitting (counted in ``info.metadata["dropped"]``,
        ``positive_past_chromosome_end`` / ``negative_past_chromosome_end``, and logged);
        ``"pad"`` keeps them, read clipped and padded with N outside the chromosome (counted in
        ``info.metadata["padded"]``; the N are encoded as ``n_policy`` says, so ``"drop"``
        then drops these windows after balancing); ``"error"`` stops before any example is
        written, naming the peak file, line and window and the chromosome length.
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


class Builder(tfds.core.GeneratorBasedBuilder):
    """ENCODE ChIP-seq vs DNase-seq windows, one-hot encoded.

    Pass ``use_beam=True`` (``tfds.builder(..., use_beam=True)`` or ``build_dataset(...,
    beam_runner="DirectRunner")``) to generate with Apache Beam for genome-scale peak sets.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
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
            # "padded": windows padded with N past a chromosome start or end
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        manual = os.fspath(dl_manager.manual_dir)
        genome_path = encode.find_genome(manual)
        genome = encode.open_genome(genome_path)
        sizes = {name: len(record) for name, record in genome.items()}
        chip = encode.read_peaks(encode.peak_files(os.path.join(manual, "chip", config.factor)))
        dnase = encode.read_peaks(encode.peak_files(os.path.join(manual, "dnase")))
        for peaks in (chip, dnase):
            encode.check_chromosomes(peaks, sizes, genome_path)
        windows = encode.chipseq_windows(chip, dnase, sizes, config.window, config.seed, config.out_of_bounds)
        self.info.metadata["dropped"] = windows.dropped
        self.info.metadata["out_of_bounds"] = config.out_of_bounds
        outside = encode.outside_chromosome(windows.chrom, windows.start, windows.end, sizes)
        self.info.metadata["padded"] = int(outside.sum())  # 0 unless out_of_bounds="pad"
        splits = encode.split_windows(
            windows, config.seed, config.split_fractions, config.validation_chromosomes, config.test_chromosomes
        )
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
