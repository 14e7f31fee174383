"""The main job on an embedded default: synthetic data -> train a paper CNN -> raw and
corrected saliency -> metrics table, angle summary and a logo figure.

    python -m keras_simplex.demo [--output-dir outputs/demo] [--sequences 20000] [--epochs 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import keras
import numpy as np

from keras_simplex.atomic import write_json
from keras_simplex import models, plotting
from keras_simplex.explainer import Explainer
from keras_simplex.datasets import synthetic
from keras_simplex.geometry import DEFAULT_ANGLE_THRESHOLDS
from keras_simplex.metrics import cosine_similarity, interpretability_scores, roc_auc
from keras_simplex.training import train_paper_protocol


def attribution_report(raw: np.ndarray, corrected: np.ndarray, x: np.ndarray, ground_truth: np.ndarray) -> dict:
    """Mean cosine, AUROC and AUPR against ground truth, before and after the correction."""
    report = {}
    for name, maps in (("raw", raw), ("corrected", corrected)):
        scores = interpretability_scores(maps, x, ground_truth)
        report[name] = {
            "cosine": float(np.mean(cosine_similarity(maps, ground_truth))),
            "auroc": float(np.nanmean(scores["auroc"])),
            "aupr": float(np.nanmean(scores["aupr"])),
        }
    return report


def angle_report(angles: np.ndarray, thresholds=DEFAULT_ANGLE_THRESHOLDS) -> dict:
    """Mean |angle|, standard deviation and percent of positions above each threshold."""
    report = {"mean_abs": float(np.abs(angles).mean()), "std": float(angles.std())}
    report.update({f"above_{t:g}": float(100 * (np.abs(angles) > t).mean()) for t in thresholds})
    return report


def train_demo_model(sequences: int = 20000, epochs: int = 20, seed: int = 0, first_activation: str = "exponential",
                     verbose: int = 2) -> tuple[keras.Model, synthetic.SyntheticData, float]:
    """The demo's synthetic data (``sequences``, half positive, L = 200) and a CNN-deep trained
    on it: ``(model, data, test AUROC)``."""
    recipe = dataclasses.replace(synthetic.ORIGINAL, num_positives=sequences // 2, num_negatives=sequences // 2, seed=seed)
    data = synthetic.generate(recipe)
    train, valid, test = (data.splits[s] for s in ("train", "validation", "test"))
    print(f"synthetic data: {len(data.y)} sequences x {recipe.length} nt (train {len(train)}, "
          f"validation {len(valid)}, test {len(test)})")
    keras.utils.set_random_seed(seed)  # the initial weights too
    model = models.cnn_deep(first_activation=first_activation)
    print(f"training {model.name} ({model.count_params():,} parameters) for up to {epochs} epochs on CPU ...")
    train_paper_protocol(model, (data.x[train], data.y[train]), (data.x[valid], data.y[valid]),
                         epochs=epochs, seed=seed, verbose=verbose)
    return model, data, float(roc_auc(data.y[test], model.predict(data.x[test], verbose=0)[:, 0]))


def run_demo(output_dir: str = "outputs/demo", sequences: int = 20000, epochs: int = 20, seed: int = 0,
             first_activation: str = "exponential", verbose: int = 2) -> dict:
    """Run the demo and return its results (also written to ``output_dir/results.json``)."""
    os.makedirs(output_dir, exist_ok=True)
    start = time.perf_counter()
    model, data, test_auroc = train_demo_model(sequences, epochs, seed, first_activation, verbose)
    test = data.splits["test"]
    length = data.x.shape[1]
    positives = test[data.y[test] == 1][:500]
    x, truth = data.x[positives], data.ground_truth[positives]
    result = Explainer(model).saliency(x)
    table = attribution_report(result.raw, result.corrected, x, truth)
    angles = angle_report(result.angles)

    print(f"\ntest AUROC {test_auroc:.3f}; saliency maps of {len(x)} positive test sequences vs ground truth:")
    print(f"{'':10s} {'cosine':>8s} {'AUROC':>8s} {'AUPR':>8s}")
    for name in ("raw", "corrected"):
        row = table[name]
        print(f"{name:10s} {row['cosine']:8.3f} {row['auroc']:8.3f} {row['aupr']:8.3f}")
    change = {k: table["corrected"][k] - table["raw"][k] for k in table["raw"]}
    print(f"{'change':10s} {change['cosine']:+8.3f} {change['auroc']:+8.3f} {change['aupr']:+8.3f}")
    print(f"angles between gradients and the simplex: mean |angle| {angles['mean_abs']:.1f} deg, std "
          f"{angles['std']:.1f} deg; positions above 30/45/60 deg: {angles['above_30']:.1f}% / "
          f"{angles['above_45']:.1f}% / {angles['above_60']:.1f}%")

    # A representative sequence: median cosine improvement; a patch around its first motif. It is
    # named by its index in the test split (data.splits["test"]) and among the sequences explained.
    gain = cosine_similarity(result.corrected, truth) - cosine_similarity(result.raw, truth)
    pick = int(np.argsort(gain)[len(gain) // 2])
    shown = {"test_split_index": int(np.flatnonzero(data.y[test] == 1)[pick]), "explained_index": pick}
    first = data.annotations(positives[pick])[0][1]
    patch = (max(0, first - 15), min(length, first + 45))
    figure = os.path.join(output_dir, "saliency_logos.png")
    plotting.close_figure(plotting.plot_attribution_logos(
        figure, result.raw[pick], result.angles[pick], result.corrected[pick], truth[pick] - 0.25, *patch,
        title=f"{model.name}, sequence {shown['test_split_index']} of the test split (explained sequence {pick}): "
              f"raw, angle, corrected, ground truth",
    ))
    results = {"model": model.name, "test_auroc": float(test_auroc), "sequences": len(x),
               "saliency": table, "change": change, "angles": angles, "figure": figure, "figure_sequence": shown,
               "seconds": time.perf_counter() - start}
    write_json(os.path.join(output_dir, "results.json"), results, indent=2)
    print(f"figure: {figure}; results: {os.path.join(output_dir, 'results.json')} "
          f"({results['seconds']:.0f} s)")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_simplex.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="outputs/demo")
    parser.add_argument("--sequences", type=int, default=20000, help="synthetic sequences (half positive)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-activation", default="exponential", choices=["exponential", "relu"])
    args = parser.parse_args(argv)
    plotting.use_file_backend()  # this program owns the process and writes figures to files
    run_demo(args.output_dir, args.sequences, args.epochs, args.seed, args.first_activation)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
