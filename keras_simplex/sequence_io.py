"""Streaming readers and writers of sequence batches for command-line attribution.

Readers yield ``(names, x)`` batches of one-hot ``(n, L, A)`` float32 arrays, never holding
the whole input in memory (except NPZ, which numpy loads whole). The HDF5 writer appends
batch by batch to resizable datasets.
"""

from __future__ import annotations

import os
from typing import Iterator

import h5py
import numpy as np

from keras_simplex.datasets.intervals import centered_windows, read_bed
from keras_simplex.encoding import DNA, one_hot_encode

Batch = tuple[list[str], np.ndarray]


def read_fasta(path: str, batch_size: int, alphabet: str = DNA) -> Iterator[Batch]:
    """Records of a FASTA file (plain text), one-hot encoded, ``batch_size`` at a time.

    ``N`` (any case) is encoded as 1/A at every letter. Raises ``ValueError`` naming the file
    and line for text before the first header, a record without sequence, letters outside the
    alphabet, or records of different lengths.
    """
    allowed = set(alphabet.upper() + alphabet.lower() + "Nn")
    names: list[str] = []
    sequences: list[str] = []
    expected = None  # length of the first record
    name, parts, header_line = None, [], 0

    def finish():
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
        names.append(name)
        sequences.append(sequence)

    with open(path, "rt") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if name is not None:
                    finish()
                if len(names) == batch_size:
                    yield names, one_hot_encode(sequences, alphabet)
                    names, sequences = [], []
                name, parts, header_line = (line[1:].split() or [f"record{number}"])[0], [], number
            elif name is None:
                raise ValueError(f"{path}, line {number}: malformed FASTA (sequence before the first '>' header)")
            else:
                parts.append(line)
    if name is None:
        raise ValueError(f"{path}: no FASTA records")
    finish()
    yield names, one_hot_encode(sequences, alphabet)


def read_bed_windows(path: str, genome_path: str, length: int, batch_size: int) -> Iterator[Batch]:
    """``length``-nt windows centred on each BED interval's summit (or midpoint), read from an
    indexed genome FASTA. Windows past a chromosome end raise an error naming the line."""
    from keras_simplex.datasets.encode import open_genome

    intervals = read_bed(path)
    genome = open_genome(genome_path)
    starts, ends = centered_windows(intervals, length)
    for begin in range(0, len(starts), batch_size):
        names, sequences = [], []
        for i in range(begin, min(begin + batch_size, len(starts))):
            chrom = intervals.chrom[i]
            if chrom not in genome.keys():
                raise ValueError(f"{path}, line {intervals.line[i]}: chromosome {chrom!r} is not in {genome_path}")
            if starts[i] < 0 or ends[i] > len(genome[chrom]):
                raise ValueError(f"{path}, line {intervals.line[i]}: window {chrom}:{starts[i]}-{ends[i]} runs past the chromosome end")
            names.append(f"{chrom}:{starts[i]}-{ends[i]}")
            sequences.append(genome[chrom][int(starts[i]) : int(ends[i])].seq)
        yield names, one_hot_encode(sequences)


def read_arrays(path: str, key: str, batch_size: int, channels_first: bool = False) -> Iterator[Batch]:
    """Batches of an ``(N, L, A)`` array stored under ``key`` in an HDF5 or NPZ file
    (``channels_first`` for ``(N, A, L)`` arrays such as the original HDF5 layout)."""
    if path.endswith(".npz"):
        with np.load(path) as archive:
            if key not in archive:
                raise ValueError(f"{path} has no array {key!r}; it has {sorted(archive.files)}")
            array = archive[key]
        source, close = array, None
    else:
        try:
            close = h5py.File(path, "r")
        except OSError as error:
            raise ValueError(f"cannot read HDF5 file {path}: {error}") from None
        if key not in close:
            raise ValueError(f"{path} has no dataset {key!r}; it has {sorted(close)}")
        source = close[key]
    try:
        if source.ndim != 3:
            raise ValueError(f"{path}:{key} must be 3-D, got shape {source.shape}")
        for begin in range(0, source.shape[0], batch_size):
            chunk = np.asarray(source[begin : begin + batch_size], np.float32)
            if channels_first:
                chunk = np.swapaxes(chunk, 1, 2)
            yield [str(i) for i in range(begin, begin + len(chunk))], chunk
    finally:
        if close is not None:
            close.close()


def open_input(path: str, batch_size: int, genome: str | None = None, length: int | None = None,
               key: str = "x", channels_first: bool = False) -> Iterator[Batch]:
    """Dispatch on the file type: FASTA, BED/narrowPeak (needs ``genome``), HDF5 or NPZ."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"input file not found: {path}")
    lower = path.lower()
    if lower.endswith((".fa", ".fasta", ".fna")):
        return read_fasta(path, batch_size)
    if lower.endswith((".bed", ".bed.gz", ".narrowpeak", ".narrowpeak.gz")):
        if genome is None or length is None:
            raise ValueError("BED input needs --genome (an indexed FASTA)")
        return read_bed_windows(path, genome, length, batch_size)
    if lower.endswith((".h5", ".hdf5", ".npz")):
        return read_arrays(path, key, batch_size, channels_first)
    raise ValueError(f"unknown input type of {path}: use .fa/.fasta, .bed/.narrowPeak, .h5 or .npz")


class AttributionWriter:
    """Append raw and corrected maps, angles and inputs to an HDF5 file (streaming) or collect
    them for one NPZ file. ``layout="NAL"`` stores maps and inputs as ``(N, A, L)``
    (tfmodisco-lite's layout); angles are always ``(N, L)``."""

    FIELDS = ("x", "raw", "corrected", "angles")

    def __init__(self, path: str, layout: str = "NLA", attributes: dict | None = None):
        if layout not in ("NLA", "NAL"):
            raise ValueError(f"layout must be NLA or NAL, got {layout!r}")
        if not path.endswith((".h5", ".hdf5", ".npz")):
            raise ValueError(f"output must be .h5/.hdf5 or .npz, got {path}")
        self.path, self.layout, self.attributes = path, layout, attributes or {}
        self.h5 = None if path.endswith(".npz") else h5py.File(path + ".partial", "w")
        self.parts: dict[str, list] = {f: [] for f in self.FIELDS + ("names",)}
        if self.h5 is not None:
            self.h5.attrs.update({"layout": layout, **self.attributes})

    def write(self, names: list[str], **arrays: np.ndarray) -> None:
        for field in self.FIELDS:
            array = arrays[field]
            if self.layout == "NAL" and array.ndim == 3:
                array = np.swapaxes(array, 1, 2)
            self._append(field, array)
        self._append("names", np.array(names, dtype=object))

    def _append(self, field: str, array: np.ndarray) -> None:
        if self.h5 is None:
            self.parts[field].append(array)
            return
        if field not in self.h5:
            dtype = h5py.string_dtype() if array.dtype == object else array.dtype
            self.h5.create_dataset(field, shape=(0,) + array.shape[1:], maxshape=(None,) + array.shape[1:],
                                   dtype=dtype, chunks=(min(len(array), 1024),) + array.shape[1:],
                                   compression="gzip", compression_opts=1)
        dataset = self.h5[field]
        dataset.resize(dataset.shape[0] + len(array), axis=0)
        dataset[-len(array):] = array

    def close(self) -> None:
        """Finish the file; only a complete file appears under the output name."""
        if self.h5 is not None:
            self.h5.close()
            os.replace(self.path + ".partial", self.path)
        else:
            np.savez_compressed(self.path, layout=self.layout,
                                **{f: np.concatenate(v) if v else np.zeros(0) for f, v in self.parts.items()},
                                **{k: np.asarray(v) for k, v in self.attributes.items()})
