"""(f) The in-vivo analysis on an ensemble (Fig. 3e, 10): with no ground truth, the ensemble's
mean raw saliency map stands in for it. Per position, the distance of each model's raw and
corrected map to that mean, binned by the model's gradient angle there: the correction should
shrink the distance more the larger the angle (paper: ~0% near 0 deg, ~40% at 45 deg, 65-90%
near 90 deg)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from keras_simplex import plotting
from keras_simplex.experiments.common import Data, ReproductionConfig, build_model, log, run_trials, trained_model
from keras_simplex.explainer import explainer_for
from keras_simplex.metrics import binned_mean, ensemble_dispersion

BIN_WIDTH = 5.0  # degrees


def ensemble_members(config: ReproductionConfig) -> list[tuple[str, int, int]]:
    """``(key, first-layer filters, seed)`` of each member: CNN-deep-exp with widths spread
    over the paper's 12-30 and consecutive seeds (keys name the dataset unless synthetic)."""
    widths = np.linspace(12, 30, config.ensemble_size).round().astype(int)
    prefix = "" if config.synthetic else config.data.replace("/", "_") + "_"
    return [(f"{prefix}ensemble_w{w}_seed{config.seeds[0] + i}", int(w), config.seeds[0] + i)
            for i, w in enumerate(widths)]


def dispersion_by_angle(raw: np.ndarray, corrected: np.ndarray, angles: np.ndarray) -> dict[str, list[float]]:
    """Mean distance to the ensemble's raw mean map (raw and corrected maps of M models,
    ``(M, N, L, A)``) per ``BIN_WIDTH``-degree bin of |angle| ``(M, N, L)``, and the reduction
    (percent) the correction brings in each bin; ``positions`` counts model-positions (each of
    the M models' N x L positions). Each model is part of the mean it is compared to, as in the
    paper's code: with few models that shrinks both distances and the reduction (2 models: near
    0 by construction), so use 5 or more."""
    d_raw, d_corrected = ensemble_dispersion(raw, corrected)
    centres, mean_raw, counts = binned_mean(d_raw, angles, BIN_WIDTH)
    _, mean_corrected, _ = binned_mean(d_corrected, angles, BIN_WIDTH)
    with np.errstate(invalid="ignore", divide="ignore"):
        reduction = 100 * (1 - mean_corrected / mean_raw)
    return {"angle": centres.tolist(), "raw": mean_raw.tolist(), "corrected": mean_corrected.tolist(),
            "reduction_percent": reduction.tolist(), "positions": counts.tolist(),
            "overall_reduction_percent": float(100 * (1 - d_corrected.mean() / d_raw.mean()))}


def trials(config: ReproductionConfig, data: Data) -> dict[str, Callable[[], dict]]:
    """One trial: the whole ensemble (its members are trained inside it)."""
    members = ensemble_members(config)
    key = ("" if config.synthetic else config.data.replace("/", "_") + "_") + f"ensemble_{len(members)}_seed{config.seeds[0]}"
    length = data.eval_x.shape[1]

    def compute():
        raw, corrected, angles = [], [], []
        for index, (member, width, seed) in enumerate(members, start=1):
            log(f"(f) ensemble member {index}/{len(members)}: {member}")
            model = trained_model(config, data, member, seed,
                                  lambda: build_model("cnn_deep_exponential", first_filters=width, input_length=length,
                                                      alphabet_size=data.eval_x.shape[2]))
            result = explainer_for(model).saliency(data.eval_x)
            raw.append(result.raw)
            corrected.append(result.corrected)
            angles.append(result.angles)
        table = dispersion_by_angle(np.stack(raw), np.stack(corrected), np.stack(angles))
        plotting.close_figure(plotting.plot_reduction_vs_angle(
            config.path("figures", f"{key}.png"), np.array(table["angle"]), np.array(table["reduction_percent"]),
            title=f"(f) ensemble of {len(members)} CNN-deep-exp on {config.data}: distance to the ensemble mean",
        ))
        return {"data": config.data, "members": [m[0] for m in members], "figure": f"figures/{key}.png", **table}

    return {key: compute}


def run(config: ReproductionConfig, data: Data) -> list[dict]:
    return run_trials(config, "ensemble", "f", trials(config, data))
