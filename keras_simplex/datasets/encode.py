"""ENCODE ChIP-seq classification data: windows, labels and splits from peak files.

Positives are ``window``-nt windows centred on ChIP-seq peak summits (midpoints when a file
has no summit column); negatives are DNase-seq peaks of the same cell type that overlap no
ChIP-seq peak, centred the same way, whose windows overlap no ChIP-seq peak either. Windows past
a chromosome start or end are skipped (counted), padded with N or an error (``out_of_bounds``).
The larger class is randomly down-sampled to the size of the smaller one. The random split keeps
overlapping windows in one split. Sequences are read window by window from an indexed FASTA
(pyfaidx), so the genome is never held in memory.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import Any, Iterator, Sequence

import numpy as np
from absl import logging

from keras_simplex.datasets.intervals import Intervals, centered_windows, overlap_groups, overlaps_any, read_bed
from keras_simplex.datasets.splits import random_split
from keras_simplex.encoding import one_hot_encode
from keras_simplex.extras import require

PEAK_PATTERNS = ("*.bed", "*.bed.gz", "*.narrowPeak", "*.narrowPeak.gz")
GENOME_PATTERNS = ("*.fa", "*.fa.gz", "*.fasta", "*.fasta.gz", "*.fna", "*.fna.gz")
N_POLICIES = ("uniform", "drop")
OUT_OF_BOUNDS = ("skip", "pad", "error")  # policies for windows past a chromosome start or end
MANUAL_LAYOUT = "genome.fa (the genome FASTA), dnase/ (DNase-seq peak files) and chip/<factor>/ (ChIP-seq peak files)"
_UNKNOWN_LETTER = re.compile("[^ACGT]")


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


def manual_files(folder: str | os.PathLike, factor: str) -> tuple[str, list[str], list[str]]:
    """The genome FASTA, the DNase-seq peak files and the ChIP-seq peak files of ``factor`` in
    the manual folder ``folder`` (``MANUAL_LAYOUT``); a one-line error naming that layout when
    the folder is missing or empty."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder) or not os.listdir(folder):
        raise FileNotFoundError(f"the manual folder {folder} {'is empty' if os.path.isdir(folder) else 'does not exist'}"
                                f": it must hold {MANUAL_LAYOUT} (see encode_chipseq.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS)")
    return (find_genome(folder), peak_files(os.path.join(folder, "dnase")),
            peak_files(os.path.join(folder, "chip", factor)))


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


def check_n_policy(policy: str) -> str:
    """``policy`` if it is one of ``N_POLICIES``; otherwise a clear ``ValueError``."""
    if policy not in N_POLICIES:
        raise ValueError(f"n_policy must be one of {N_POLICIES}, got {policy!r}")
    return policy


def has_unknown_letters(sequence: str) -> bool:
    """Does the (upper-case) ``sequence`` hold a letter other than A, C, G, T (N, IUPAC codes)?"""
    return _UNKNOWN_LETTER.search(sequence) is not None


def windows_with_n(genome: Any, chrom: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: does each window ``chrom:[start, end)`` of an open genome (``open_genome``)
    hold a letter other than A, C, G, T? Padding past a chromosome start or end counts as N."""
    return np.array([has_unknown_letters(read_window(genome, c, s, e, pad=True)) for c, s, e in zip(chrom, start, end)],
                    bool)


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
    """Raise naming the file and line of the first peak on a chromosome missing from the genome
    ``sizes`` (chromosome -> length in nt), or of the first peak whose own interval runs past
    its chromosome's start or end (the peaks were called on another assembly), whatever the
    ``out_of_bounds`` policy (which is for windows made longer than their peak)."""
    missing = np.flatnonzero(~np.isin(peaks.chrom, list(sizes)))
    if len(missing):
        i = missing[0]
        raise ValueError(
            f"{peaks.source[i]}, line {peaks.line[i]}: chromosome {peaks.chrom[i]!r} is not in the genome FASTA "
            f"{genome} ({len(missing)} peaks affected); use the genome assembly the peaks were called on"
        )
    outside = np.flatnonzero(outside_chromosome(peaks.chrom, peaks.start, peaks.end, sizes))
    if len(outside):
        i = outside[0]
        raise ValueError(
            f"{peaks.source[i]}, line {peaks.line[i]}: the peak {peaks.chrom[i]}:{peaks.start[i]}-{peaks.end[i]} lies "
            f"past the {'start' if peaks.start[i] < 0 else 'end'} of {peaks.chrom[i]} (length {sizes[peaks.chrom[i]]} "
            f"in the genome FASTA {genome}; {len(outside)} peaks affected); use the genome assembly the peaks were "
            f"called on"
        )


def chipseq_windows(
    chip: Intervals,
    dnase: Intervals,
    chrom_sizes: dict[str, int],
    window: int = 200,
    seed: int = 0,
    out_of_bounds: str = "skip",
    n_policy: str = "uniform",
    genome: Any = None,
) -> Windows:
    """Balanced positive (ChIP) and negative (DNase, no ChIP overlap) windows.

    Args:
      chip, dnase: the peaks (``read_peaks``); every one on a chromosome of ``chrom_sizes``
        (chromosome -> length in nt) and inside it (``check_chromosomes``).
      window: window length in nt, centred on each summit (midpoint without one).
      seed: seed of the down-sampling.
      out_of_bounds: windows reaching past a chromosome start or end: ``"skip"`` drops them
        before balancing, counted in ``dropped`` (``*_past_chromosome_end``) and logged;
        ``"pad"`` keeps them (``window_examples(..., out_of_bounds="pad")`` pads them with N);
        ``"error"`` raises naming the first one's peak file and line.
      n_policy: ``"drop"`` reads each window from ``genome`` (an open ``open_genome``, needed
        then) and drops those holding N or another non-ACGT letter (padding included) before
        balancing, counted in ``dropped`` (``positive_with_n`` / ``negative_with_n``);
        ``"uniform"`` keeps them.

    A DNase peak is no negative when it or its window overlaps a ChIP-seq peak (counted in
    ``dropped["negative_overlapping_chip"]``). Duplicate windows of a class (replicate peak
    files) and the down-sampled surplus are counted in ``dropped`` too.
    """
    check_out_of_bounds(out_of_bounds)
    if check_n_policy(n_policy) == "drop" and genome is None:
        raise ValueError("n_policy='drop' needs the genome (genome=open_genome(...)) to find the windows with N")
    dropped: dict[str, int] = {}
    classes = []
    for label, peaks in ((1, chip), (0, dnase)):
        name = "positive" if label else "negative"
        start, end = centered_windows(peaks, window)
        if not label:  # the peak or its window near a ChIP-seq peak: no negative
            near = overlaps_any(peaks, chip) | overlaps_any(dataclasses.replace(peaks, start=start, end=end), chip)
            dropped["negative_overlapping_chip"] = int(near.sum())
            peaks, start, end = peaks.take(np.flatnonzero(~near)), start[~near], end[~near]
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
        dropped[f"{name}_past_chromosome_end"] = int((~inside).sum())
        chrom, start, end = peaks.chrom[inside], start[inside], end[inside]
        keys = np.char.add(chrom.astype(str), np.char.add(":", start.astype(str)))
        _, unique = np.unique(keys, return_index=True)
        dropped[f"{name}_duplicates"] = len(keys) - len(unique)
        unique = np.sort(unique)
        if n_policy == "drop":
            with_n = windows_with_n(genome, chrom[unique], start[unique], end[unique])
            dropped[f"{name}_with_n"] = int(with_n.sum())
            unique = unique[~with_n]
        classes.append(Windows(chrom[unique], start[unique], end[unique], np.full(len(unique), label, np.int64)))
    rng = np.random.default_rng(seed)
    keep = min(len(c) for c in classes)
    if keep == 0:
        raise ValueError(f"no {'positive' if not len(classes[0]) else 'negative'} windows left after filtering "
                         f"(dropped: {dropped})")
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
    genome_chromosomes: Sequence[str] | None = None,
) -> dict[str, Windows]:
    """Train/validation/test split, random or by held-out chromosomes when any are given (then
    every other chromosome is training data).

    The random split takes whole groups of overlapping windows (any label; e.g. the windows of
    replicate summits a few nt apart; ``intervals.overlap_groups``) in a random order drawn
    from ``seed`` (``splits.random_split``): no window of one split overlaps a window of
    another, and ``fractions`` hold by window counts up to one group's size.

    Raises ``ValueError`` (before any example is written) when a held-out chromosome is not in
    ``genome_chromosomes`` (when given) or has no windows, when a chromosome is in both lists,
    or when a split would be empty.
    """
    if validation_chromosomes or test_chromosomes:
        check_held_out(windows, validation_chromosomes, test_chromosomes, genome_chromosomes)
        test = np.isin(windows.chrom, list(test_chromosomes))
        validation = np.isin(windows.chrom, list(validation_chromosomes))
        masks = {"train": ~(test | validation), "validation": validation, "test": test}
        parts = {name: np.flatnonzero(mask) for name, mask in masks.items()}
        how = "by held-out chromosomes"
    else:
        groups = overlap_groups(windows.chrom, windows.start, windows.end)
        parts = random_split(np.random.default_rng(seed), groups, fractions)
        how = f"at random by split_fractions {tuple(fractions)} in {len(np.unique(groups))} groups of overlapping windows"
    empty = [name for name, part in parts.items() if not len(part)]
    if empty:
        raise ValueError(f"the {' and '.join(empty)} split would be empty ({len(windows)} windows split {how}); use "
                         f"more peaks, other split_fractions or other held-out chromosomes")
    return {name: windows.take(part) for name, part in parts.items()}


def check_held_out(
    windows: Windows,
    validation_chromosomes: Sequence[str],
    test_chromosomes: Sequence[str],
    genome_chromosomes: Sequence[str] | None = None,
) -> None:
    """Raise a clear ``ValueError`` when a held-out chromosome is in both lists, is not in
    ``genome_chromosomes`` (when given; e.g. ``"2"`` for ``"chr2"``) or has no windows."""
    both = sorted(set(validation_chromosomes) & set(test_chromosomes))
    if both:
        raise ValueError(f"chromosome {', '.join(both)} is in both validation_chromosomes and test_chromosomes; hold "
                         f"each chromosome out for one split only")
    with_windows = set(windows.chrom)
    for kind, names in (("validation", validation_chromosomes), ("test", test_chromosomes)):
        for name in names:
            if genome_chromosomes is not None and name not in genome_chromosomes:
                known = list(genome_chromosomes)
                raise ValueError(f"{kind} chromosome {name!r} is not in the genome FASTA (whose chromosomes are named "
                                 f"{', '.join(known[:3])}{', ...' if len(known) > 3 else ''})")
            if name not in with_windows:
                raise ValueError(f"{kind} chromosome {name!r} has no windows (no peak on it is left after filtering); "
                                 f"hold out chromosomes with peaks")


def window_examples(
    genome_path: str, windows: Windows, n_policy: str = "uniform", out_of_bounds: str = "skip"
) -> Iterator[tuple[str, dict]]:
    """Stream ``(key, example)`` pairs, reading each window from the indexed FASTA.

    ``n_policy``: ``"uniform"`` encodes N (and other non-ACGT letters) as 0.25 everywhere;
    ``"drop"`` skips windows that contain any (padded windows too; ``chipseq_windows(...,
    n_policy="drop")`` leaves none, having dropped and counted them before balancing).
    ``out_of_bounds``: ``"pad"`` reads windows past a chromosome start or end clipped and padded
    with N; otherwise such a window (``chipseq_windows`` leaves none) is an error.
    """
    check_n_policy(n_policy)
    pad = check_out_of_bounds(out_of_bounds) == "pad"
    genome = open_genome(genome_path)
    for chrom, start, end, label in zip(windows.chrom, windows.start, windows.end, windows.label):
        sequence = read_window(genome, chrom, start, end, pad=pad)
        if n_policy == "drop" and has_unknown_letters(sequence):
            continue
        yield f"{chrom}:{start}-{end}", {
            "sequence": one_hot_encode(sequence)[0],
            "label": int(label),
            "chrom": chrom,
            "start": int(start),
            "end": int(end),
        }
