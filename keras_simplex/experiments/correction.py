"""(a) The correction's effect: four models x four attribution methods x seeds (Fig. 2, 5)."""

from __future__ import annotations

from typing import Callable

from keras_simplex.experiments.common import (
    Data, ReproductionConfig, attribute, build_model, map_scores, run_trials, test_auroc, trained_model,
)


def model_key(name: str, seed: int) -> str:
    return f"{name}_seed{seed}"


def trials(config: ReproductionConfig, data: Data) -> dict[str, Callable[[], dict]]:
    """Each trial's key and the function computing its row: every model x seed."""

    def trial(name: str, seed: int, key: str) -> Callable[[], dict]:
        def compute():
            model = trained_model(config, data, key, seed, lambda: build_model(name))
            row = {"model": name, "seed": seed, "test_auroc": test_auroc(model, data), "methods": {}}
            for method in config.methods:
                result = attribute(model, method, data.eval_x, config, seed)
                raw, corrected = map_scores(result.raw, data), map_scores(result.corrected, data)
                row["methods"][method] = {"raw": raw, "corrected": corrected,
                                          "change": {k: corrected[k] - raw[k] for k in raw}}
            return row

        return compute

    return {model_key(name, seed): trial(name, seed, model_key(name, seed))
            for name in config.models for seed in config.seeds}


def run(config: ReproductionConfig, data: Data) -> list[dict]:
    return run_trials(config, "correction", "a", trials(config, data))
