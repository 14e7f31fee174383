"""Figures in the paper's style, written to PNG files (matplotlib, Agg backend; logomaker)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_simplex.atomic import atomic_output  # noqa: E402
from keras_simplex.encoding import DNA  # noqa: E402


def _logo(ax, matrix: np.ndarray, alphabet: str, title: str, start: int) -> None:
    import logomaker
    import pandas as pd

    frame = pd.DataFrame(matrix, columns=list(alphabet), index=np.arange(start, start + len(matrix)))
    logomaker.Logo(frame, ax=ax, color_scheme="classic" if alphabet == DNA else "chemistry")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel(title)


def plot_attribution_logos(
    path: str | os.PathLike,
    raw: np.ndarray,
    angles: np.ndarray,
    corrected: np.ndarray,
    reference: np.ndarray | None = None,
    start: int = 0,
    end: int | None = None,
    alphabet: str = DNA,
    reference_label: str = "ground truth",
    title: str | None = None,
) -> None:
    """The paper's Fig. 3a for one sequence patch: raw saliency logo, per-position angle,
    corrected saliency logo and (optionally) a reference logo (e.g. ground truth - 0.25).

    Args:
      raw, corrected, reference: ``(L, A)`` maps of one sequence (the logos show the values
        at every letter, so pass maps times the one-hot input for grad-times-input logos).
      angles: ``(L,)`` angles in degrees.
      start, end: the patch to draw.
    """
    end = len(raw) if end is None else end
    rows = 4 if reference is not None else 3
    fig, axes = plt.subplots(rows, 1, figsize=(max(6, (end - start) * 0.18), 1.6 * rows), sharex=True)
    _logo(axes[0], raw[start:end], alphabet, "saliency", start)
    axes[1].bar(np.arange(start, end), angles[start:end], color=np.where(np.abs(angles[start:end]) > 45, "crimson", "gray"))
    axes[1].axhline(0, color="black", linewidth=0.5)
    axes[1].set_ylim(-90, 90)
    axes[1].set_ylabel("angle (deg)")
    _logo(axes[2], corrected[start:end], alphabet, "corrected", start)
    if reference is not None:
        _logo(axes[3], reference[start:end], alphabet, reference_label, start)
    axes[-1].set_xlabel("position")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def _finish(fig, ax, path, xlabel: str, ylabel: str, title: str) -> None:
    """Label, legend, title, and write the figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_angle_densities(path: str | os.PathLike, groups: Mapping[str, np.ndarray], title: str = "") -> None:
    """Density of angles (degrees) for each named group (e.g. motif vs background positions)."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.linspace(-90, 90, 91)
    for label, values in groups.items():
        values = np.ravel(values)
        ax.hist(values, bins=bins, density=True, histtype="step", linewidth=1.5,
                label=f"{label} (std {values.std():.1f})")
    _finish(fig, ax, path, "angle between gradient and simplex (degrees)", "density", title)


def plot_large_angle_histogram(path: str | os.PathLike, percentages: np.ndarray, thresholds: Sequence[float], title: str = "") -> None:
    """Histogram over sequences of the percent of positions above each angle threshold."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for column, threshold in enumerate(thresholds):
        ax.hist(percentages[:, column], bins=np.linspace(0, 100, 41), alpha=0.6, label=f"> {threshold:g} deg")
    _finish(fig, ax, path, "% of positions in a sequence", "sequences", title)


def plot_improvement_vs_angle(path: str | os.PathLike, angles: np.ndarray, improvement: np.ndarray, title: str = "") -> None:
    """Per-position improvement (corrected minus raw cosine) against the angle, with the
    correction's limit ``1 - cos(angle)``."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.scatter(angles, improvement, s=2, alpha=0.3, color="steelblue")
    grid = np.linspace(-90, 90, 181)
    ax.plot(grid, 1 - np.cos(np.radians(grid)), color="crimson", label="1 - cos(angle)")
    ax.axhline(0, color="black", linewidth=0.5)
    _finish(fig, ax, path, "angle (degrees)", "cosine improvement", title)


def plot_study_curve(
    path: str | os.PathLike,
    values: Sequence[float],
    auroc: np.ndarray,
    angle_std: np.ndarray,
    xlabel: str,
    log_x: bool = True,
    title: str = "",
) -> None:
    """Classification AUROC (red) and angle standard deviation (blue) against a study
    parameter (initialization sigma, regularization strength); arrays ``(trials, values)``,
    shown as mean with a standard-deviation band."""
    fig, left = plt.subplots(figsize=(5, 3.2))
    right = left.twinx()
    x = np.asarray(values, np.float64)
    for ax, data, color, label in ((left, auroc, "crimson", "test AUROC"), (right, angle_std, "steelblue", "angle std (deg)")):
        data = np.atleast_2d(data)
        mean, spread = np.nanmean(data, axis=0), np.nanstd(data, axis=0)
        ax.plot(x, mean, "o-", color=color)
        ax.fill_between(x, mean - spread, mean + spread, color=color, alpha=0.2)
        ax.set_ylabel(label, color=color)
    if log_x:
        left.set_xscale("symlog", linthresh=min(v for v in x if v > 0))
    left.set_xlabel(xlabel)
    left.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path) -> None:
    """Write the figure atomically (its format from the extension) and close it."""
    try:
        with atomic_output(path) as temporary:
            fig.savefig(temporary, dpi=120)
    finally:
        plt.close(fig)
