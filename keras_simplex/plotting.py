"""Figures in the paper's style (matplotlib; logomaker for sequence logos).

Every function draws on axes you pass (``ax=``, or ``axes=`` for the multi-panel logos) or on a
new figure, writes it to ``path`` when one is given (atomically; the format from the
extension) and returns the figure, so it works in notebooks and in scripts alike. Importing
this module does not choose a matplotlib backend.
"""

from __future__ import annotations

import os
import textwrap
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from keras_simplex.atomic import atomic_output, check_output_folder
from keras_simplex.encoding import DNA, RNA
from keras_simplex.extras import require

plt = require("matplotlib.pyplot", "plot", "plotting")


def _logo(ax, matrix: np.ndarray, alphabet: str, title: str, start: int) -> None:
    logomaker = require("logomaker", "plot", "sequence logos")
    import pandas as pd  # a dependency of logomaker

    frame = pd.DataFrame(matrix, columns=list(alphabet), index=np.arange(start, start + len(matrix)))
    nucleotides = alphabet.upper() in (DNA, RNA)  # classic has U
    logomaker.Logo(frame, ax=ax, color_scheme="classic" if nucleotides else "chemistry")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel(title)


def plot_attribution_logos(
    path: str | os.PathLike | None,
    raw: np.ndarray,
    angles: np.ndarray,
    corrected: np.ndarray,
    reference: np.ndarray | None = None,
    start: int = 0,
    end: int | None = None,
    alphabet: str = DNA,
    reference_label: str = "ground truth",
    title: str | None = None,
    axes: Sequence[Any] | None = None,
    label: str = "saliency",
) -> Any:
    """The paper's Fig. 3a for one sequence patch: raw logo (saliency in the paper),
    per-position angle, corrected logo and (optionally) a reference logo (e.g. ground truth
    - 0.25).

    Args:
      raw, corrected, reference: ``(L, A)`` maps of one sequence, all of the same shape (the
        logos show the values at every letter, so pass maps times the one-hot input for
        grad-times-input logos).
      angles: ``(L,)`` angles in degrees.
      alphabet: the ``A`` letters; DNA and RNA (in either case) get nucleotide colours, any
        other alphabet amino-acid colours.
      start, end: the patch to draw (positions ``start .. end - 1`` on the x axis).
      label: the method's name, on the raw logo (the corrected one is labelled "corrected").
      path: the file to write (None: only draw).
      axes: 3 (4 with a reference) matplotlib axes to draw on; None: a new figure.

    Returns:
      The matplotlib figure.
    """
    end = len(raw) if end is None else end
    for name, values in (("raw", raw), ("corrected", corrected), ("reference", reference)):
        if values is not None and np.ndim(values) != 2:
            raise ValueError(f"{name} must be one sequence's (L, A) map, got shape {np.shape(values)} (pick one: "
                             f"maps[i])")
    for name, values, shape in (("angles", angles, np.shape(raw)[:1]), ("corrected", corrected, np.shape(raw)),
                                ("reference", reference, np.shape(raw))):
        if values is not None and np.shape(values) != shape:
            raise ValueError(f"{name} has shape {np.shape(values)}, the raw map {np.shape(raw)}: {name} must have "
                             f"shape {shape}")
    if np.shape(raw)[1] != len(alphabet):
        raise ValueError(f"the maps have {np.shape(raw)[1]} letters per position, the alphabet {alphabet!r} "
                         f"{len(alphabet)}: pass alphabet=")
    for name, values in (("raw", raw), ("corrected", corrected), ("reference", reference)):
        if values is not None and not np.isfinite(values).all():
            raise ValueError(f"{name} holds NaN or infinite values; a logo needs finite ones")
    if not 0 <= start < end <= len(raw):
        raise ValueError(f"start={start}, end={end}: need 0 <= start < end <= L = {len(raw)}")
    rows = 4 if reference is not None else 3
    if axes is None:
        fig, axes = plt.subplots(rows, 1, figsize=(max(6, (end - start) * 0.18), 1.6 * rows), sharex=True)
    elif len(axes) != rows:
        raise ValueError(f"axes: {rows} axes are needed (raw, angle, corrected{', reference' if rows == 4 else ''}), got {len(axes)}")
    else:
        fig = axes[0].figure
    _logo(axes[0], raw[start:end], alphabet, label, start)
    axes[1].bar(np.arange(start, end), angles[start:end], color=np.where(np.abs(angles[start:end]) > 45, "crimson", "gray"))
    axes[1].axhline(0, color="black", linewidth=0.5)
    axes[1].set_ylim(-90, 90)
    axes[1].set_ylabel("angle (deg)")
    _logo(axes[2], corrected[start:end], alphabet, "corrected", start)
    if reference is not None:
        _logo(axes[3], reference[start:end], alphabet, reference_label, start)
    axes[-1].set_xlabel("position")
    for ax in axes:  # the patch only (logomaker's own limits start at 0)
        ax.set_xlim(start - 0.5, end - 0.5)
    if title:
        _fit(fig.suptitle(title), fig.get_figwidth())
    fig.tight_layout()
    return _save(fig, path)


def _axes(ax: Any) -> tuple[Any, Any]:
    """``(figure, axes)``: the given axes and their figure, or a new 5 x 3.2 in figure."""
    return (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3.2))


def _fit(text: Any, width: float) -> None:
    """Break a title's lines into lines that fit ``width`` inches (about 0.6 em a character)."""
    characters = max(20, int(width * 72 / (0.6 * text.get_fontsize())))
    text.set_text("\n".join(textwrap.fill(line, characters) for line in text.get_text().splitlines()))


def _finish(fig, ax, path, xlabel: str, ylabel: str, title: str, legend: Mapping[str, Any] | None = None) -> Any:
    """Label, legend (``legend``: options of ``ax.legend``), title (in lines as wide as the
    axes), and write the figure; returns it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, **(legend or {}))
    _fit(ax.set_title(title, fontsize=9), ax.get_position().width * fig.get_figwidth())
    fig.tight_layout()
    return _save(fig, path)


def plot_angle_densities(path: str | os.PathLike | None, groups: Mapping[str, np.ndarray], title: str = "", ax: Any = None) -> Any:
    """Density of angles (degrees) for each named group (e.g. motif vs background positions)."""
    fig, ax = _axes(ax)
    bins = np.linspace(-90, 90, 91)
    for label, values in groups.items():
        values = np.ravel(values)
        ax.hist(values, bins=bins, density=True, histtype="step", linewidth=1.5,
                label=f"{label} (std {values.std():.1f})")
    return _finish(fig, ax, path, "angle between gradient and simplex (degrees)", "density", title)


def plot_large_angle_histogram(path: str | os.PathLike | None, percentages: np.ndarray, thresholds: Sequence[float], title: str = "", ax: Any = None) -> Any:
    """Histogram over sequences of the percent of positions above each angle threshold;
    ``percentages``: ``(N, T)``, N sequences by the T ``thresholds``."""
    if np.ndim(percentages) != 2 or np.shape(percentages)[1] != len(thresholds):
        raise ValueError(f"percentages must be (N, T) = (sequences, {len(thresholds)} thresholds), got shape "
                         f"{np.shape(percentages)}")
    fig, ax = _axes(ax)
    for column, threshold in enumerate(thresholds):
        ax.hist(percentages[:, column], bins=np.linspace(0, 100, 41), alpha=0.6, label=f"> {threshold:g} deg")
    return _finish(fig, ax, path, "% of positions in a sequence", "sequences", title)


def plot_improvement_vs_angle(path: str | os.PathLike | None, angles: np.ndarray, improvement: np.ndarray, title: str = "", ax: Any = None) -> Any:
    """Per-position improvement (corrected minus raw cosine) against the angle, with the
    correction's limit ``1 - cos(angle)``."""
    fig, ax = _axes(ax)
    ax.scatter(angles, improvement, s=2, alpha=0.3, color="steelblue")
    grid = np.linspace(-90, 90, 181)
    ax.plot(grid, 1 - np.cos(np.radians(grid)), color="crimson", label="1 - cos(angle)")
    ax.axhline(0, color="black", linewidth=0.5)
    return _finish(fig, ax, path, "angle (degrees)", "cosine improvement", title)


def plot_reduction_vs_angle(path: str | os.PathLike | None, angles: np.ndarray, reduction: np.ndarray, title: str = "",
                            ax: Any = None) -> Any:
    """Percent reduction of a distance by the correction (e.g. each model's distance to an
    ensemble's mean map) against the |angle| bin centre (degrees)."""
    fig, ax = _axes(ax)
    ax.plot(angles, reduction, marker="o", color="steelblue", label="corrected vs raw")
    ax.axhline(0, color="black", linewidth=0.5)
    return _finish(fig, ax, path, "|angle| (degrees)", "% reduction by the correction", title)


def plot_study_curve(
    path: str | os.PathLike | None,
    values: Sequence[float],
    auroc: np.ndarray,
    angle_std: np.ndarray,
    xlabel: str,
    log_x: bool = True,
    title: str = "",
    ax: Any = None,
) -> Any:
    """Classification AUROC (red) and angle standard deviation (blue) against a study
    parameter (initialization sigma, regularization strength); arrays ``(seeds, values)`` (or
    ``(values,)`` for one seed), shown as the mean over seeds with a band of plus or minus the
    sample standard deviation (ddof=1; none where a value has one seed).

    Args:
      log_x: a symmetric-log x axis, linear below the smallest positive value (so 0 can be
        shown); a linear axis when no value is positive.
    """
    fig, left = _axes(ax)
    right = left.twinx()
    x = np.asarray(values, np.float64)
    handles, labels = [], ["test AUROC", "angle std (deg)"]
    for ax, data, color, label in ((left, auroc, "crimson", labels[0]), (right, angle_std, "steelblue", labels[1])):
        data = np.atleast_2d(data)
        with warnings.catch_warnings():  # one seed has no sample s.d. (NaN: no band)
            warnings.filterwarnings("ignore", "Degrees of freedom <= 0", RuntimeWarning)
            mean, spread = np.nanmean(data, axis=0), np.nanstd(data, axis=0, ddof=1)
        line, = ax.plot(x, mean, "o-", color=color)
        handles.append((line, ax.fill_between(x, mean - spread, mean + spread, color=color, alpha=0.2)))
        ax.set_ylabel(label, color=color)
    if log_x and (x > 0).any():
        left.set_xscale("symlog", linthresh=x[x > 0].min())
    seeds = len(np.atleast_2d(auroc))
    return _finish(fig, left, path, xlabel, labels[0], title, {
        "handles": handles, "labels": labels, "title": f"mean ± s.d. over {seeds} seeds" if seeds > 1 else None})


def use_file_backend() -> None:
    """Draw without a display (matplotlib's Agg backend): for programs that own their process
    and only write figures to files (the demo, the experiments, the command line)."""
    plt.switch_backend("Agg")


def close_figure(fig: Any) -> None:
    """Release a figure drawn for a file (scripts drawing many figures should)."""
    plt.close(fig)


def _save(fig, path) -> Any:
    """Write the figure to ``path`` atomically (its format from the extension, PNG without
    one, as matplotlib does), if given; returns the figure."""
    if path is not None:
        check_output_folder(os.fspath(path))
        suffix = os.path.splitext(os.fspath(path))[1][1:].lower()
        with atomic_output(path) as temporary:
            fig.savefig(temporary, dpi=120, format=suffix or "png")
    return fig
