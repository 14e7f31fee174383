"""(c) Initialization scale and (d) angle-regularization strength (Figs. 4c-d, 14, 15), and
(e) the zero-mean first-layer constraint beside post-hoc correction."""

from __future__ import annotations

from typing import Callable

import numpy as np

from keras_simplex import plotting
from keras_simplex.explainer import explainer_for
from keras_simplex.constraints import ZeroMeanAlphabet
from keras_simplex.experiments.common import (
    Data, ReproductionConfig, build_model, map_scores, run_trials, test_auroc, trained_model,
)
from keras_simplex.experiments.correction import model_key
from keras_simplex.initializers import FixedSigmaNormal
from keras_simplex.regularizers import add_angle_regularizer


def _study_trials(config, data, values, key_of, make, backbone_of=lambda m: m) -> dict[str, Callable[[], dict]]:
    def trial(value, seed: int, key: str) -> Callable[[], dict]:
        def compute():
            model = backbone_of(trained_model(config, data, key, seed, lambda: make(value)))
            saliency = explainer_for(model).saliency(data.eval_x)
            return {"value": value, "seed": seed, "test_auroc": test_auroc(model, data),
                    "angle_std": float(saliency.angles.std()), "saliency_raw": map_scores(saliency.raw, data),
                    "saliency_corrected": map_scores(saliency.corrected, data)}

        return compute

    return {key_of(value, seed): trial(value, seed, key_of(value, seed))
            for value in values for seed in config.study_seeds}


def _curve(config, rows, values, name, xlabel):
    grid = lambda field: np.array([[r[field] for r in rows if r["seed"] == s] for s in config.study_seeds])  # noqa: E731
    plotting.close_figure(plotting.plot_study_curve(config.path("figures", f"{name}.png"), values, grid("test_auroc"), grid("angle_std"),
                              xlabel, title=config.study_model))


def initialization_trials(config: ReproductionConfig, data: Data) -> dict[str, Callable[[], dict]]:
    return _study_trials(
        config, data, config.init_sigmas, lambda sigma, seed: f"{config.study_model}_init{sigma:g}_seed{seed}",
        lambda sigma: build_model(config.study_model, kernel_initializer=FixedSigmaNormal(sigma)),
    )


def run_initialization(config: ReproductionConfig, data: Data) -> list[dict]:
    rows = run_trials(config, "initialization", "c", initialization_trials(config, data))
    _curve(config, rows, config.init_sigmas, "initialization", "initialization sigma")
    return rows


def regularization_trials(config: ReproductionConfig, data: Data) -> dict[str, Callable[[], dict]]:
    return _study_trials(
        config, data, config.strengths, lambda strength, seed: f"{config.study_model}_reg{strength:g}_seed{seed}",
        lambda strength: add_angle_regularizer(build_model(config.study_model), strength=strength),
        backbone_of=lambda model: model.get_layer("simplex_angle_regularizer").backbone,
    )


def run_regularization(config: ReproductionConfig, data: Data) -> list[dict]:
    rows = run_trials(config, "regularization", "d", regularization_trials(config, data))
    _curve(config, rows, config.strengths, "regularization", "angle regularization strength")
    return rows


def constraint_trials(config: ReproductionConfig, data: Data) -> dict[str, Callable[[], dict]]:
    def trial(seed: int, key: str) -> Callable[[], dict]:
        def compute():
            constrained = trained_model(config, data, key, seed, lambda: build_model(
                config.study_model, first_layer={"kernel_constraint": ZeroMeanAlphabet()}))
            plain_key = model_key(config.study_model, seed)
            plain = trained_model(config, data, plain_key, seed, lambda: build_model(config.study_model))
            plain_maps = explainer_for(plain).saliency(data.eval_x)
            constrained_maps = explainer_for(constrained).saliency(data.eval_x)
            return {
                "seed": seed,
                "constrained": {"test_auroc": test_auroc(constrained, data), "angle_std": float(constrained_maps.angles.std()),
                                "saliency_raw": map_scores(constrained_maps.raw, data)},
                "unconstrained": {"test_auroc": test_auroc(plain, data), "angle_std": float(plain_maps.angles.std()),
                                  "saliency_raw": map_scores(plain_maps.raw, data),
                                  "saliency_corrected": map_scores(plain_maps.corrected, data)},
            }

        return compute

    keys = {seed: f"{config.study_model}_zero_mean_seed{seed}" for seed in config.study_seeds}
    return {key: trial(seed, key) for seed, key in keys.items()}


def run_constraint(config: ReproductionConfig, data: Data) -> list[dict]:
    return run_trials(config, "constraint", "e", constraint_trials(config, data))
