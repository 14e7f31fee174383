"""The synthetic motif ("billboard") dataset with known ground truth.

Positive sequences embed 3-7 motifs drawn (with replacement) from 10 core PWMs (SP1, Gabpa,
CEBPB, MAX, YY1 and their reverse complements, JASPAR 2016), negatives draw from a larger
pool, and everything else is uniform background. Each sequence comes with its ground-truth
probability matrix (0.25 in the background, the PWM inside motifs) and its motif annotations.

Two recipes:

* ``ORIGINAL`` reproduces the code that made the published dataset (Koo & Ploenzke 2021,
  reused by Majdandzic & Koo): 3/4/5/6/7 motifs with probabilities .50/.25/.17/.05/.03,
  negatives from a 110-PWM pool that *includes* the core motifs, the background motifs chosen
  by the original seed-22 draw from the 519 JASPAR 2016 CORE vertebrate matrices (duplicates
  removed by value, as the original did, which with seed 22 removes none).
* ``PAPER`` follows the paper's prose: 3-5 motifs (uniform) and negatives from the 100
  background PWMs only.

Generation is vectorised (20,000 x 200 nt in well under 10 s) and deterministic for a seed;
it uses numpy's ``Generator``, so it follows the recipe, not the original random stream.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from keras_simplex.datasets.motifs import (
    CORE_MOTIF_IDS,
    DEFAULT_RELEASE,
    Motif,
    core_vertebrate_motifs,
    fetch_motifs,
    with_reverse_complements,
)
from keras_simplex.datasets.splits import check_split_fractions, random_split

_ORIGINAL_SELECTION_SEED = 22
_ORIGINAL_DUPLICATES = {4, 5, 12, 15, 17, 18, 20, 36, 42, 60}


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Recipe of a synthetic dataset.

    Attributes:
      num_positives, num_negatives: class sizes (positives come first before the split).
      length: sequence length L.
      seed: seed of the generator.
      motif_counts, motif_count_probs: distribution of the number of motifs per sequence.
      negatives_include_core: the negative pool also holds the 10 core PWMs (original code).
      num_background: background TFs (each with its reverse complement) for negatives.
      release: JASPAR release of all motifs.
      core_ids: core matrix IDs (each with its reverse complement) for positives.
      split_fractions: train/validation/test fractions of a random permutation.
    """

    num_positives: int = 10_000
    num_negatives: int = 10_000
    length: int = 200
    seed: int = 22
    motif_counts: tuple[int, ...] = (3, 4, 5, 6, 7)
    motif_count_probs: tuple[float, ...] = (0.50, 0.25, 0.17, 0.05, 0.03)
    negatives_include_core: bool = True
    num_background: int = 50
    release: str = DEFAULT_RELEASE
    core_ids: tuple[str, ...] = CORE_MOTIF_IDS
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)

    def __post_init__(self):
        if len(self.motif_counts) != len(self.motif_count_probs):
            raise ValueError("motif_counts and motif_count_probs must have the same length")
        if not np.isclose(sum(self.motif_count_probs), 1.0):
            raise ValueError(f"motif_count_probs must sum to 1, got {sum(self.motif_count_probs)}")
        if min(self.motif_counts) < 1:
            raise ValueError("every motif count must be >= 1")
        if self.num_positives < 0 or self.num_negatives < 0 or self.num_positives + self.num_negatives == 0:
            raise ValueError("need a positive number of sequences")
        check_split_fractions(self.split_fractions)


ORIGINAL = SyntheticConfig()
PAPER = SyntheticConfig(motif_counts=(3, 4, 5), motif_count_probs=(1 / 3, 1 / 3, 1 / 3), negatives_include_core=False)


@dataclasses.dataclass
class SyntheticData:
    """A generated dataset (all N sequences; ``splits`` indexes into them).

    Attributes:
      x: ``(N, L, 4)`` float32 one-hot sequences.
      y: ``(N,)`` int labels (1 = positive).
      ground_truth: ``(N, L, 4)`` float32 sequence model (0.25 in the background).
      motif_index: ``(N, K)`` index into ``pool`` of each embedded motif, -1 padding.
      motif_start: ``(N, K)`` start position of each motif, -1 padding.
      pool: every motif that can appear (core first, then background), forward and reverse.
      splits: split name -> sorted indices.
    """

    x: np.ndarray
    y: np.ndarray
    ground_truth: np.ndarray
    motif_index: np.ndarray
    motif_start: np.ndarray
    pool: list[Motif]
    splits: dict[str, np.ndarray]

    def annotations(self, i: int) -> list[tuple[str, int, str]]:
        """``(matrix_id, start, strand)`` of each motif in sequence ``i``, in order."""
        keep = self.motif_index[i] >= 0
        return [
            (self.pool[m].matrix_id, int(s), self.pool[m].strand)
            for m, s in zip(self.motif_index[i][keep], self.motif_start[i][keep])
        ]


def original_background_motifs(release: str = DEFAULT_RELEASE, count: int = 50) -> list[Motif]:
    """The original code's background TFs: a seed-22 permutation of the 519 JASPAR 2016 CORE
    vertebrate matrices, its first 65, minus the "duplicates" (by value, as the original did),
    the first ``count`` in Python set order."""
    motifs = core_vertebrate_motifs(release)
    permutation = np.random.RandomState(_ORIGINAL_SELECTION_SEED).permutation(len(motifs))[:65]
    chosen = list(set(permutation.tolist()) - _ORIGINAL_DUPLICATES)[:count]
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} background motifs available, {count} requested")
    return [motifs[i] for i in chosen]


def motif_pool(config: SyntheticConfig) -> tuple[list[Motif], np.ndarray, np.ndarray]:
    """All motifs (core then background, each followed by its reverse complement) and the
    indices into it that positives and negatives draw from."""
    core = with_reverse_complements(fetch_motifs(config.core_ids, config.release))
    background = with_reverse_complements(original_background_motifs(config.release, config.num_background))
    pool = core + background
    negatives = np.arange(0 if config.negatives_include_core else len(core), len(pool))
    return pool, np.arange(len(core)), negatives


def generate(config: SyntheticConfig = ORIGINAL) -> SyntheticData:
    """Generate a synthetic dataset from ``config`` (deterministic for ``config.seed``)."""
    rng = np.random.default_rng(config.seed)
    pool, positive_pool, negative_pool = motif_pool(config)
    parts = [
        _sample_models(rng, pool, class_pool, count, config)
        for count, class_pool in ((config.num_positives, positive_pool), (config.num_negatives, negative_pool))
    ]
    ground_truth, motif_index, motif_start = (np.concatenate(arrays) for arrays in zip(*parts))
    y = np.concatenate([np.ones(config.num_positives, np.int64), np.zeros(config.num_negatives, np.int64)])
    x = sample_sequences(rng, ground_truth)
    return SyntheticData(x, y, ground_truth, motif_index, motif_start, pool, split_indices(rng, len(y), config.split_fractions))


def split_indices(rng: np.random.Generator, n: int, fractions: Sequence[float]) -> dict[str, np.ndarray]:
    """Random split of ``range(n)`` into train/validation/test (each sorted): the first
    ``round(fractions[0] * n)`` items of a random permutation, and so on."""
    return random_split(rng, np.arange(n), fractions)


def sample_sequences(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One-hot sequences drawn position by position from ``(N, L, 4)`` probabilities."""
    cdf = np.cumsum(probabilities, axis=-1)[..., :-1]
    letters = (rng.random(probabilities.shape[:-1])[..., None] >= cdf).sum(axis=-1)
    return np.eye(probabilities.shape[-1], dtype=np.float32)[letters]


def _sample_models(rng: np.random.Generator, pool: list[Motif], allowed: np.ndarray, n: int, config: SyntheticConfig):
    """Ground truth (n, L, 4), motif choices (n, K) into ``pool`` and starts (n, K), -1 padded.

    Motifs are drawn from ``pool[allowed]``.

    Per sequence: a motif count, motifs drawn uniformly with replacement (redrawn while their
    total width reaches L), and n+1 gap weights ~ U(0, 2) scaled and rounded to fill the rest
    (redrawn until the rounded gaps sum exactly), laid out gap, motif, gap, ..., motif, gap.
    """
    length, slots = config.length, max(config.motif_counts)
    widths = np.array([m.width for m in pool])
    counts = rng.choice(np.array(config.motif_counts), size=n, p=np.array(config.motif_count_probs))
    used = np.arange(slots) < counts[:, None]
    chosen = np.zeros((n, slots), dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    for _ in range(1000):
        chosen[todo] = allowed[rng.integers(len(allowed), size=(todo.sum(), slots))]
        total = (widths[chosen] * used).sum(axis=1)
        todo = total >= length
        if not todo.any():
            break
    else:
        raise ValueError(f"motifs do not fit in length {length}; use longer sequences or fewer motifs")
    gaps = np.zeros((n, slots + 1))
    gap_used = np.arange(slots + 1) <= counts[:, None]
    free = length - total
    todo = np.ones(n, dtype=bool)
    while todo.any():
        weights = rng.uniform(0, 2, size=(todo.sum(), slots + 1)) * gap_used[todo]
        gaps[todo] = np.round(weights / weights.sum(axis=1, keepdims=True) * free[todo, None])
        todo = gaps.sum(axis=1) != free
    gaps = gaps.astype(np.int64)
    motif_widths = widths[chosen] * used
    starts = np.cumsum(gaps[:, :slots], axis=1) + np.cumsum(motif_widths, axis=1) - motif_widths
    truth = np.full((n, length, 4), 0.25, dtype=np.float32)
    stacked = np.concatenate([m.pwm for m in pool]).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
    rows = np.broadcast_to(np.arange(n)[:, None], (n, slots))
    for j in range(widths.max()):
        place = used & (j < widths[chosen])
        truth[rows[place], starts[place] + j] = stacked[offsets[chosen[place]] + j]
    return truth, np.where(used, chosen, -1), np.where(used, starts, -1)
