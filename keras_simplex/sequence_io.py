"""Streaming readers and writers of sequence batches for command-line attribution.

Readers yield ``(names, x, columns)`` batches: the records' names, one-hot ``(n, L, A)``
float32 arrays and the per-record columns the input has besides (BED: ``bed_line`` and
``bed_name``; other inputs: none), never holding the whole input in memory (except NPZ, which
numpy loads whole). The HDF5 writer appends batch by batch to resizable datasets.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import os
import re
import sys
import traceback
from typing import Any, Iterator

import h5py
import numpy as np

from keras_simplex.atomic import atomic_output, check_output_folder
from keras_simplex.datasets.intervals import centered_windows, file_lines, read_bed
from keras_simplex.encoding import DNA, one_hot_encode
from keras_simplex.validation import check_layout, check_sequences

Records = tuple[int, int] | None  # a range of records [first, end); None: all
Batch = tuple[list[str], np.ndarray, dict[str, np.ndarray]]  # names, x (n, L, A), per-record columns (n,)
FASTA_SUFFIXES = tuple(stem + gz for stem in (".fa", ".fasta", ".fna") for gz in ("", ".gz"))
# True once an HDF5 file could not be closed (its writes failed: a full disk). The HDF5 library
# then crashes while the interpreter exits; the command line ends such a process with os._exit.
hdf5_left_open = False


def fasta_records(path: str, alphabet: str = DNA) -> Iterator[tuple[str, str]]:
    """``(name, sequence)`` of each record of a FASTA file (plain, gzipped or bgzipped),
    checked as it is read.

    Raises ``ValueError`` naming the file and line for a non-UTF-8 file, text
    before the first header, a record without sequence, letters outside the alphabet (and N,
    any case), or records of different lengths.
    """
    allowed = set(alphabet.upper() + alphabet.lower() + "Nn")
    expected = None  # length of the first record
    name, parts, header_line = None, [], 0

    def record() -> tuple[str, str]:
        nonlocal expected
        if not parts:
            raise ValueError(f"{path}, line {header_line}: record {name!r} has no sequence")
        sequence = "".join(parts)
        foreign = set(sequence) - allowed
        if foreign:
            raise ValueError(f"{path}, line {header_line}: record {name!r} has letters {''.join(sorted(foreign))!r} "
                             f"outside the alphabet {alphabet!r} (and N)")
        expected = len(sequence) if expected is None else expected
        if len(sequence) != expected:
            raise ValueError(f"{path}, line {header_line}: record {name!r} has length {len(sequence)}, the first "
                             f"record {expected}; all sequences must have the same length")
        return name, sequence

    for number, text in file_lines(path):  # plain or gzipped; truncated gzip and non-UTF-8 named
        line = text.strip()
        if not line:
            continue
        if line.startswith(">"):
            if name is not None:
                yield record()
            name, parts, header_line = (line[1:].split() or [f"record{number}"])[0], [], number
        elif name is None:
            raise ValueError(f"{path}, line {number}: malformed FASTA (sequence before the first '>' header)")
        else:
            parts.append(line)
    if name is None:
        raise ValueError(f"{path}: no FASTA records")
    yield record()


def read_fasta(path: str, batch_size: int, alphabet: str = DNA, records: Records = None) -> Iterator[Batch]:
    """Records of a FASTA file (``fasta_records``; ``records``: only those ``[first, end)``),
    one-hot encoded, ``batch_size`` at a time; ``N`` is encoded as 1/A at every letter."""
    first, end = records or (0, None)
    batch: list[tuple[str, str]] = []
    for index, item in enumerate(fasta_records(path, alphabet)):
        if index < first:  # skipped as text, never encoded
            continue
        if end is not None and index >= end:
            break
        batch.append(item)
        if len(batch) == batch_size:
            yield [n for n, _ in batch], one_hot_encode([q for _, q in batch], alphabet), {}
            batch = []
    if batch:
        yield [n for n, _ in batch], one_hot_encode([q for _, q in batch], alphabet), {}


_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def read_bed_windows(path: str, genome_path: str, length: int, batch_size: int, out_of_bounds: str = "skip",
                     stranded: bool = False, records: Records = None) -> tuple[Iterator[Batch], dict]:
    """``length``-nt windows centred on each BED interval's summit (narrowPeak) or midpoint,
    read from an indexed genome FASTA (plain or bgzipped), and the provenance to record.

    Every window is checked before the first is read: a chromosome missing from the genome is
    an error naming the line. Windows past a chromosome start or end follow ``out_of_bounds``:
    ``"skip"`` (counted in the provenance, ``windows_skipped``), ``"pad"`` (with N) or
    ``"error"``. With ``stranded``, windows of ``-`` strand intervals (BED column 6) are read
    reverse-complemented and named ``chrom:start-end(-)``; the summit (midpoint) is at index
    ``length // 2`` in read orientation on both strands (for an even ``length`` a ``-`` window
    starts 1 nt later than a ``+`` one). Each window's BED line number
    (1-based) and name (column 4, ``"."`` without one) are its columns ``bed_line`` and
    ``bed_name``. ``records``: only the windows ``[first, end)`` of those kept (the rows of the
    whole output).
    """
    from keras_simplex.datasets.encode import check_out_of_bounds, open_genome, outside_chromosome

    check_out_of_bounds(out_of_bounds)
    intervals = read_bed(path)
    genome = open_genome(genome_path)
    starts, ends = centered_windows(intervals, length)
    reverse = (intervals.strand == "-") & stranded
    if length % 2 == 0:  # the centre base at index length // 2 in read orientation on both strands
        starts, ends = starts + reverse, ends + reverse
    sizes = {chrom: len(genome[chrom]) for chrom in genome.keys()}
    known = np.array([chrom in sizes for chrom in intervals.chrom], bool)
    outside = np.zeros(len(starts), bool)
    outside[known] = outside_chromosome(intervals.chrom[known], starts[known], ends[known], sizes)
    for i in np.flatnonzero(~known | (outside & (out_of_bounds == "error")))[:1]:  # the first problem, in file order
        chrom = intervals.chrom[i]
        if chrom not in sizes:
            raise ValueError(f"{path}, line {intervals.line[i]}: chromosome {chrom!r} is not in {genome_path}")
        side = "start" if starts[i] < 0 else "end"
        raise ValueError(f"{path}, line {intervals.line[i]}: window {chrom}:{starts[i]}-{ends[i]} runs past the {side} "
                         f"of {chrom} (length {sizes[chrom]}; --out-of-bounds skip or pad to go on)")
    keep = ~outside if out_of_bounds == "skip" else np.ones(len(starts), bool)
    if not keep.any():
        raise ValueError(f"{path}: every window runs past a chromosome start or end")
    rows = np.flatnonzero(keep)
    provenance = {"records": len(rows), "input": os.path.abspath(path), "genome": os.path.abspath(genome_path), "out_of_bounds": out_of_bounds,
                  "windows_skipped": int(outside.sum()) if out_of_bounds == "skip" else 0,
                  "windows_padded": int(outside.sum()) if out_of_bounds == "pad" else 0, "stranded": bool(stranded)}
    rows = rows[slice(*records)] if records else rows
    columns = {"bed_line": intervals.line[rows], "bed_name": intervals.name[rows]}
    return _genome_batches(genome, intervals.chrom[rows], starts[rows], ends[rows], reverse[rows], columns,
                           batch_size), provenance


def _genome_batches(genome, chroms, starts, ends, reverse, columns: dict[str, np.ndarray],
                    batch_size: int) -> Iterator[Batch]:
    from keras_simplex.datasets.encode import read_window

    for begin in range(0, len(starts), batch_size):
        names, sequences = [], []
        for i in range(begin, min(begin + batch_size, len(starts))):
            chrom, start, end = chroms[i], int(starts[i]), int(ends[i])
            sequence = read_window(genome, chrom, start, end, pad=True)
            if reverse[i]:
                sequence = sequence.translate(_COMPLEMENT)[::-1]
            names.append(f"{chrom}:{start}-{end}" + ("(-)" if reverse[i] else ""))
            sequences.append(sequence)
        yield names, one_hot_encode(sequences), {key: value[begin : begin + len(names)] for key, value in columns.items()}


def read_arrays(path: str, key: str, batch_size: int, channels_first: bool = False,
                check_simplex: bool = True, records: Records = None, check: bool = True,
                dtype: Any = np.float32) -> Iterator[Batch]:
    """Batches of an ``(N, L, A)`` array stored under ``key`` in an HDF5 or NPZ file (or an NPY file)
    (``channels_first`` for ``(N, A, L)`` arrays such as the original HDF5 layout), as ``dtype``
    (None: float32, or float64 for an array stored in 64 bits).

    The whole array is checked before the first batch (``validation.check_sequences``, with
    the sequence's index in the file): a bad sequence late in a long file stops the run before
    any work, not after hours of it (``check=False``: already checked). ``records``: only the
    sequences ``[first, end)``, named by their index in the file.
    """
    _checked_count(path, key, batch_size, channels_first, check_simplex, check, dtype)
    return _array_batches(path, key, batch_size, channels_first, records, dtype)


def _checked_count(path: str, key: str, batch_size: int, channels_first: bool, check_simplex: bool,
                   check: bool, dtype: Any = np.float32) -> int:
    """The number of sequences of the array, every one checked first (unless not ``check``)."""
    name = path if path.endswith(".npy") else f"{path}:{key}"  # an NPY file holds one array
    with _open_array(path, key) as source:
        check_layout(source.shape, channels_first, name,
                     "read it without --channels-first" if channels_first else "read it with --channels-first")
        if check:
            for begin, chunk in _chunks(source, batch_size, channels_first, dtype=dtype):
                check_sequences(chunk, check_simplex=check_simplex, name=name, first_index=begin, dtype=chunk.dtype)
        return int(source.shape[0])


def _array_batches(path: str, key: str, batch_size: int, channels_first: bool, records: Records,
                   dtype: Any = np.float32) -> Iterator[Batch]:
    with _open_array(path, key) as source:
        for begin, chunk in _chunks(source, batch_size, channels_first, records, dtype):
            yield [str(i) for i in range(begin, begin + len(chunk))], chunk, {}


def _chunks(source, batch_size: int, channels_first: bool, records: Records = None,
            dtype: Any = np.float32) -> Iterator[tuple[int, np.ndarray]]:
    first, end = records or (0, source.shape[0])
    dtype = np.result_type(source.dtype, np.float32) if dtype is None else dtype
    for begin in range(first, min(end, source.shape[0]), batch_size):
        chunk = np.asarray(source[begin : min(begin + batch_size, end)], dtype)
        yield begin, (np.swapaxes(chunk, 1, 2) if channels_first else chunk)


@contextlib.contextmanager
def _open_array(path: str, key: str):
    """The ``(N, L, A)`` array ``key`` of an NPZ (loaded) or HDF5 file (a lazy dataset), or the
    array of an NPY file (memory-mapped; ``key`` unused)."""
    if path.endswith(".npy"):
        try:
            source = np.load(path, mmap_mode="r")
        except Exception as error:  # noqa: BLE001 - numpy raises several types for bad files
            raise ValueError(f"cannot read NPY file {path}: {error}") from None
        _check_array_shape(path, "array", source)
        yield source
        return
    if path.endswith(".npz"):
        try:
            archive = np.load(path)
        except Exception as error:  # noqa: BLE001 - numpy raises several types for bad files
            raise ValueError(f"cannot read NPZ file {path}: {error}") from None
        with archive:
            if key not in archive:
                raise ValueError(f"{path} has no array {key!r}; it has {sorted(archive.files)}")
            source = archive[key]
        _check_array_shape(path, key, source)
        yield source
        return
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"cannot read HDF5 file {path}: {error}") from None
    with handle:
        if key not in handle:
            raise ValueError(f"{path} has no dataset {key!r}; it has {sorted(handle)}")
        source = handle[key]
        if not isinstance(source, h5py.Dataset):
            raise ValueError(f"{path}:{key} is a group, not an array; it holds {sorted(source)}")
        _check_array_shape(path, key, source)
        yield source


def _check_array_shape(path: str, key: str, source) -> None:
    if source.ndim != 3:
        raise ValueError(f"{path}:{key} must be 3-D (N, L, A), got shape {source.shape}")
    if source.shape[0] == 0:
        raise ValueError(f"{path}:{key} holds no sequences (shape {source.shape})")


BED_SUFFIXES = (".bed", ".bed.gz", ".narrowpeak", ".narrowpeak.gz")


def is_bed(path: str) -> bool:
    """Whether ``path`` names BED/narrowPeak intervals (plain or gzipped; any case)."""
    return path.lower().endswith(BED_SUFFIXES)


def open_input(path: str, batch_size: int, genome: str | None = None, length: int | None = None,
               key: str = "x", channels_first: bool = False, check_simplex: bool = True,
               out_of_bounds: str = "skip", stranded: bool = False, records: Records = None,
               check: bool = True, data_dir: str | None = None) -> tuple[Iterator[Batch], dict]:
    """Batches of the input file by type (FASTA, plain or gzipped; BED/narrowPeak, which needs
    ``genome``; HDF5, NPZ or NPY; ``tfds:NAME/CONFIG:SPLIT``, a split of a TFDS dataset built in
    ``data_dir``), and the provenance to record with the output, with the number of records
    the whole input gives (``records``, the output's rows).

    Everything that can be checked without the model is checked before the first batch:
    FASTA records (read once, cheaply, as text), BED windows, and every array sequence
    (``check=False`` skips the FASTA and array passes, for a shard of an input already
    checked). ``records``: only the records ``[first, end)`` (a shard of a pipeline).
    """
    if path.startswith(TFDS_PREFIX):
        return read_tfds_split(path[len(TFDS_PREFIX) :], batch_size, data_dir, records)
    if not os.path.exists(path):
        raise FileNotFoundError(f"input file not found: {path}")
    provenance = {"input": os.path.abspath(path)}
    lower = path.lower()
    if lower.endswith(FASTA_SUFFIXES):
        if check:  # a first pass over the text: errors before any work
            provenance["records"] = 0
            for name, sequence in fasta_records(path):
                if length is not None and len(sequence) != length:
                    raise ValueError(f"{path}: record {name!r} has length {len(sequence)}, the model reads {length}")
                provenance["records"] += 1
        return read_fasta(path, batch_size, records=records), provenance
    if is_bed(path):
        if genome is None:
            raise ValueError("BED input needs --genome (an indexed FASTA)")
        if length is None:
            raise ValueError("BED windows need a length: the model's input length, or --length N")
        return read_bed_windows(path, genome, length, batch_size, out_of_bounds, stranded, records)
    if lower.endswith((".h5", ".hdf5", ".npz", ".npy")):
        count = _checked_count(path, key, batch_size, channels_first, check_simplex, check)  # one read of the file
        batches = _array_batches(path, key, batch_size, channels_first, records)
        return batches, {**provenance, "input_key": key, "records": count}
    raise ValueError(f"unknown input type of {path}: use .fa/.fasta (.gz), .bed/.narrowPeak, .h5, .npz or .npy")


TFDS_PREFIX = "tfds:"


def read_tfds_split(spec: str, batch_size: int, data_dir: str | None, records: Records = None) -> tuple[Iterator[Batch], dict]:
    """The ``sequence`` feature of a split of a built TFDS dataset (``spec``:
    ``NAME/CONFIG:SPLIT``, e.g. ``synthetic_motifs/original:test``), in the split's order,
    ``batch_size`` at a time, named ``SPLIT:index``; and the provenance."""
    name, _, split = spec.rpartition(":")
    if not name or not split:
        raise ValueError(f"TFDS input is tfds:NAME/CONFIG:SPLIT (e.g. tfds:synthetic_motifs/original:test), got "
                         f"{TFDS_PREFIX}{spec}")
    from keras_simplex.datasets.splits import prepared_builder

    builder = prepared_builder(name, data_dir)
    if split not in builder.info.splits:
        raise ValueError(f"{name} has no split {split!r}; it has {sorted(builder.info.splits)}")
    count = builder.info.splits[split].num_examples
    first, end = records or (0, count)
    provenance = {"input": f"{TFDS_PREFIX}{spec}", "data_dir": os.path.abspath(builder.data_dir), "records": count}
    return _tfds_batches(builder, split, first, min(end, count), batch_size), provenance


def _tfds_batches(builder, split: str, first: int, end: int, batch_size: int) -> Iterator[Batch]:
    import tensorflow_datasets as tfds

    dataset = builder.as_dataset(split=f"{split}[{first}:{end}]", batch_size=batch_size, shuffle_files=False)
    index = first
    for example in tfds.as_numpy(dataset):
        x = np.asarray(example["sequence"], np.float32)
        yield [f"{split}:{i}" for i in range(index, index + len(x))], x, {}
        index += len(x)


def prefetched(batches: Iterator[Batch]) -> Iterator[Batch]:
    """``batches``, with the next one read in a background thread while the caller works on
    the current one. Errors of the reader are raised here, as they are."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = reader.submit(next, batches, None)
            yield batch


class AttributionWriter:
    """Append arrays batch by batch to an HDF5 file (streaming) or collect them for one NPZ
    file, with the sequence names (``names``, plain strings) and ``attributes`` (HDF5
    attributes; NPZ arrays) recording the provenance.

    A context manager: the output appears at ``path`` only when the block ends normally
    (``keras_simplex.atomic``); on any error or interruption a previous file at ``path`` is
    left as it was and no partial file remains.
    """

    def __init__(self, path: str, attributes: dict | None = None):
        if not path.endswith((".h5", ".hdf5", ".npz")):
            raise ValueError(f"output must be .h5/.hdf5 or .npz, got {path}")
        check_output_folder(path)
        self.path, self.attributes = path, attributes or {}
        self.h5 = None
        self.parts: dict[str, list] = {}
        self.fields: set[str] | None = None  # those of the first batch: every batch has the same
        self._output = atomic_output(path)
        self._temporary: str | None = None

    def __enter__(self) -> "AttributionWriter":
        self._temporary = self._output.__enter__()
        if not self.path.endswith(".npz"):
            self.h5 = h5py.File(self._temporary, "w")
            self.h5.attrs.update(self.attributes)
        return self

    def __exit__(self, kind, error, trace) -> bool:
        if kind is None:
            try:
                self._finish()
            except BaseException as failure:  # e.g. a full disk while the file is finished
                self._close_quietly(failure.__traceback__)
                self._output.__exit__(type(failure), failure, failure.__traceback__)
                raise
        self._close_quietly(trace)
        return bool(self._output.__exit__(kind, error, trace))

    def write(self, names: list[str], **arrays: np.ndarray) -> None:
        """Append one batch: ``arrays`` (the same fields every batch, sequence axis first) and
        the sequences' ``names`` (HDF5: written to disk now; a failed write raises here)."""
        self.fields = set(arrays) if self.fields is None else self.fields
        if set(arrays) != self.fields:  # rows of the fields would no longer line up
            raise ValueError(f"cannot write {self.path}: a batch with the fields {sorted(arrays)} after batches with "
                             f"{sorted(self.fields)}")
        try:
            with _h5py_failures() as failures:
                for field, array in arrays.items():
                    self._append(field, np.asarray(array))
                self._append("names", np.array(names, dtype=object))
                if self.h5 is not None:
                    self.h5.flush()
        except (RuntimeError, OSError) as error:
            raise OSError(f"cannot write {self.path}: {_write_failure(str(error))}") from None
        if failures:
            raise OSError(f"cannot write {self.path}: {_write_failure(failures[0])}")

    def _append(self, field: str, array: np.ndarray) -> None:
        if self.h5 is None:
            self.parts.setdefault(field, []).append(array)
            return
        if field not in self.h5:
            dtype = h5py.string_dtype() if array.dtype == object else array.dtype
            self.h5.create_dataset(field, shape=(0,) + array.shape[1:], maxshape=(None,) + array.shape[1:],
                                   dtype=dtype, chunks=(min(len(array), 1024),) + array.shape[1:],
                                   compression="gzip", compression_opts=1)
        dataset = self.h5[field]
        dataset.resize(dataset.shape[0] + len(array), axis=0)
        dataset[-len(array):] = array

    def _finish(self) -> None:
        if self.h5 is not None:
            self.h5.flush()
            self.h5.close()
            self.h5 = None
        else:
            arrays = {f: np.concatenate(v) for f, v in self.parts.items()}
            arrays = {f: a.astype(str) if a.dtype == object else a for f, a in arrays.items()}  # no allow_pickle
            np.savez_compressed(self._temporary, **arrays, **{k: np.asarray(v) for k, v in self.attributes.items()})

    def _close_quietly(self, failure_traceback=None) -> None:
        """Close the HDF5 file, after a failure too (a file whose writes failed cannot flush;
        the objects still held by the failure's traceback are freed here, quietly)."""
        if self.h5 is None:
            return
        global hdf5_left_open
        with _h5py_failures():
            if failure_traceback is not None:
                traceback.clear_frames(failure_traceback)
            try:
                self.h5.close()
            except Exception:  # noqa: BLE001 - HDF5 keeps the file open: see hdf5_left_open
                hdf5_left_open = True
            self.h5 = None
            gc.collect()


@contextlib.contextmanager
def _h5py_failures() -> Iterator[list[str]]:
    """Collect (one line each) the errors h5py reports from object deallocation, where a
    failed write (a full disk) surfaces without raising, instead of printing them."""
    failures: list[str] = []
    hooks = sys.excepthook, sys.unraisablehook

    def collect(unraisable) -> None:
        failures.append(str(unraisable.exc_value))

    def ignore(*args) -> None:  # Cython prints the same error through excepthook first
        pass

    sys.unraisablehook, sys.excepthook = collect, ignore
    try:
        yield failures
    finally:
        sys.excepthook, sys.unraisablehook = hooks


def _write_failure(message: str) -> str:
    """The cause in an HDF5 write error (e.g. "File too large", "No space left on device")."""
    found = re.search(r"error message = '([^']+)'", message)
    return found.group(1) if found else message.strip().splitlines()[0]

