"""Genomic intervals: BED/narrowPeak parsing, overlap tests and fixed-width windows.

Coordinates are 0-based, half-open ``[start, end)`` as in BED. Two intervals overlap when
they share at least one base.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from typing import Iterator

import numpy as np


NARROWPEAK_COLUMNS = 10


@dataclasses.dataclass
class Intervals:
    """Intervals on chromosomes (parallel arrays).

    Attributes:
      chrom: ``(n,)`` chromosome names.
      start, end: ``(n,)`` int64 coordinates, 0-based half-open.
      summit: ``(n,)`` int64 summit offset from ``start`` (narrowPeak column 10), -1 if none.
      source: ``(n,)`` the file each interval was read from.
      line: ``(n,)`` its 1-based line number there.
      strand: ``(n,)`` ``"+"``, ``"-"`` or ``"."`` (BED column 6; ``"."`` when absent).
      name: ``(n,)`` the BED name (column 4; ``"."`` when absent).
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    summit: np.ndarray
    source: np.ndarray
    line: np.ndarray
    strand: np.ndarray | None = None  # None: "." everywhere
    name: np.ndarray | None = None  # None: "." everywhere

    def __post_init__(self) -> None:
        for field in ("strand", "name"):
            if getattr(self, field) is None:
                setattr(self, field, np.full(len(self.start), ".", dtype=object))

    def __len__(self) -> int:
        return len(self.start)

    def take(self, index: np.ndarray) -> "Intervals":
        return Intervals(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)))

    @staticmethod
    def concatenate(parts: list["Intervals"]) -> "Intervals":
        return Intervals(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Intervals)))


def file_lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line of a plain or gzipped text file (1-based). Raises
    ValueError naming the file for a truncated or corrupt gzip file and naming the line for one
    that is not UTF-8."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(f"{path}, line {number}: not UTF-8 text (byte {raw[error.start]:#04x})") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: a truncated or corrupt gzip file ({error})") from None


def read_bed(path: str | os.PathLike) -> Intervals:
    """Read a BED or narrowPeak file (plain or gzipped).

    The summit (column 10) is read from narrowPeak lines only, which have exactly 10 columns:
    the 10th column of BED12 or gappedPeak lines (the block count) is never taken for one.

    Header lines (``track``, ``browser``, ``#``) and blank lines are skipped. Raises
    ``ValueError`` naming the file and line for malformed lines, and for a file without
    intervals.
    """
    path = os.fspath(path)
    chroms, starts, ends, summits, lines, strands, names = [], [], [], [], [], [], []
    for number, text in file_lines(path):
        if not text.strip() or text.startswith(("#", "track", "browser")):
            continue
        fields = text.rstrip().split("\t")  # trailing tabs and spaces (and CR) are no columns
        try:
            if len(fields) < 3:
                raise ValueError(f"expected at least 3 tab-separated columns, got {len(fields)}")
            start, end = int(fields[1]), int(fields[2])
            if start < 0 or end <= start:
                raise ValueError(f"invalid interval [{start}, {end})")
            summit = int(fields[9]) if len(fields) == NARROWPEAK_COLUMNS else -1
            if summit >= end - start:
                raise ValueError(f"summit offset {summit} outside the peak of width {end - start}")
            strand = fields[5] if len(fields) >= 6 else "."
            if strand not in ("+", "-", "."):
                raise ValueError(f"strand (column 6) must be +, - or ., got {strand!r}")
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: malformed BED line ({error}): {text.strip()[:80]!r}") from None
        chroms.append(fields[0])
        starts.append(start)
        ends.append(end)
        summits.append(summit)
        lines.append(number)
        strands.append(strand)
        names.append(fields[3] if len(fields) >= 4 else ".")
    if not starts:
        raise ValueError(f"{path}: no intervals (empty peak file)")
    return Intervals(
        np.array(chroms, dtype=object), np.array(starts, np.int64), np.array(ends, np.int64),
        np.array(summits, np.int64), np.full(len(starts), path, dtype=object), np.array(lines, np.int64),
        np.array(strands, dtype=object), np.array(names, dtype=object),
    )


def overlaps_any(query: Intervals, reference: Intervals) -> np.ndarray:
    """``(n,)`` bool: does each query interval overlap at least one reference interval?

    Per chromosome, the reference is sorted by start with a running maximum of ends; a query
    ``[s, e)`` overlaps iff some reference with start < e has end > s. O((n + m) log m).
    """
    result = np.zeros(len(query), dtype=bool)
    for chrom in np.unique(query.chrom):
        on_query = np.flatnonzero(query.chrom == chrom)
        on_reference = reference.chrom == chrom
        if not on_reference.any():
            continue
        order = np.argsort(reference.start[on_reference], kind="stable")
        starts = reference.start[on_reference][order]
        max_end = np.maximum.accumulate(reference.end[on_reference][order])
        before = np.searchsorted(starts, query.end[on_query], side="left")  # references starting before e
        hit = before > 0
        result[on_query[hit]] = max_end[before[hit] - 1] > query.start[on_query][hit]
    return result


def centered_windows(intervals: Intervals, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` of ``width``-long windows centred on each summit (or midpoint if none)."""
    center = np.where(intervals.summit >= 0, intervals.start + intervals.summit, (intervals.start + intervals.end) // 2)
    start = center - width // 2
    return start, start + width


def overlap_groups(chrom: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``(n,)`` int64 group of each interval ``[start, end)``: the connected groups of
    overlapping intervals (two intervals in one group are linked by a chain of overlapping
    ones; touching ones do not overlap), numbered 0, 1, ... along each chromosome in turn.

    Per chromosome, intervals sorted by start open a new group when they start at or after the
    running maximum of the ends before them. O(n log n).
    """
    chrom, start, end = np.asarray(chrom).astype(str), np.asarray(start), np.asarray(end)
    order = np.lexsort((start, chrom))
    chrom, start, end = chrom[order], start[order], end[order]
    new = np.ones(len(order), bool)
    for name in np.unique(chrom):
        on = np.flatnonzero(chrom == name)
        reach = np.maximum.accumulate(end[on])
        new[on[1:]] = start[on[1:]] >= reach[:-1]
    groups = np.empty(len(order), np.int64)
    groups[order] = np.cumsum(new) - 1
    return groups
