"""TF-MoDISco interoperability: write the inputs ``modisco motifs`` reads, read its motifs back.

tfmodisco-lite (``modisco motifs``) reads either

- ``-s ohe.npz -a attr.npz``: one-hot sequences and hypothetical contributions, each an
  ``(N, 4, L)`` float32 array under the NPZ key ``arr_0`` (``ModiscoWriter`` with a folder);
- ``-i scores.h5``: the legacy HDF5 with ``input_seqs`` and ``hyp_scores``, both ``(N, L, 4)``
  (``ModiscoWriter`` with an ``.h5`` path; streamed batch by batch).

Its window (``-w``, default 400) must not exceed L: pass ``-w L`` for shorter sequences. The
attributions are *hypothetical* contributions (``GradientMethod.hypothetical_form``): modisco
multiplies them by the one-hot sequence for the actual contributions and compares the
hypothetical ones between seqlets.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Sequence

import h5py
import numpy as np

from keras_simplex.atomic import atomic_output, check_output_folder, check_replaceable_folder
from keras_simplex.sequence_io import AttributionWriter


class ModiscoWriter:
    """Write sequences and hypothetical contributions for ``modisco motifs``.

    Args:
      path: a folder (written as ``ohe.npz``, ``attr.npz`` — or ``attr.<target>.npz`` per
        target —, ``names.txt``, ``provenance.json`` and, for BED input, ``peaks.tsv``: each
        row's name, ``bed_line`` and ``bed_name``; held in memory until the end) or an ``.h5``
        file (the legacy layout, one target only, with the BED columns as datasets; streamed).
      attributes: provenance to record (JSON-serialisable values): HDF5 attributes, or
        ``provenance.json`` in the folder.
      targets: names of the target axis of the maps given to ``write`` (None: no target axis).

    A context manager; the output appears complete or not at all (``keras_simplex.atomic``).
    """

    def __init__(self, path: str, attributes: dict[str, Any], targets: Sequence[str] | None = None) -> None:
        self.path, self.attributes, self.targets = path, dict(attributes), None if targets is None else list(targets)
        self.legacy = check_modisco_path(path)
        if self.legacy and self.targets is not None and len(self.targets) > 1:
            raise ValueError("the legacy modisco HDF5 holds one target's scores; write a folder for several targets "
                             "(--output a path without .h5)")
        if self.legacy:
            self._h5 = AttributionWriter(path, {key: _attribute(value) for key, value in self.attributes.items()})
        else:
            self._names: list[str] = []
            self._x: list[np.ndarray] = []
            self._maps: list[np.ndarray] = []
            self._columns: dict[str, list[np.ndarray]] = {}

    def __enter__(self) -> "ModiscoWriter":
        if self.legacy:
            self._h5.__enter__()
        return self

    def __exit__(self, kind, error, trace) -> bool:
        if self.legacy:
            return self._h5.__exit__(kind, error, trace)
        if kind is None:
            self._write_folder()
        return False

    def write(self, names: list[str], x: np.ndarray, hypothetical: np.ndarray,
              columns: dict[str, np.ndarray] | None = None) -> None:
        """One batch: ``x (n, L, 4)`` one-hot sequences and their hypothetical contributions
        ``(n, L, 4)``, or ``(n, T, L, 4)`` with a target axis; ``columns``: per-row values the
        input has besides (BED: ``bed_line``, ``bed_name``)."""
        columns = columns or {}
        if x.shape[-1] != 4:
            raise ValueError(f"modisco reads DNA (4 letters); these sequences have {x.shape[-1]}")
        if self.targets is not None and hypothetical.ndim == 4 and self.legacy:
            hypothetical = hypothetical[:, 0]
        if self.legacy:
            self._h5.write(names, input_seqs=x.astype(np.float32), hyp_scores=hypothetical.astype(np.float32),
                           **columns)
            return
        self._names += list(names)
        for key, values in columns.items():
            self._columns.setdefault(key, []).append(np.asarray(values))
        self._x.append(np.swapaxes(x, -1, -2).astype(np.float32))
        self._maps.append(np.swapaxes(hypothetical, -1, -2).astype(np.float32))

    def _write_folder(self) -> None:
        maps = np.concatenate(self._maps)
        with atomic_output(self.path, **MODISCO_FOLDER) as folder:
            os.mkdir(folder)
            np.savez_compressed(os.path.join(folder, "ohe.npz"), np.concatenate(self._x))
            if self.targets is None:
                np.savez_compressed(os.path.join(folder, "attr.npz"), maps)
            else:
                for index, target in enumerate(self.targets):
                    np.savez_compressed(os.path.join(folder, f"attr.{target}.npz"), np.ascontiguousarray(maps[:, index]))
            with open(os.path.join(folder, "names.txt"), "w") as handle:
                handle.writelines(name + "\n" for name in self._names)
            if self._columns:  # rows join back to the peak table by line, whatever was skipped
                columns = {key: np.concatenate(parts) for key, parts in self._columns.items()}
                with open(os.path.join(folder, "peaks.tsv"), "w") as handle:
                    handle.write("\t".join(["name", *columns]) + "\n")
                    handle.writelines("\t".join(map(str, row)) + "\n" for row in zip(self._names, *columns.values()))
            with open(os.path.join(folder, "provenance.json"), "w") as handle:
                json.dump(self.attributes, handle, indent=1)


def modisco_file(name: str) -> bool:
    """Whether ``name`` is one of the files ``ModiscoWriter`` writes into its folder."""
    return (name in ("ohe.npz", "attr.npz", "names.txt", "provenance.json", "peaks.tsv")
            or bool(re.fullmatch(r"attr\..+\.npz", name)))


MODISCO_FOLDER = dict(own=modisco_file, what="modisco input folder")  # what the folder may replace (atomic)


def check_modisco_path(path: str) -> bool:
    """Raise unless ``path`` is a folder name (no extension) that is new, empty or a previous
    modisco input folder, or an ``.h5``/``.hdf5`` file, in a writable folder; return whether it
    is the legacy HDF5."""
    legacy = path.endswith((".h5", ".hdf5"))
    if not legacy and os.path.splitext(os.path.basename(os.path.abspath(path)))[1]:
        raise ValueError(f"modisco output must be a folder (no extension) or a legacy .h5 file, got {path}")
    check_output_folder(path)
    if not legacy:
        check_replaceable_folder(path, **MODISCO_FOLDER)
    return legacy


def _attribute(value: Any) -> Any:
    """``value`` as an HDF5 attribute: scalars and strings as they are, the rest as JSON."""
    return value if isinstance(value, (str, bool, int, float, np.generic)) else json.dumps(value)


@dataclasses.dataclass(frozen=True)
class Pattern:
    """One motif found by TF-MoDISco.

    Attributes:
      name: e.g. ``"pos_patterns/pattern_0"``.
      sequence: ``(W, 4)`` mean one-hot of its seqlets (a PWM, ACGT).
      contributions: ``(W, 4)`` mean contribution scores of its seqlets.
      seqlets: number of seqlets.
    """

    name: str
    sequence: np.ndarray
    contributions: np.ndarray
    seqlets: int


def read_patterns(path: str) -> list[Pattern]:
    """The patterns of a ``modisco motifs`` result file, positive then negative ones, each
    kind in modisco's order (most seqlets first)."""
    patterns = []
    with h5py.File(path, "r") as handle:
        for kind in ("pos_patterns", "neg_patterns"):
            group = handle.get(kind, {})
            for name in sorted(group, key=lambda n: int(n.split("_")[-1])):
                pattern = group[name]
                patterns.append(Pattern(f"{kind}/{name}", np.asarray(pattern["sequence"], np.float64),
                                        np.asarray(pattern["contrib_scores"], np.float64),
                                        int(pattern["seqlets"]["n_seqlets"][0])))
    return patterns


def best_match(pwm: np.ndarray, motifs: dict[str, np.ndarray], min_overlap: int = 5) -> tuple[str, float]:
    """The motif (``{name: (W, 4) PWM}``) most similar to ``pwm (W', 4)``, and the similarity:
    the highest Pearson correlation of the overlapping columns (flattened) over every offset of
    at least ``min_overlap`` columns, on both strands of the motif."""
    best = ("", -1.0)
    for name, motif in motifs.items():
        for candidate in (motif, motif[::-1, ::-1]):
            best = max(best, (name, _best_alignment(pwm, candidate, min_overlap)), key=lambda item: item[1])
    return best


def _best_alignment(a: np.ndarray, b: np.ndarray, min_overlap: int) -> float:
    best = -1.0
    for shift in range(-(len(b) - min_overlap), len(a) - min_overlap + 1):
        a_part = a[max(shift, 0) : min(len(a), shift + len(b))]
        b_part = b[max(-shift, 0) : max(-shift, 0) + len(a_part)]
        if len(a_part) >= min_overlap:
            best = max(best, float(np.corrcoef(a_part.ravel(), b_part.ravel())[0, 1]))
    return best


def write_meme(path: str, motifs: dict[str, np.ndarray], sites: dict[str, int] | None = None) -> None:
    """Write PWMs ``{name: (W, 4) probabilities, ACGT}`` as a MEME motif file (the database
    ``modisco report -m`` matches patterns against), atomically; ``sites`` as in ``meme_text``."""
    from keras_simplex.atomic import write_text

    write_text(path, meme_text(motifs, sites))


def meme_text(motifs: dict[str, np.ndarray], sites: dict[str, int] | None = None) -> str:
    """PWMs ``{name: (W, 4) probabilities, ACGT}`` in the MEME motif format; ``sites``: the
    number of sites of each (its ``nsites=``, which MEME tools weigh pseudocounts with), 20
    where unknown."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for name, pwm in motifs.items():
        pwm = np.asarray(pwm, np.float64)
        if pwm.ndim != 2 or pwm.shape[1] != 4 or not np.allclose(pwm.sum(axis=1), 1, atol=1e-3):
            raise ValueError(f"motif {name!r} must be a (W, 4) matrix of probabilities, got shape {pwm.shape}")
        nsites = (sites or {}).get(name) or 20
        lines += [f"MOTIF {name}", f"letter-probability matrix: alength= 4 w= {len(pwm)} nsites= {nsites} E= 0"]
        lines += [" ".join(f"{p:.6f}" for p in row) for row in pwm] + [""]
    return "\n".join(lines)
