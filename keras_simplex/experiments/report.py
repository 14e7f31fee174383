"""The markdown report and CSV tables of a reproduction run."""

from __future__ import annotations

import csv

import numpy as np

from keras_simplex.atomic import atomic_output, write_text
from keras_simplex.experiments.common import ReproductionConfig
from keras_simplex.experiments.ensemble import BIN_WIDTH

METRICS = ("cosine", "auroc", "aupr")


def _mean_std(values) -> str:
    """``"mean ± s.d."`` over trials, the sample standard deviation (ddof 1); the mean alone for one."""
    values = np.asarray(values, np.float64)
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values.mean():.3f}"


def correction_tables(config: ReproductionConfig, rows: list[dict], evaluated: int) -> list[str]:
    lines = ["## (a) Correction effect (Fig. 2, appendix Fig. 5)", "",
             f"Mean ± standard deviation over {len({r['seed'] for r in rows})} seed(s) of per-sequence scores on {evaluated} "
             "positive test sequences; change = corrected minus raw. Test AUROC is the classification performance.", "",
             "| model | test AUROC | method | cosine raw | cosine change | AUROC raw | AUROC change | AUPR raw | AUPR change |",
             "|---|---|---|---|---|---|---|---|---|"]
    with atomic_output(config.path("tables", "correction.csv")) as temporary, open(temporary, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "seed", "test_auroc", "method"] + [f"{m}_{k}" for m in METRICS for k in ("raw", "corrected", "change")])
        for row in rows:
            for method, scores in row["methods"].items():
                writer.writerow([row["model"], row["seed"], row["test_auroc"], method]
                                + [scores[k][m] for m in METRICS for k in ("raw", "corrected", "change")])
    for model in dict.fromkeys(r["model"] for r in rows):
        trials = [r for r in rows if r["model"] == model]
        for method in config.methods:
            cells = []
            for metric in METRICS:
                cells += [_mean_std([t["methods"][method]["raw"][metric] for t in trials]),
                          _mean_std([t["methods"][method]["change"][metric] for t in trials])]
            lines.append(f"| {model} | {_mean_std([t['test_auroc'] for t in trials])} | {method} | " + " | ".join(cells) + " |")
    return lines + [""]


def angle_tables(config: ReproductionConfig, rows: list[dict]) -> list[str]:
    lines = ["## (b) Angles (Figs. 3c-d, 4a, 12)", "",
             "Saliency angles on the evaluation set: standard deviation at motif and background positions, mean percent "
             "of positions per sequence above 30/45/60 degrees, share of motif positions whose cosine change lies within "
             "the 1 - cos(angle) envelope (a check: the ground truth minus 0.25 sums to 0 at each position, so the "
             "change is bounded by the envelope exactly and anything below 1.000 is an error), and mean |grad x input| "
             "at background positions before and after correction.", "",
             "| model | std motif | std background | % > 30 | % > 45 | % > 60 | within envelope | background |gxi| raw → corrected |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["percent_above"]
        b = r["background_abs_grad_x_input"]
        lines.append(f"| {r['model']} | {r['angle_std_motif']:.1f} | {r['angle_std_background']:.1f} | {p['30']:.1f} | "
                     f"{p['45']:.1f} | {p['60']:.1f} | {r['fraction_within_envelope']:.3f} | {b['raw']:.4f} → {b['corrected']:.4f} |")
    figures = [f"![angles {r['model']}](figures/angles_{r['model']}_seed{r['seed']}.png)" for r in rows]
    return lines + [""] + figures + [""]


def study_table(title: str, label: str, rows: list[dict], figure: str) -> list[str]:
    lines = [title, "", "Mean ± standard deviation over seeds.", "",
             f"| {label} | test AUROC | angle std | saliency cosine (raw) | saliency cosine (corrected) |",
             "|---|---|---|---|---|"]
    for value in sorted({r["value"] for r in rows}):
        trials = [r for r in rows if r["value"] == value]
        lines.append(f"| {value:g} | {_mean_std([t['test_auroc'] for t in trials])} | {_mean_std([t['angle_std'] for t in trials])} | "
                     f"{_mean_std([t['saliency_raw']['cosine'] for t in trials])} | "
                     f"{_mean_std([t['saliency_corrected']['cosine'] for t in trials])} |")
    return lines + ["", f"![{label}](figures/{figure}.png)", ""]


def constraint_table(rows: list[dict]) -> list[str]:
    lines = ["## (e) Zero-mean first layer vs post-hoc correction", "",
             "| model | test AUROC | angle std | saliency cosine | AUROC | AUPR |", "|---|---|---|---|---|---|"]
    for r in rows:
        for label, part, maps in (("unconstrained, raw", r["unconstrained"], "saliency_raw"),
                                  ("unconstrained, corrected", r["unconstrained"], "saliency_corrected"),
                                  ("zero-mean constraint, raw", r["constrained"], "saliency_raw")):
            s = part[maps]
            lines.append(f"| {label} (seed {r['seed']}) | {part['test_auroc']:.3f} | {part['angle_std']:.2f} | "
                         f"{s['cosine']:.3f} | {s['auroc']:.3f} | {s['aupr']:.3f} |")
    return lines + [""]


def ensemble_table(rows: list[dict]) -> list[str]:
    lines = ["## (f) Ensemble: distance to the ensemble's mean map by angle (Figs. 3e, 10)", ""]
    for r in rows:
        lines += [f"{len(r['members'])} models ({', '.join(r['members'])}); every position of the evaluation set, "
                  f"once per model (model-positions). Each model is part of the mean it is compared to (as in the "
                  f"paper's code), which lowers the reduction with few models. Overall reduction of the distance to "
                  f"the ensemble's raw mean map by the correction: {r['overall_reduction_percent']:.1f}%.", "",
                  "| abs(angle) bin (deg) | model-positions | raw distance | corrected distance | reduction |",
                  "|---|---|---|---|---|"]
        for angle, count, raw, corrected, reduction in zip(r["angle"], r["positions"], r["raw"], r["corrected"],
                                                            r["reduction_percent"]):
            if count:
                lines.append(f"| {angle - BIN_WIDTH / 2:.0f}-{angle + BIN_WIDTH / 2:.0f} | {count} | {raw:.4f} | "
                             f"{corrected:.4f} | {reduction:.1f}% |")
        lines += ["", f"![ensemble]({r['figure']})", ""]
    return lines


def write_report(config: ReproductionConfig, results: dict[str, list[dict]], seconds: float, commands: dict[str, str],
                 evaluated: int) -> str:
    """``report.md`` of ``results`` (per experiment), naming the command that made each
    (``commands``, per experiment) and the number of sequences ``evaluated``."""
    made: dict[str, list[str]] = {}
    for name in results:
        made.setdefault(commands.get(name) or "(not recorded by the version that ran it)", []).append(name)
    lines = ["# Reproduction report", ""]
    lines += ([f"Command: `{next(iter(made))}`"] if len(made) == 1 else
              ["Commands (experiments kept from earlier runs in this folder are reported too):", ""]
              + [f"- {', '.join(names)}: `{command}`" for command, names in made.items()])
    lines += ["",
             f"Run time (the last run): {seconds / 60:.1f} min. Data: "
             + (f"synthetic `original` recipe, {config.sequences} sequences" if config.synthetic else f"`{config.data}`")
             + f"; {config.epochs} epochs at most.", ""]
    if "correction" in results:
        lines += correction_tables(config, results["correction"], evaluated)
    if "angles" in results:
        lines += angle_tables(config, results["angles"])
    if "initialization" in results:
        lines += study_table("## (c) Initialization scale (Figs. 4c, 14)", "sigma", results["initialization"], "initialization")
    if "regularization" in results:
        lines += study_table("## (d) Angle regularization (Figs. 4d, 15)", "strength", results["regularization"], "regularization")
    if "constraint" in results:
        lines += constraint_table(results["constraint"])
    if "ensemble" in results:
        lines += ensemble_table(results["ensemble"])
    path = config.path("report.md")
    write_text(path, "\n".join(lines))
    return path
