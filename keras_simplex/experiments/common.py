"""Shared pieces of the paper's experiments: configuration, data, cached trials, metrics."""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import json
import os
import time
from typing import Any, Callable

import keras
import numpy as np

from keras_simplex import methods, models
from keras_simplex.atomic import save_model, write_json
from keras_simplex.explainer import explainer_for
from keras_simplex.fingerprints import path_fingerprint
from keras_simplex.results import Attribution
from keras_simplex.datasets import synthetic
from keras_simplex.metrics import cosine_similarity, interpretability_scores, roc_auc
from keras_simplex.training import train_paper_protocol

MODEL_NAMES = ("cnn_shallow_relu", "cnn_shallow_exponential", "cnn_deep_relu", "cnn_deep_exponential")
METHOD_NAMES = ("saliency", "integrated_gradients", "smoothgrad", "expected_gradients")
# The config fields that change a cached trial's or model's numbers (sequences and data_seed only
# for the synthetic data). The others say where files go (output_dir, data_dir) or which trials run:
# the keys of trials and models name the dataset (unless synthetic), model, seed, study value and
# ensemble size.
RESULT_SETTINGS = ("epochs", "eval_sequences", "methods", "ig_steps", "smoothgrad_samples", "smoothgrad_sigma",
                   "eg_baselines", "eg_steps")
SYNTHETIC_SETTINGS = ("sequences", "data_seed")


@dataclasses.dataclass(frozen=True)
class ReproductionConfig:
    """Sizes of the reproduction. Defaults finish in well under 45 minutes on 2 CPU cores;
    ``--trials 50 --epochs 100`` is the paper's protocol (a GPU job)."""

    output_dir: str = "outputs/reproduction"
    sequences: int = 20_000
    data_seed: int = 22
    seeds: tuple[int, ...] = (0, 1)
    models: tuple[str, ...] = MODEL_NAMES
    methods: tuple[str, ...] = METHOD_NAMES
    epochs: int = 20
    eval_sequences: int = 500
    ig_steps: int = 20
    smoothgrad_samples: int = 25
    smoothgrad_sigma: float = 0.1
    eg_baselines: int = 10
    eg_steps: int = 20
    study_model: str = "cnn_deep_relu"
    study_seeds: tuple[int, ...] = (0,)
    init_sigmas: tuple[float, ...] = (0.001, 0.01, 0.05, 0.1, 0.2)
    strengths: tuple[float, ...] = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
    ensemble_size: int = 5
    data: str = "synthetic"  # or a built TFDS dataset (e.g. encode_chipseq/ctcf) for (f)
    data_dir: str | None = None

    @property
    def synthetic(self) -> bool:
        return self.data == "synthetic"

    def path(self, *parts: str) -> str:
        path = os.path.join(self.output_dir, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path


@dataclasses.dataclass
class Data:
    """The dataset split into arrays, and the evaluation set: the first ``eval_sequences``
    positive test sequences (as the paper), with their ground truth for the synthetic data
    (None for real data)."""

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    eval_x: np.ndarray
    eval_truth: np.ndarray | None


def check_settings(config: ReproductionConfig) -> None:
    """Keep one output directory to one set of settings, so that a rerun never mixes old trials
    and models with new ones: ``settings.json`` records, per dataset, the config's
    ``RESULT_SETTINGS`` (and the size and modification time of a built dataset's files); a run
    whose settings differ fails here, before any training. While the directory holds no trial or
    model the recorded settings bind nothing and are replaced. A directory with trials or models
    but no ``settings.json`` (an older version's) is refused: what made them is unknown. Runs
    started together take turns (a lock), so none drops another's entry."""
    names = RESULT_SETTINGS + (SYNTHETIC_SETTINGS if config.synthetic else ())
    settings = json.loads(json.dumps({name: getattr(config, name) for name in names}))  # tuples as JSON lists
    if not config.synthetic:  # the built dataset's files: a dataset rebuilt (other options) is other data
        from keras_simplex.datasets.splits import dataset_location

        settings["data_files"] = path_fingerprint(dataset_location(config.data, config.data_dir))
    path, folder = config.path("settings.json"), glob.escape(config.output_dir)
    advice = f"choose another --output-dir or delete {config.output_dir}"
    with open(config.path("models", ".locks", "settings.json"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or its process dies
        kept = any(glob.glob(os.path.join(folder, *parts)) for parts in (("results", "*", "*.json"), ("models", "*.keras")))
        if kept and not os.path.exists(path):
            raise ValueError(f"{config.output_dir} holds trials or models of an older version, which did not record "
                             f"their settings: {advice}")
        recorded: dict[str, dict] = {}
        if os.path.exists(path):
            with open(path) as f:
                recorded = json.load(f)
        old = recorded.get(config.data, settings) if kept else settings  # a dataset's first run: its keys keep it apart
        if "data_files" in settings and "data_files" not in old:  # recorded by a version that kept no fingerprint
            old = {**old, "data_files": settings["data_files"]}  # taken as it is now
        changed = ["the dataset's files (rebuilt or replaced since)" if name == "data_files" else
                   f"{name} {old.get(name)!r} -> {value!r}" for name, value in settings.items() if old.get(name) != value]
        if changed:
            raise ValueError(f"{config.output_dir} holds {config.data} trials and models made with other settings "
                             f"(recorded -> this run: {', '.join(changed)}): {advice}")
        if recorded.get(config.data) != settings:
            write_json(path, {**recorded, config.data: settings})


def load_data(config: ReproductionConfig) -> Data:
    """The synthetic data of the config's recipe, or the built dataset ``config.data``; first
    ``check_settings``, which every run (local or Beam) passes before training."""
    check_settings(config)
    if not config.synthetic:
        from keras_simplex.datasets.splits import load_splits

        train, validation, test = load_splits(config.data, config.data_dir)
        labels = test[1].reshape(len(test[1]), -1)
        if labels.shape[1] != 1:
            raise ValueError(f"{config.data} has {labels.shape[1]} labels per sequence; the experiments explain one")
        positives = test[0][labels[:, 0] == 1][: config.eval_sequences]
        if not len(positives):
            raise ValueError(f"{config.data} has no positive test sequence to explain")
        return Data(train, validation, test, positives, None)
    recipe = dataclasses.replace(
        synthetic.ORIGINAL, num_positives=config.sequences // 2, num_negatives=config.sequences // 2, seed=config.data_seed
    )
    data = synthetic.generate(recipe)
    arrays = {name: (data.x[idx], data.y[idx]) for name, idx in data.splits.items()}
    test = data.splits["test"]
    positives = test[data.y[test] == 1][: config.eval_sequences]
    return Data(arrays["train"], arrays["validation"], arrays["test"], data.x[positives], data.ground_truth[positives])


def build_model(name: str, **options: Any) -> keras.Model:
    """``cnn_deep_relu`` -> ``models.cnn_deep(first_activation="relu", **options)``."""
    family, activation = name.rsplit("_", 1)
    builder = {"cnn_shallow": models.cnn_shallow, "cnn_deep": models.cnn_deep}[family]
    return builder(first_activation=activation, **options)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def trained_model(config: ReproductionConfig, data: Data, key: str, seed: int, make: Callable[[], keras.Model]) -> keras.Model:
    """Train ``make()`` with the paper's protocol, or load it if a previous run saved it.
    Processes that share ``output_dir`` (the workers of a pipeline) train a model once: the
    first holds a lock on it (``models/.locks/<key>``) while the others wait, then load it."""
    path = config.path("models", f"{key}.keras")
    with open(config.path("models", ".locks", key), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or its process dies
        if os.path.exists(path):
            return keras.saving.load_model(path)
        keras.utils.set_random_seed(seed)
        model = make()
        start = time.perf_counter()
        train_paper_protocol(model, data.train, data.validation, epochs=config.epochs, seed=seed, verbose=0)
        save_model(model, path)
        log(f"trained {key} in {time.perf_counter() - start:.0f} s")
        return model


def result_path(config: ReproductionConfig, experiment: str, key: str) -> str:
    """Where one trial's result is kept."""
    return config.path("results", experiment, f"{key}.json")


def cached(config: ReproductionConfig, experiment: str, key: str, compute: Callable[[], dict]) -> dict:
    """Results of one trial, computed once: a rerun reads ``results/<experiment>/<key>.json``."""
    path = result_path(config, experiment, key)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    result = compute()
    write_json(path, result)
    return result


def run_trials(config: ReproductionConfig, experiment: str, letter: str, trials: dict[str, Callable[[], dict]]) -> list[dict]:
    """Every trial's row, computed or read from a previous run (``cached``), in order."""
    rows = []
    for index, (key, compute) in enumerate(trials.items(), start=1):
        log(f"({letter}) {experiment} {index}/{len(trials)}: {key}")
        rows.append(cached(config, experiment, key, compute))
    return rows


def test_auroc(model: keras.Model, data: Data) -> float:
    x, y = data.test
    return float(roc_auc(y, model.predict(x, batch_size=1000, verbose=0)[:, 0]))


def attribute(model: keras.Model, method: str, x: np.ndarray, config: ReproductionConfig, seed: int = 0) -> Attribution:
    """Raw and corrected maps in the paper's forms: saliency; IG with one random position
    shuffle as baseline and expected gradients with ``eg_baselines`` shuffles, both returning
    the path-averaged gradient; SmoothGrad with Gaussian noise."""
    paper_forms = {
        "saliency": methods.saliency,
        "smoothgrad": lambda: methods.smoothgrad(config.smoothgrad_samples, config.smoothgrad_sigma, seed),
        "integrated_gradients": lambda: methods.integrated_gradients(
            "shuffle", config.ig_steps, num_baselines=1, seed=seed, multiply_by_inputs=False),
        "expected_gradients": lambda: methods.expected_gradients(
            "shuffle", config.eg_baselines, config.eg_steps, seed=seed, multiply_by_inputs=False),
    }
    if method not in paper_forms:
        raise ValueError(f"unknown method {method!r}; choose from {METHOD_NAMES}")
    return explainer_for(model).explain(x, paper_forms[method]())


def map_scores(maps: np.ndarray, data: Data) -> dict[str, float]:
    """Mean cosine, AUROC and AUPR of maps of the evaluation set against ground truth."""
    scores = interpretability_scores(maps, data.eval_x, data.eval_truth)
    return {
        "cosine": float(np.mean(cosine_similarity(maps, data.eval_truth))),
        "auroc": float(np.nanmean(scores["auroc"])),
        "aupr": float(np.nanmean(scores["aupr"])),
    }
