"""(a) The correction's effect: four models x four attribution methods x seeds (Fig. 2, 5)."""

from __future__ import annotations

from keras_simplex.experiments.common import Data, ReproductionConfig, attribute, build_model, cached, log, map_scores, test_auroc, trained_model


def model_key(name: str, seed: int) -> str:
    return f"{name}_seed{seed}"


def run(config: ReproductionConfig, data: Data) -> list[dict]:
    rows = []
    trials = [(name, seed) for name in config.models for seed in config.seeds]
    for index, (name, seed) in enumerate(trials, start=1):
        key = model_key(name, seed)
        log(f"(a) correction {index}/{len(trials)}: {key}")

        def compute():
            model = trained_model(config, data, key, seed, lambda: build_model(name))
            row = {"model": name, "seed": seed, "test_auroc": test_auroc(model, data), "methods": {}}
            for method in config.methods:
                result = attribute(model, method, data.eval_x, config, seed)
                raw, corrected = map_scores(result.raw, data), map_scores(result.corrected, data)
                row["methods"][method] = {"raw": raw, "corrected": corrected,
                                          "change": {k: corrected[k] - raw[k] for k in raw}}
            return row

        rows.append(cached(config, "correction", key, compute))
    return rows
