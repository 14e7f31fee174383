"""A multitask model of several peak sets, explained output by output.

Title: Explaining every output of a Basset-like multitask model
Description: make one labelled window per peak of several BED/narrowPeak files (one task
per file: e.g. a factor's ChIP-seq peaks and the cell's DNase peaks), each window labelled
by the peak sets it overlaps; train a Basset-like multitask CNN; explain all its outputs in
one pass (`target="all"`) and show where the tasks' corrected maps differ. By default it runs
on the ENCODE builder's test data shipped with the package (a CTCF ChIP-seq and a DNase
peak file on a 13 kb genome); give your own files for real data.

What you will learn:
- `keras_simplex.datasets.intervals` reads peaks (`read_bed`), centres windows on summits
  (`centered_windows`) and intersects peak sets (`overlaps_any`);
- `ks.Explainer(model, target="all")` returns `(N, T, L, A)` maps and `(N, T, L)` angles,
  computed in one pass per chunk (`keras-simplex attribute --targets all` on the command line);
- the gradient angles differ between the outputs of one model.

Run:

    python examples/multitask_peaks.py [--genome hg38.fa --peaks ctcf.narrowPeak dnase.narrowPeak
                                        --window 600] [--epochs 20] [--quick]
"""

import argparse
import json
import os
from pathlib import Path

import keras
import numpy as np

import keras_simplex as ks
from keras_simplex.datasets import encode_chipseq
from keras_simplex.datasets.encode import open_genome, read_window
from keras_simplex.datasets.intervals import Intervals, centered_windows, overlaps_any, read_bed

DUMMY = Path(encode_chipseq.__file__).parent / "dummy_data"


def labelled_windows(genome_path: str, peak_files: list[str], window: int) -> tuple[np.ndarray, np.ndarray]:
    """One window per peak of every file, centred on its summit, inside its chromosome:
    ``x (N, window, 4)`` and labels ``(N, T)`` (1 where the window overlaps a peak of task t)."""
    tasks = [read_bed(path) for path in peak_files]
    peaks = Intervals.concatenate(tasks)
    start, end = centered_windows(peaks, window)
    genome = open_genome(genome_path)
    inside = (start >= 0) & (end <= np.array([len(genome[c]) for c in peaks.chrom]))
    windows = Intervals(peaks.chrom[inside], start[inside], end[inside], np.full(inside.sum(), -1),
                        peaks.source[inside], peaks.line[inside])
    x = ks.one_hot_encode([read_window(genome, c, s, e) for c, s, e in zip(windows.chrom, windows.start, windows.end)])
    y = np.stack([overlaps_any(windows, task) for task in tasks], axis=1).astype(np.float32)
    return x, y


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genome", default=str(DUMMY / "genome.fa"), help="indexed genome FASTA")
    parser.add_argument("--peaks", nargs="+", help="one BED/narrowPeak file per task (default: the test data's "
                                                   "CTCF ChIP-seq and DNase peaks)")
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--output-dir", default="outputs/examples/multitask")
    parser.add_argument("--quick", action="store_true", help="1 epoch (for tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = 1
    peak_files = args.peaks or [str(DUMMY / "chip" / "ctcf" / "ctcf_peaks.narrowPeak"),
                                str(DUMMY / "dnase" / "dnase_peaks.narrowPeak")]
    names = [Path(p).name.split(".")[0] for p in peak_files]
    os.makedirs(args.output_dir, exist_ok=True)

    x, y = labelled_windows(args.genome, peak_files, args.window)
    print(f"{len(x)} windows of {args.window} nt; positives per task: "
          + ", ".join(f"{n} {int(c)}" for n, c in zip(names, y.sum(0))))
    order = np.random.default_rng(0).permutation(len(x))
    cut = max(1, int(0.8 * len(x)))
    train, valid = order[:cut], order[cut:] if len(x) - cut else order[:1]

    # A Basset-like multitask CNN (Kelley et al. 2016), one sigmoid output per task.
    keras.utils.set_random_seed(0)
    model = ks.models.basset(input_length=args.window, num_outputs=len(names))
    ks.train_paper_protocol(model, (x[train], y[train]), (x[valid], y[valid]), epochs=args.epochs, seed=0,
                            batch_size=32, verbose=0)

    # Every output explained at once: maps (N, T, L, A), angles (N, T, L).
    result = ks.Explainer(model, target="all", logits=True).saliency(x[valid])
    summary = {}
    for t, name in enumerate(names):
        angles = result.angles[:, t]
        summary[name] = {"mean_abs_angle": float(np.abs(angles).mean()),
                         "above_45_percent": float(100 * (np.abs(angles) > 45).mean())}
        print(f"output {t} ({name}): mean |angle| {summary[name]['mean_abs_angle']:.1f} deg, "
              f"{summary[name]['above_45_percent']:.1f}% of positions above 45 deg")
    if len(names) > 1:  # how differently the tasks read the same sequences
        a, b = (result.corrected[:, t].reshape(len(result.corrected), -1) for t in (0, 1))
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        summary["task_map_cosine_mean"] = float(cosine.mean())
        print(f"cosine between the {names[0]} and {names[1]} corrected maps, per window: mean {cosine.mean():.3f}")
    np.savez(os.path.join(args.output_dir, "maps.npz"), x=x[valid], corrected=result.corrected, angles=result.angles,
             tasks=np.array(names))
    with open(os.path.join(args.output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"wrote maps.npz ((N, T, L, A) corrected maps) and summary.json to {args.output_dir}")
    return summary


if __name__ == "__main__":
    main()
