"""Per-base contribution scores of genomic windows as bigWig tracks, for genome browsers.

``write_bigwig`` (``write_bigwigs`` for several tracks of the same windows) combines the scores of (possibly overlapping) windows into one value per
covered base and writes them, atomically, with ``pybigtools``; ``window_coordinates`` recovers
the windows' coordinates from the names the package gives BED windows (``chrom:start-end``,
``chrom:start-end(-)``).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator, Sequence

import numpy as np

from keras_simplex.atomic import atomic_output
from keras_simplex.extras import require

OVERLAPS = ("mean", "max")  # rules for bases covered by several windows
SUFFIXES = (".bw", ".bigWig", ".bigwig")  # the only names pybigtools writes a bigWig to (case-sensitive)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_WINDOW_NAME = re.compile(r"(?P<chrom>.+):(?P<start>-?\d+)-(?P<end>-?\d+)(?P<reverse>\(-\))?")

Entry = tuple[str, int, int, float]  # (chrom, start, end, value): one bedGraph run, 0-based, end exclusive


def write_bigwig(path: str, chroms: Sequence[str], starts: np.ndarray, scores: np.ndarray,
                 chrom_sizes: dict[str, int], overlap: str = "mean") -> None:
    """Write per-base ``scores`` of genomic windows to the bigWig file ``path``.

    Window ``i`` covers ``[starts[i], starts[i] + L)`` on ``chroms[i]`` (0-based, end exclusive,
    BED convention) and ``scores[i, j]`` is the value at base ``starts[i] + j``, in the scores'
    own units (a contribution score per base). Reverse-complemented windows must be flipped to
    the genome's orientation first (``scores[i, ::-1]``; see ``window_coordinates``).

    Args:
        path: output file; must end in ``.bw``, ``.bigWig`` or ``.bigwig``. Written atomically:
            it appears complete or not at all, and a previous file there survives any error.
        chroms: ``(N,)`` chromosome of each window; every one must be a key of ``chrom_sizes``.
        starts: ``(N,)`` integer start of each window. Windows partly past either chromosome
            end (padded with N: ``start < 0`` or ``start + L > size``) are clipped to
            ``[0, size)``; their values outside are dropped.
        scores: ``(N, L)`` finite per-base values (bigWig stores them as float32, so they must
            lie within float32's range).
        chrom_sizes: chromosome name -> length in bases.
        overlap: value at a base covered by several windows: ``"mean"``, the mean of the
            windows' values there; ``"max"``, the value of largest magnitude, i.e. the largest
            by ``(abs(value), value)`` (between ``v`` and ``-v`` the positive ``v`` wins), so the
            result does not depend on the windows' order.

    Bases covered by no window get no entry (browsers show a gap, not a zero). Consecutive
    bases with equal (float32) values are stored as one run. Memory: per group of overlapping
    or touching windows, one float64 and one count array over the group's span.

    Raises:
        ValueError: bad ``overlap`` or suffix, mismatched lengths, ``scores`` not 2-D, a
            non-finite score (naming its window and position), a chromosome missing from
            ``chrom_sizes`` (naming it), or no window overlapping its chromosome (a bigWig
            cannot be empty).
        RuntimeError: pybigtools failed to write, e.g. on a full disk (it prints its reason).
    """
    write_bigwigs({path: scores}, chroms, starts, chrom_sizes, overlap)


def write_bigwigs(tracks: dict[str, np.ndarray], chroms: Sequence[str], starts: np.ndarray,
                  chrom_sizes: dict[str, int], overlap: str = "mean",
                  renames: contextlib.ExitStack | None = None) -> None:
    """Several tracks of the same windows (e.g. one per target), all of them or none: each
    ``{path: (N, L) scores}`` is checked, then written to its temporary, and the temporaries
    are renamed into place once all are written: when this returns, or, given ``renames``,
    when that stack closes without an error (so that other outputs written meanwhile are
    renamed together with them). Arguments and errors as ``write_bigwig``'s."""
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
    if not tracks:
        raise ValueError("no track to write")
    for path in tracks:
        if not os.fspath(path).endswith(SUFFIXES):
            raise ValueError(f"a bigWig path must end in one of {SUFFIXES} (pybigtools requires it), got {path}")
    if len({np.shape(scores) for scores in tracks.values()}) > 1:
        raise ValueError(f"the tracks of the same windows need scores of one shape, got "
                         f"{', '.join(f'{path} {np.shape(scores)}' for path, scores in tracks.items())}")
    checked = {path: _checked(chroms, starts, scores, chrom_sizes) for path, scores in tracks.items()}
    names, starts, scores, sizes = next(iter(checked.values()))
    ends = starts + scores.shape[1]
    lengths = np.array([sizes[name] for name in names], dtype=np.int64)
    first, last = np.maximum(starts, 0), np.minimum(ends, lengths)
    windows: dict[str, list[int]] = {}  # chromosome -> its windows that overlap it
    for row in np.flatnonzero(last > first).tolist():
        windows.setdefault(names[row], []).append(row)
    # pybigtools takes chromosomes in any order but each one's entries sorted and disjoint;
    # names are sorted anyway, as Kent's bedGraphToBigWig requires.
    written = sorted(windows)
    if not written:
        raise ValueError("no window overlaps its chromosome: nothing to write (a bigWig cannot be empty)")
    pybigtools = require("pybigtools", "tracks", "writing bigWig files")
    rows = {name: np.array(windows[name]) for name in written}
    with contextlib.ExitStack() as own:
        outputs = renames if renames is not None else own
        for path, (_, _, scores, _) in checked.items():
            temporary = outputs.enter_context(atomic_output(path))
            _write(pybigtools, temporary, {name: sizes[name] for name in written},
                   _entries(rows, starts, first, last, scores, overlap), path)
            _check_written(pybigtools, temporary, written, path)


def window_coordinates(names: Sequence[str | bytes]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Coordinates of windows named ``chrom:start-end`` or ``chrom:start-end(-)``.

    Names are parsed from the right, so chromosome names may contain ``:``; ``start`` may be
    negative (windows padded with N before a chromosome start). ``bytes`` (as h5py returns
    strings) are decoded as UTF-8.

    Returns:
        ``(chroms, starts, reverse)``: ``N`` chromosome names, ``(N,)`` int64 0-based starts and
        ``(N,)`` bool, True for ``(-)`` windows, whose sequences (and so scores) were
        reverse-complemented: flip their scores (``scores[reverse] = scores[reverse, ::-1]``)
        before ``write_bigwig``.

    Raises:
        ValueError: a name not of this form, or with ``end <= start``.
    """
    chroms: list[str] = []
    starts: list[int] = []
    reverse: list[bool] = []
    for name in names:
        text = name.decode("utf-8") if isinstance(name, bytes) else str(name)
        match = _WINDOW_NAME.fullmatch(text)
        if match is None or int(match["end"]) <= int(match["start"]):
            raise ValueError(f"window name {text!r} is not chrom:start-end or chrom:start-end(-) with start < end")
        chroms.append(match["chrom"])
        starts.append(int(match["start"]))
        reverse.append(match["reverse"] is not None)
    return chroms, np.array(starts, dtype=np.int64), np.array(reverse, dtype=bool)


def _checked(chroms: Sequence[str], starts: np.ndarray, scores: np.ndarray,
             chrom_sizes: dict[str, int]) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, int]]:
    """Validated ``(names, starts as int64, scores, sizes)`` for ``write_bigwig``."""
    names = [str(chrom) for chrom in chroms]
    starts = np.asarray(starts)
    scores = np.asarray(scores)
    if starts.ndim != 1 or not (starts.size == 0 or np.issubdtype(starts.dtype, np.integer)):
        raise ValueError(f"starts must be a 1-D integer array, got shape {starts.shape} and dtype {starts.dtype}")
    if scores.ndim != 2 or scores.dtype.kind not in "fiu":
        raise ValueError(f"scores must be a 2-D (windows, bases) numeric array, got shape {scores.shape} "
                         f"and dtype {scores.dtype}")
    if not len(names) == len(starts) == len(scores):
        raise ValueError(f"chroms, starts and scores must have one entry per window, got {len(names)}, "
                         f"{len(starts)} and {len(scores)}")
    finite = np.isfinite(scores)
    if not finite.all():
        window, base = np.argwhere(~finite)[0]
        raise ValueError(f"scores[{window}, {base}] is {scores[window, base]}: every score must be finite")
    if scores.size and max(-float(scores.min()), float(scores.max())) > _FLOAT32_MAX:
        raise ValueError("scores exceed float32's range, which bigWig stores")
    sizes = {str(name): size for name, size in chrom_sizes.items()}
    for name in dict.fromkeys(names):
        if name not in sizes:
            raise ValueError(f"chromosome {name!r} is not in chrom_sizes")
        size = sizes[name]
        if not (isinstance(size, (int, np.integer)) and 0 < size < 2**32):
            raise ValueError(f"chrom_sizes[{name!r}] must be an integer in [1, 2**32), got {size!r}")
        sizes[name] = int(size)
    return names, starts.astype(np.int64), scores, sizes


def _entries(windows: dict[str, np.ndarray], starts: np.ndarray, first: np.ndarray, last: np.ndarray,
             scores: np.ndarray, overlap: str) -> Iterator[Entry]:
    """The bedGraph runs of the windows (chromosome -> rows), chromosome by chromosome in the
    dict's order, by position within each. ``[first, last)`` is each window's part inside its
    chromosome."""
    for chrom, rows in windows.items():
        rows = rows[np.argsort(first[rows], kind="stable")]
        reach = np.maximum.accumulate(last[rows])
        # A group ends where the next window starts after every earlier one has ended.
        bounds = np.concatenate([[0], np.flatnonzero(first[rows][1:] > reach[:-1]) + 1, [len(rows)]])
        for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            origin = int(first[rows[begin]])
            values = _combine(rows[begin:end], origin, int(reach[end - 1]) - origin, starts, first, last, scores,
                              overlap)
            yield from _runs(chrom, origin, values)


def _combine(rows: np.ndarray, origin: int, span: int, starts: np.ndarray, first: np.ndarray, last: np.ndarray,
             scores: np.ndarray, overlap: str) -> np.ndarray:
    """``(span,)`` float32 value of each base of ``[origin, origin + span)``, every base covered by
    at least one of the windows ``rows``, following the ``overlap`` rule."""
    pieces = ((first[row] - origin, last[row] - origin,
               scores[row, first[row] - starts[row]: last[row] - starts[row]].astype(np.float64)) for row in rows)
    if overlap == "mean":
        total = np.zeros(span, np.float64)
        count = np.zeros(span, np.int64)
        for begin, end, values in pieces:
            total[begin:end] += values
            count[begin:end] += 1
        return (total / count).astype(np.float32)
    best = np.full(span, np.nan, np.float64)
    for begin, end, values in pieces:
        held = best[begin:end]
        wins = np.isnan(held) | (np.abs(values) > np.abs(held)) | ((np.abs(values) == np.abs(held)) & (values > held))
        held[wins] = values[wins]
    return best.astype(np.float32)


def _runs(chrom: str, origin: int, values: np.ndarray) -> Iterator[Entry]:
    """Runs of equal consecutive ``values`` (bases ``origin``, ``origin + 1``, ...) as entries."""
    changes = np.flatnonzero(values[1:] != values[:-1]) + 1
    begins = np.concatenate([[0], changes])
    ends = np.concatenate([changes, [len(values)]])
    for begin, end, value in zip((begins + origin).tolist(), (ends + origin).tolist(), values[begins].tolist()):
        yield chrom, begin, end, value


def _write(pybigtools, temporary: str, sizes: dict[str, int], entries: Iterator[Entry], path: str) -> None:
    """Write ``entries`` to the bigWig ``temporary``, raising what pybigtools would not.

    pybigtools swallows an exception of the iterator (it prints a message and ends the file):
    it is kept, Ctrl-C included, and raised once pybigtools returns. A panic of pybigtools (e.g.
    on a full disk) is a ``BaseException`` that ``except Exception`` misses: it becomes a
    RuntimeError.
    """
    failures: list[BaseException] = []

    def guarded() -> Iterator[Entry]:
        try:
            yield from entries
        except GeneratorExit:  # pybigtools dropped the iterator: not a failure of ours
            raise
        except BaseException as failure:
            failures.append(failure)
            raise

    try:
        pybigtools.open(temporary, "w").write(sizes, guarded())
    except BaseException as error:
        if not failures and type(error).__name__ != "PanicException":
            raise
        failures.append(RuntimeError(f"pybigtools failed to write {path}: {error}"))
    if failures:
        raise failures[0]


def _check_written(pybigtools, temporary: str, written: list[str], path: str) -> None:
    """Raise if the file pybigtools wrote cannot be read back with every written chromosome
    (pybigtools reports some failed writes, e.g. a full disk, by printing, not raising)."""
    try:
        with pybigtools.open(temporary) as reader:
            found = sorted(reader.chroms())
    except Exception as error:  # noqa: BLE001 - any read failure means a bad file
        raise RuntimeError(f"pybigtools failed to write {path} (its message is printed above): {error}") from None
    if found != written:
        raise RuntimeError(f"pybigtools wrote chromosomes {found} to {path}, expected {written}")
