"""Interpretability metrics against ground truth, as the paper's code computes them.

Maps are ``(N, L, A)`` attributions; ground truth is the ``(N, L, A)`` sequence model of the
synthetic data (0.25 in the background, PWM probabilities inside motifs).
"""

from __future__ import annotations

import numpy as np

INFORMATION_THRESHOLD = 0.1  # bits: motif positions (5% of the maximum for DNA)


def information_content(probabilities: np.ndarray) -> np.ndarray:
    """Per-position information ``log2(A) + sum_a p log2(p + 1e-10)`` in bits, ``(N, L)``."""
    p = np.asarray(probabilities, np.float64)
    return np.log2(p.shape[-1]) + np.sum(p * np.log2(p + 1e-10), axis=-1)


def motif_and_background(ground_truth: np.ndarray, threshold: float = INFORMATION_THRESHOLD):
    """``(motif, background)`` boolean masks ``(N, L)``: information above ``threshold``, and
    positions at the sequence's minimum information (the uniform background)."""
    info = information_content(ground_truth)
    motif = info > threshold
    background = np.isclose(info, info.min(axis=1, keepdims=True), atol=1e-6) & ~motif
    return motif, background


def _cosine(a: np.ndarray, b: np.ndarray, axis) -> np.ndarray:
    dot = np.sum(a * b, axis=axis)
    norm = np.sqrt(np.sum(a * a, axis=axis) * np.sum(b * b, axis=axis))
    return np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)


def cosine_similarity(maps: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """Per-sequence cosine between the flattened map and ``ground_truth - 0.25``, ``(N,)``.

    Subtracting the background probability zeroes the uninformative positions, so the score
    measures agreement at motif positions (0 for an all-zero map)."""
    centred = np.asarray(ground_truth, np.float64) - 1.0 / ground_truth.shape[-1]
    return _cosine(np.asarray(maps, np.float64), centred, axis=(1, 2))


def position_cosine(maps: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """Per-position cosine of the A-vectors of the map and ``ground_truth - 0.25``, ``(N, L)``."""
    centred = np.asarray(ground_truth, np.float64) - 1.0 / ground_truth.shape[-1]
    return _cosine(np.asarray(maps, np.float64), centred, axis=-1)


def roc_auc(labels: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Area under the ROC curve of each row (Mann-Whitney U with average ranks for ties).

    Args:
      labels: ``(..., M)`` booleans (positive class), or ``(M,)``.
      scores: same shape.
      mask: which entries take part (default all).

    Returns:
      ``(...)`` AUROC per row (a scalar for 1-D input); NaN where a row lacks a class or has a
      NaN or infinite score taking part (a diverged model's: not a ranking).
    """
    one_row = np.ndim(scores) == 1
    labels, scores = np.atleast_2d(labels).astype(bool), np.atleast_2d(np.asarray(scores, np.float64))
    mask = np.ones_like(labels) if mask is None else np.atleast_2d(mask).astype(bool)
    ranks = average_ranks(scores, mask)
    positives = (labels & mask).sum(-1)
    negatives = (~labels & mask).sum(-1)
    rank_sum = np.where(labels & mask, ranks, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    finite = np.where(mask, np.isfinite(scores), True).all(-1)
    auc = np.where((positives > 0) & (negatives > 0) & finite, auc, np.nan)
    return float(auc[0]) if one_row else auc


def average_ranks(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Ranks (1 = smallest) of the ``valid`` entries of each row of ``scores (R, n)``, ties
    sharing their average rank; invalid entries rank after all valid ones (their rank is
    meaningless)."""
    rows, n = scores.shape
    order = np.lexsort((np.where(valid, scores, 0.0), ~valid), axis=-1)  # valid first, then by score
    values = np.take_along_axis(np.where(valid, scores, 0.0), order, -1)
    kept = np.take_along_axis(valid, order, -1)
    starts = np.ones((rows, n), bool)
    starts[:, 1:] = (values[:, 1:] != values[:, :-1]) | (kept[:, 1:] != kept[:, :-1])
    groups = (np.cumsum(starts, axis=-1) - 1 + n * np.arange(rows)[:, None]).ravel()  # tie groups, all rows
    sums = np.bincount(groups, weights=np.tile(np.arange(1.0, n + 1), rows), minlength=rows * n)
    counts = np.bincount(groups, minlength=rows * n)
    ranks = np.empty((rows, n))
    np.put_along_axis(ranks, order, (sums / np.maximum(counts, 1))[groups].reshape(rows, n), -1)
    return ranks


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve by the trapezoid rule over recall, with the
    curve's (recall 0, precision 1) end point (``sklearn.metrics.auc(recall, precision)``
    on ``precision_recall_curve``, as the original code). NaN without positives."""
    labels = np.asarray(labels, bool)
    if not labels.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    sorted_scores, sorted_labels = np.asarray(scores, np.float64)[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]  # end of each tie group
    true_pos = np.cumsum(sorted_labels)[last]
    false_pos = (last + 1) - true_pos
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / labels.sum()
    # Only up to full recall, as precision_recall_curve does; then the (0, 1) end point.
    stop = np.searchsorted(true_pos, true_pos[-1]) + 1
    precision, recall = np.r_[1.0, precision[:stop]], np.r_[0.0, recall[:stop]]
    return float(np.trapezoid(precision, recall))


def interpretability_scores(maps: np.ndarray, x: np.ndarray, ground_truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sequence AUROC and AUPR of grad-times-input scores ``sum_a map * x`` at motif
    positions (information > 0.1 bits) against background positions, ``(N,)`` each."""
    scores = np.sum(np.asarray(maps, np.float64) * x, axis=-1)
    motif, background = motif_and_background(ground_truth)
    evaluated = motif | background
    auroc = roc_auc(motif, scores, evaluated)
    aupr = np.array([pr_auc(m[e], s[e]) for m, s, e in zip(motif, scores, evaluated)])
    return {"auroc": auroc, "aupr": aupr}


def ensemble_dispersion(raw_maps: np.ndarray, corrected_maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each model's map to the ensemble mean of the *raw* maps, per position.

    Args:
      raw_maps, corrected_maps: ``(M, N, L, A)`` maps of M models.

    Returns:
      ``(raw, corrected)`` L2 distances over the alphabet, each ``(M, N, L)``.
    """
    mean = np.mean(raw_maps, axis=0)
    return np.linalg.norm(raw_maps - mean, axis=-1), np.linalg.norm(corrected_maps - mean, axis=-1)


def binned_mean(values: np.ndarray, angles: np.ndarray, width: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of ``values`` in bins of |angle| of ``width`` degrees (90 in the last bin):
    ``(bin centres, means, counts)``, NaN for empty bins (e.g. the dispersion reduction by
    angle). Entries whose angle or value is not finite take no part."""
    edges = np.arange(0.0, 90.0 + width, width)
    angles, values = np.abs(np.ravel(angles)), np.ravel(values)
    finite = np.isfinite(angles) & np.isfinite(values)
    index = np.clip(np.digitize(angles[finite], edges) - 1, 0, len(edges) - 2)
    sums = np.bincount(index, weights=values[finite], minlength=len(edges) - 1)
    counts = np.bincount(index, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (edges[:-1] + edges[1:]) / 2, sums / counts, counts
