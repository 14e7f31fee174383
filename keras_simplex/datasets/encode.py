"""ENCODE ChIP-seq classification data: windows, labels and splits from peak files.

Positives are ``window``-nt windows centred on ChIP-seq peak summits (midpoints when a file
has no summit column); negatives are DNase-seq peaks of the same cell type that overlap no
ChIP-seq peak, centred the same way. Windows past a chromosome start or end are skipped
(counted), padded with N or an error (``out_of_bounds``). The larger class is randomly
down-sampled to the size of the smaller one. Sequences are read window by window from an
indexed FASTA (pyfaidx), so the genome is never held in memory.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Iterator, Sequence

import numpy as np
from absl import logging

from keras_simplex.datasets.intervals import Intervals, centered_windows, overlaps_any, read_bed
from keras_simplex.encoding import one_hot_encode
from keras_simplex.extras import require

PEAK_PATTERNS = ("*.bed", "*.bed.gz", "*.narrowPeak", "*.narrowPeak.gz")
GENOME_PATTERNS = ("*.fa", "*.fa.gz", "*.fasta", "*.fasta.gz", "*.fna", "*.fna.gz")
N_POLICIES = ("uniform", "drop")
OUT_OF_BOUNDS = ("skip", "pad", "error")  # policies for windows past a chromosome start or end


@dataclasses.dataclass
class Windows:
    """Labelled windows (parallel arrays) and what was dropped on the way."""

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    label: np.ndarray
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.start)

    def take(self, index: np.ndarray) -> "Windows":
        return Windows(self.chrom[index], self.start[index], self.end[index], self.label[index], self.dropped)


def peak_files(folder: str | os.PathLike) -> list[str]:
    """Peak files (BED/narrowPeak, optionally gzipped) in ``folder``, sorted."""
    folder = os.fspath(folder)
    files = sorted({f for pattern in PEAK_PATTERNS for f in glob.glob(os.path.join(folder, pattern))})
    if not files:
        raise FileNotFoundError(f"no peak files ({', '.join(PEAK_PATTERNS)}) in {folder}")
    return files


def find_genome(folder: str | os.PathLike) -> str:
    """The genome FASTA in ``folder`` (exactly one expected)."""
    folder = os.fspath(folder)
    files = sorted({f for pattern in GENOME_PATTERNS for f in glob.glob(os.path.join(folder, pattern))})
    if len(files) != 1:
        raise FileNotFoundError(f"expected one genome FASTA ({', '.join(GENOME_PATTERNS)}) in {folder}, found {files}")
    return files[0]


def open_genome(path: str):
    """An indexed ``pyfaidx.Fasta`` (plain, or bgzipped with its index); clear error if unreadable.

    An index (``.fai``, and ``.gzi`` for bgzip) older than the FASTA describes another file:
    it is rebuilt when its folder is writable; otherwise this stops with an error naming both
    files, never reading windows through it.
    """
    pyfaidx = require("pyfaidx", "datasets", "reading a genome FASTA")
    stale = [index for index in (path + ".fai", path + ".gzi")
             if os.path.exists(index) and os.path.getmtime(index) < os.path.getmtime(path)]
    if stale and not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        raise ValueError(f"the index {stale[0]} is older than the genome FASTA {path} and cannot be rebuilt (the folder "
                         f"is not writable); re-index it (samtools faidx) or copy both to a writable folder")
    for index in stale:
        os.remove(index)
    try:
        return pyfaidx.Fasta(path, sequence_always_upper=True, rebuild=False)
    except Exception as error:  # pyfaidx raises several types for bad files
        raise ValueError(f"cannot read genome FASTA {path}: {error}") from None


def check_out_of_bounds(policy: str) -> str:
    """``policy`` if it is one of ``OUT_OF_BOUNDS``; otherwise a clear ``ValueError``."""
    if policy not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}, got {policy!r}")
    return policy


def outside_chromosome(chrom: np.ndarray, start: np.ndarray, end: np.ndarray, sizes: dict[str, int]) -> np.ndarray:
    """``(n,)`` bool: does each window ``[start, end)`` run past its chromosome's start (< 0) or
    end (> ``sizes[chrom]``)? Every chromosome must be in ``sizes``."""
    size = np.array([sizes[c] for c in chrom], np.int64)
    return (np.asarray(start) < 0) | (np.asarray(end) > size)


def read_window(genome, chrom: str, start: int, end: int, pad: bool = False) -> str:
    """The letters of ``chrom:start-end`` from an open genome (``open_genome``).

    A window past the chromosome's start or end is read clipped to the chromosome and padded
    with ``N`` outside it when ``pad`` (the length stays ``end - start``), and is a
    ``ValueError`` naming the window and the chromosome size otherwise. A clear error too when
    the FASTA holds fewer letters than its index says (truncated file).
    """
    start, end = int(start), int(end)
    size = len(genome[chrom])
    if (start < 0 or end > size) and not pad:
        raise ValueError(f"window {chrom}:{start}-{end} runs past the {'start' if start < 0 else 'end'} of {chrom} "
                         f"(length {size})")
    low = min(max(start, 0), size)
    high = max(min(end, size), low)
    sequence = genome[chrom][low:high].seq if high > low else ""
    if len(sequence) != high - low:
        raise ValueError(f"{genome.filename}: {chrom}:{low}-{high} has only {len(sequence)} of {high - low} "
                         f"letters; the FASTA file is truncated or does not match its index")
    return "N" * (low - start) + sequence + "N" * (end - high)


def read_peaks(files: Sequence[str]) -> Intervals:
    return Intervals.concatenate([read_bed(f) for f in files])


def check_chromosomes(peaks: Intervals, sizes: dict[str, int], genome: str) -> None:
    """Raise naming the file and line of the first peak on a chromosome missing from the genome."""
    missing = np.flatnonzero(~np.isin(peaks.chrom, list(sizes)))
    if len(missing):
        i = missing[0]
        raise ValueError(
            f"{peaks.source[i]}, line {peaks.line[i]}: chromosome {peaks.chrom[i]!r} is not in the genome FASTA "
            f"{genome} ({len(missing)} peaks affected); use the genome assembly the peaks were called on"
        )


def chipseq_windows(
    chip: Intervals,
    dnase: Intervals,
    chrom_sizes: dict[str, int],
    window: int = 200,
    seed: int = 0,
    out_of_bounds: str = "skip",
) -> Windows:
    """Balanced positive (ChIP) and negative (DNase, no ChIP overlap) windows.

    Windows reaching past a chromosome start or end follow ``out_of_bounds``: ``"skip"``
    drops them before balancing, counted in ``dropped`` (``*_past_chromosome_end``) and logged;
    ``"pad"`` keeps them (``window_examples(..., out_of_bounds="pad")`` pads them with N);
    ``"error"`` raises naming the first one's peak file and line. Duplicate positive windows
    (replicate peak files) and the down-sampled surplus are counted in ``dropped`` too.
    """
    check_out_of_bounds(out_of_bounds)
    dropped: dict[str, int] = {}
    classes = []
    for label, peaks in ((1, chip), (0, dnase.take(np.flatnonzero(~overlaps_any(dnase, chip))))):
        start, end = centered_windows(peaks, window)
        outside = outside_chromosome(peaks.chrom, start, end, chrom_sizes)
        if out_of_bounds == "error" and outside.any():
            i = np.flatnonzero(outside)[0]
            raise ValueError(
                f"{peaks.source[i]}, line {peaks.line[i]}: the {window}-nt window {peaks.chrom[i]}:{start[i]}-{end[i]} "
                f"runs past the {'start' if start[i] < 0 else 'end'} of {peaks.chrom[i]} (length "
                f"{chrom_sizes[peaks.chrom[i]]}; {int(outside.sum())} such {'ChIP-seq' if label else 'DNase-seq'} "
                f"windows); set out_of_bounds='skip' or 'pad' to go on"
            )
        inside = ~outside if out_of_bounds == "skip" else np.ones(len(start), bool)
        dropped[f"{'positive' if label else 'negative'}_past_chromosome_end"] = int((~inside).sum())
        chrom, start, end = peaks.chrom[inside], start[inside], end[inside]
        keys = np.char.add(chrom.astype(str), np.char.add(":", start.astype(str)))
        _, unique = np.unique(keys, return_index=True)
        dropped[f"{'positive' if label else 'negative'}_duplicates"] = len(keys) - len(unique)
        unique = np.sort(unique)
        classes.append(Windows(chrom[unique], start[unique], end[unique], np.full(len(unique), label, np.int64)))
    rng = np.random.default_rng(seed)
    keep = min(len(c) for c in classes)
    if keep == 0:
        raise ValueError(f"no {'positive' if not len(classes[0]) else 'negative'} windows left after filtering")
    for name, c in zip(("positive", "negative"), classes):
        dropped[f"{name}_downsampled"] = len(c) - keep
    skipped = dropped["positive_past_chromosome_end"] + dropped["negative_past_chromosome_end"]
    if skipped:
        logging.warning("skipped %d windows past a chromosome start or end (%d positive, %d negative; "
                        "out_of_bounds='skip')", skipped, dropped["positive_past_chromosome_end"],
                        dropped["negative_past_chromosome_end"])
    parts = [c.take(np.sort(rng.choice(len(c), keep, replace=False))) for c in classes]
    merged = Windows(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("chrom", "start", "end", "label")))
    merged.dropped = dropped
    return merged


def split_windows(
    windows: Windows,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    validation_chromosomes: Sequence[str] = (),
    test_chromosomes: Sequence[str] = (),
) -> dict[str, Windows]:
    """Random train/validation/test split, or by held-out chromosomes when any are given
    (then every other chromosome is training data)."""
    if validation_chromosomes or test_chromosomes:
        test = np.isin(windows.chrom, list(test_chromosomes))
        validation = np.isin(windows.chrom, list(validation_chromosomes)) & ~test
        masks = {"train": ~(test | validation), "validation": validation, "test": test}
        return {name: windows.take(np.flatnonzero(mask)) for name, mask in masks.items()}
    order = np.random.default_rng(seed).permutation(len(windows))
    bounds = np.round(np.cumsum(fractions)[:-1] * len(windows)).astype(int)
    names = ("train", "validation", "test")
    return {name: windows.take(np.sort(part)) for name, part in zip(names, np.split(order, bounds))}


def window_examples(
    genome_path: str, windows: Windows, n_policy: str = "uniform", out_of_bounds: str = "skip"
) -> Iterator[tuple[str, dict]]:
    """Stream ``(key, example)`` pairs, reading each window from the indexed FASTA.

    ``n_policy``: ``"uniform"`` encodes N (and other non-ACGT letters) as 0.25 everywhere;
    ``"drop"`` skips windows that contain any (padded windows too). ``out_of_bounds``:
    ``"pad"`` reads windows past a chromosome start or end clipped and padded with N;
    otherwise such a window (``chipseq_windows`` leaves none) is an error.
    """
    if n_policy not in N_POLICIES:
        raise ValueError(f"n_policy must be one of {N_POLICIES}, got {n_policy!r}")
    pad = check_out_of_bounds(out_of_bounds) == "pad"
    genome = open_genome(genome_path)
    for chrom, start, end, label in zip(windows.chrom, windows.start, windows.end, windows.label):
        sequence = read_window(genome, chrom, start, end, pad=pad)
        if n_policy == "drop" and set(sequence) - set("ACGT"):
            continue
        yield f"{chrom}:{start}-{end}", {
            "sequence": one_hot_encode(sequence)[0],
            "label": int(label),
            "chrom": chrom,
            "start": int(start),
            "end": int(end),
        }
