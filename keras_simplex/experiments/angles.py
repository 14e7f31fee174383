"""(b) Where the large angles are: angle distributions at motif and background positions,
large-angle fractions per sequence, improvement against angle (Figs. 3, 4a, 8, 12)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from keras_simplex import plotting
from keras_simplex.explainer import explainer_for
from keras_simplex.experiments.common import Data, ReproductionConfig, build_model, run_trials, trained_model
from keras_simplex.experiments.correction import model_key
from keras_simplex.geometry import DEFAULT_ANGLE_THRESHOLDS, large_angle_fraction
from keras_simplex.metrics import cosine_similarity, motif_and_background, position_cosine


def trials(config: ReproductionConfig, data: Data) -> dict[str, Callable[[], dict]]:
    """Each trial's key and the function computing its row: every model, the first seed."""
    seed = config.seeds[0]
    motif, background = motif_and_background(data.eval_truth)

    def trial(name: str, key: str) -> Callable[[], dict]:
        def compute():
            model = trained_model(config, data, key, seed, lambda: build_model(name))
            result = explainer_for(model).saliency(data.eval_x)
            angles = result.angles
            percent = 100 * large_angle_fraction(angles, DEFAULT_ANGLE_THRESHOLDS).numpy()
            gain = position_cosine(result.corrected, data.eval_truth) - position_cosine(result.raw, data.eval_truth)
            plotting.close_figure(plotting.plot_angle_densities(
                config.path("figures", f"angles_{key}.png"),
                {"motif positions": angles[motif], "background positions": angles[background]},
                title=f"{name}: saliency angles",
            ))
            plotting.close_figure(plotting.plot_large_angle_histogram(
                config.path("figures", f"large_angles_{key}.png"), percent, DEFAULT_ANGLE_THRESHOLDS, title=name
            ))
            plotting.close_figure(plotting.plot_improvement_vs_angle(
                config.path("figures", f"improvement_vs_angle_{key}.png"), angles[motif], gain[motif], title=name
            ))
            sequence_gain = cosine_similarity(result.corrected, data.eval_truth) - cosine_similarity(result.raw, data.eval_truth)
            pick = int(np.argsort(sequence_gain)[len(sequence_gain) // 2])
            first = int(np.flatnonzero(motif[pick])[0])
            window = (max(0, first - 15), min(data.eval_x.shape[1], first + 45))
            plotting.close_figure(plotting.plot_attribution_logos(
                config.path("figures", f"logos_{key}.png"), result.raw[pick], angles[pick], result.corrected[pick],
                data.eval_truth[pick] - 0.25, *window, title=f"{name}: evaluation sequence {pick}",
            ))
            within = np.abs(gain[motif]) <= 1 - np.cos(np.radians(angles[motif])) + 1e-6
            return {
                "model": name, "seed": seed,
                "angle_std_motif": float(angles[motif].std()),
                "angle_std_background": float(angles[background].std()),
                "percent_above": {f"{t:g}": float(percent[:, i].mean()) for i, t in enumerate(DEFAULT_ANGLE_THRESHOLDS)},
                "fraction_within_envelope": float(within.mean()),
                "background_abs_grad_x_input": {
                    "raw": float(np.abs((result.raw * data.eval_x).sum(-1))[background].mean()),
                    "corrected": float(np.abs((result.corrected * data.eval_x).sum(-1))[background].mean()),
                },
            }

        return compute

    return {model_key(name, seed): trial(name, model_key(name, seed)) for name in config.models}


def run(config: ReproductionConfig, data: Data) -> list[dict]:
    return run_trials(config, "angles", "b", trials(config, data))
