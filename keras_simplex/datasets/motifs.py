"""Position weight matrices from the JASPAR database, offline through ``pyjaspar``.

``pyjaspar`` ships SQLite copies of every JASPAR release (2014-2026), so no network is
needed. PWMs are column-normalised counts with no pseudocount, rows in ACGT order.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterable

import numpy as np

from keras_simplex.extras import require

DEFAULT_RELEASE = "JASPAR2016"
# The synthetic dataset's core motifs (Koo & Ploenzke 2021), in the original order.
CORE_MOTIF_IDS = ("MA0079.3", "MA0062.2", "MA0466.2", "MA0058.3", "MA0095.2")  # SP1 Gabpa CEBPB MAX YY1


@dataclasses.dataclass(frozen=True)
class Motif:
    """A position weight matrix.

    Attributes:
      matrix_id: JASPAR matrix ID with version, e.g. ``"MA0079.3"``.
      name: transcription factor name.
      pwm: ``(W, 4)`` probabilities, rows summing to 1, columns A, C, G, T.
      strand: ``"+"``, or ``"-"`` for a reverse complement.
      sites: the number of sites the matrix was counted from (0: unknown).
    """

    matrix_id: str
    name: str
    pwm: np.ndarray
    strand: str = "+"
    sites: int = 0

    def reverse_complement(self) -> "Motif":
        """The motif on the other strand: rows reversed, A<->T and C<->G swapped."""
        return dataclasses.replace(self, pwm=self.pwm[::-1, ::-1].copy(), strand="-" if self.strand == "+" else "+")

    @property
    def width(self) -> int:
        return len(self.pwm)


@functools.lru_cache(maxsize=None)
def _database(release: str):
    database = require("pyjaspar", "datasets", "JASPAR motifs").jaspardb(release=release)
    if release not in database.get_releases():
        raise ValueError(f"unknown JASPAR release {release!r}; available: {database.get_releases()}")
    return database


def _to_motif(record) -> Motif:
    counts = np.array([record.counts[letter] for letter in "ACGT"], dtype=np.float64).T  # (W, 4)
    return Motif(record.matrix_id, record.name, counts / counts.sum(axis=1, keepdims=True),
                 sites=int(round(counts.sum(axis=1).mean())))


def fetch_motifs(matrix_ids: Iterable[str], release: str = DEFAULT_RELEASE) -> list[Motif]:
    """Motifs by JASPAR matrix ID (versioned IDs are exact; a base ID gives the latest version)."""
    database = _database(release)
    motifs = []
    for matrix_id in matrix_ids:
        record = database.fetch_motif_by_id(matrix_id)
        if record is None:
            raise ValueError(f"matrix {matrix_id!r} is not in {release}")
        motifs.append(_to_motif(record))
    return motifs


@functools.lru_cache(maxsize=None)
def core_vertebrate_motifs(release: str = DEFAULT_RELEASE) -> tuple[Motif, ...]:
    """JASPAR CORE vertebrate motifs (latest versions), sorted by matrix ID.

    For JASPAR2016 these are the 519 matrices of the original ``pfm_vertebrates.txt``, in its
    order, which the synthetic dataset's background draw indexes into.
    """
    database = _database(release)
    records = database.fetch_motifs(collection="CORE", tax_group=["vertebrates"], all_versions=False)
    return tuple(_to_motif(record) for record in sorted(records, key=lambda r: r.matrix_id))


def with_reverse_complements(motifs: Iterable[Motif]) -> list[Motif]:
    """Each motif followed by its reverse complement (the original pools' layout)."""
    return [m for motif in motifs for m in (motif, motif.reverse_complement())]
