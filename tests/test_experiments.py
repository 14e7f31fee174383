"""Every experiment end to end in a tiny configuration, and the demo."""

import dataclasses
import json
import os
import shutil
import time

import numpy as np
import pytest

from keras_simplex import demo
from keras_simplex.experiments import EXPERIMENTS, main, run
from keras_simplex.experiments.common import ReproductionConfig

PNG = b"\x89PNG\r\n\x1a\n"


def tiny_config(output_dir):
    return ReproductionConfig(
        output_dir=str(output_dir), sequences=300, seeds=(0,), models=("cnn_shallow_relu", "cnn_deep_exponential"),
        epochs=1, eval_sequences=12, ig_steps=3, smoothgrad_samples=2, eg_baselines=2, eg_steps=2,
        study_model="cnn_shallow_relu", init_sigmas=(0.01, 0.1), strengths=(0.0, 1e-3), ensemble_size=2,
    )


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("reproduction"))
    return config, run(config, command="tiny test run")


def test_every_experiment_writes_its_results(reproduction):
    config, results = reproduction
    assert set(results) == set(EXPERIMENTS)
    (a_row, *_) = results["correction"]
    assert set(a_row["methods"]) == set(config.methods)
    for scores in a_row["methods"].values():
        assert set(scores) == {"raw", "corrected", "change"}
        assert set(scores["raw"]) == {"cosine", "auroc", "aupr"}
        assert scores["change"]["cosine"] == pytest.approx(scores["corrected"]["cosine"] - scores["raw"]["cosine"])
    b_row = results["angles"][0]
    assert set(b_row["percent_above"]) == {"30", "45", "60"} and 0 <= b_row["fraction_within_envelope"] <= 1
    assert [r["value"] for r in results["initialization"]] == [0.01, 0.1]
    assert [r["value"] for r in results["regularization"]] == [0.0, 1e-3]
    assert {"constrained", "unconstrained"} <= set(results["constraint"][0])
    assert results["constraint"][0]["constrained"]["angle_std"] < 1e-2  # zero angles by construction
    (f_row,) = results["ensemble"]
    assert f_row["members"] == ["ensemble_w12_seed0", "ensemble_w30_seed1"]
    assert len(f_row["reduction_percent"]) == 18 and sum(f_row["positions"]) == 2 * 12 * 200
    assert is_png(os.path.join(config.output_dir, f_row["figure"]))


def test_dispersion_by_angle_against_a_written_out_case():
    """Models that share an on-simplex map and differ only off the simplex (offsets summing to
    zero over the models): the correction removes every difference."""
    from keras_simplex.experiments.ensemble import dispersion_by_angle

    rng = np.random.default_rng(0)
    shared = rng.normal(size=(3, 10, 4))
    shared -= shared.mean(-1, keepdims=True)
    offsets = np.array([-1.0, 0.5, 0.5])[:, None, None, None] * rng.uniform(1, 2, size=(1, 3, 10, 1))
    raw = shared[None] + offsets  # (M, N, L, A)
    corrected = raw - raw.mean(-1, keepdims=True)
    angles = rng.uniform(-90, 90, size=(3, 3, 10))
    table = dispersion_by_angle(raw, corrected, angles)
    distance = 2 * np.abs(offsets[..., 0])  # |c * (1, 1, 1, 1)| = 2 |c|
    bins = np.minimum((np.abs(angles) // 5).astype(int), 17)
    for b in range(18):
        if (bins == b).any():
            assert table["raw"][b] == pytest.approx(distance[bins == b].mean())
            assert table["corrected"][b] == pytest.approx(0, abs=1e-12)
            assert table["reduction_percent"][b] == pytest.approx(100)
    assert table["positions"] == np.bincount(bins.ravel(), minlength=18).tolist()


def test_files_report_and_figures(reproduction):
    config, _ = reproduction
    out = config.output_dir
    report = open(os.path.join(out, "report.md")).read()
    for section in ("(a) Correction effect", "(b) Angles", "(c) Initialization", "(d) Angle regularization", "(e) Zero-mean"):
        assert section in report
    assert "tiny test run" in report
    for name in ("initialization", "regularization", "angles_cnn_shallow_relu_seed0", "large_angles_cnn_deep_exponential_seed0",
                 "improvement_vs_angle_cnn_shallow_relu_seed0", "logos_cnn_deep_exponential_seed0"):
        assert is_png(os.path.join(out, "figures", f"{name}.png")), name
    header = open(os.path.join(out, "tables", "correction.csv")).readline()
    assert header.startswith("model,seed,test_auroc,method,cosine_raw")
    saved = json.load(open(os.path.join(out, "results.json")))
    assert saved["config"]["sequences"] == 300
    assert saved["evaluated"] == 12 and "scores on 12 positive test sequences" in report
    assert "Mean ± standard deviation over seeds." in report


def test_a_run_of_one_experiment_keeps_the_others_in_the_report(reproduction, tmp_path):
    """Rerunning one experiment once rewrote report.md and results.json with it alone."""
    config, _ = reproduction
    copy = dataclasses.replace(config, output_dir=str(tmp_path / "copy"))
    shutil.copytree(config.output_dir, copy.output_dir)
    run(copy, experiments=("angles",), command="angles again")
    saved = json.load(open(tmp_path / "copy" / "results.json"))
    assert list(saved["results"]) == list(EXPERIMENTS)
    assert saved["commands"]["angles"] == "angles again" and saved["commands"]["correction"] == "tiny test run"
    report = (tmp_path / "copy" / "report.md").read_text()
    assert "- angles: `angles again`" in report and "(a) Correction effect" in report and "(f) Ensemble" in report


def test_a_malformed_results_file_is_replaced_not_a_failure(reproduction, tmp_path):
    """results.json not UTF-8, or JSON of another shape, once stopped the report after every
    experiment had run (and every rerun after)."""
    config, _ = reproduction
    copy = dataclasses.replace(config, output_dir=str(tmp_path / "copy"))
    shutil.copytree(config.output_dir, copy.output_dir)
    for content in (b"\xff\xfe", b"[1, 2]", b'{"config": "x"}', b'{"config": {}, "results": []}'):
        (tmp_path / "copy" / "results.json").write_bytes(content)
        run(copy, experiments=("constraint",), command="again")
        assert list(json.load(open(tmp_path / "copy" / "results.json"))["results"]) == ["constraint"]


def test_a_real_data_folder_of_the_previous_version_is_accepted(tmp_path):
    """settings.json written before datasets were fingerprinted: the rerun once failed claiming
    the dataset had been rebuilt."""
    from keras_simplex.experiments.common import RESULT_SETTINGS, check_settings

    np.savez(tmp_path / "a.npz", x_train=np.zeros((1, 4, 4)))
    config = ReproductionConfig(output_dir=str(tmp_path / "out"), data=str(tmp_path / "a.npz"))
    os.makedirs(tmp_path / "out" / "models")
    open(tmp_path / "out" / "models" / "trial.keras", "w").close()
    old = {name: getattr(config, name) for name in RESULT_SETTINGS}
    (tmp_path / "out" / "settings.json").write_text(json.dumps({config.data: json.loads(json.dumps(old))}))
    check_settings(config)
    assert "data_files" in json.load(open(tmp_path / "out" / "settings.json"))[config.data]  # recorded from now on


def test_counts_below_their_minimum_are_usage_errors(capsys):
    for option, value in (("--trials", "0"), ("--study-trials", "0"), ("--ensemble-size", "1"), ("--epochs", "0")):
        with pytest.raises(SystemExit) as stopped:
            main(["angles", option, value])
        assert stopped.value.code == 2 and f"argument {option}: must be >=" in capsys.readouterr().err


def test_rerun_skips_finished_trials(reproduction, capsys):
    config, results = reproduction
    models = sorted(os.listdir(os.path.join(config.output_dir, "models")))
    stamps = [os.path.getmtime(os.path.join(config.output_dir, "models", m)) for m in models]
    again = run(config, experiments=("correction", "regularization"))
    assert "trained" not in capsys.readouterr().out
    assert again["correction"] == results["correction"]
    assert stamps == [os.path.getmtime(os.path.join(config.output_dir, "models", m)) for m in models]
    # Other selections (models, seeds, ensemble size) are not settings: the keys name them.
    fewer = dataclasses.replace(config, models=config.models[:1], ensemble_size=3)
    assert run(fewer, experiments=("correction",))["correction"] == results["correction"][:1]
    assert "trained" not in capsys.readouterr().out


def test_rerun_with_other_settings_is_refused_before_training(reproduction):
    """A rerun into the same folder whose settings would change cached trials or models fails at
    once, naming them, and leaves the folder as it was."""
    config, _ = reproduction

    def files():  # every file's modification time
        return {os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
                for d, _, names in os.walk(config.output_dir) for f in names}

    before = files()
    start = time.perf_counter()
    changed = r"other settings \(recorded -> this run: epochs 1 -> 2, eval_sequences 12 -> 20\)"
    with pytest.raises(ValueError, match=changed + ".*another --output-dir or delete"):
        run(dataclasses.replace(config, epochs=2, eval_sequences=20), experiments=("correction",))
    assert time.perf_counter() - start < 5  # no data generated, nothing trained
    with pytest.raises(ValueError, match="sequences 300 -> 400"):
        main(["correction", "--output-dir", config.output_dir, "--sequences", "400", "--epochs", "1",
              "--trials", "1", "--models", "cnn_shallow_relu", "--eval-sequences", "12"])
    assert files() == before


def test_a_folder_of_an_older_version_is_refused(reproduction, tmp_path):
    """Trials cached without ``settings.json`` (made before it existed): their settings are
    unknown, so they are not reused."""
    config, _ = reproduction
    shutil.copytree(os.path.join(config.output_dir, "results"), tmp_path / "results")
    with pytest.raises(ValueError, match="older version.*another --output-dir or delete"):
        run(dataclasses.replace(config, output_dir=str(tmp_path)), experiments=("correction",))


def test_command_line_runs_a_sub_experiment(tmp_path):
    assert main(["angles", "--output-dir", str(tmp_path), "--sequences", "200", "--epochs", "1",
                 "--eval-sequences", "8", "--models", "cnn_shallow_relu"]) == 0
    assert "python -m keras_simplex.experiments angles" in open(tmp_path / "report.md").read()


def test_the_ensemble_experiment_on_a_built_encode_dataset(tmp_path, capsys):
    """(f) on the encode_chipseq builder's dummy data (no ground truth needed)."""
    import pathlib

    from keras_simplex.datasets import build, encode_chipseq

    dummy = pathlib.Path(encode_chipseq.__file__).parent / "dummy_data"
    build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=dummy)
    common = ["--data", "encode_chipseq/ctcf", "--data-dir", str(tmp_path / "data"), "--output-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit):
        main(["angles", *common])
    assert "goes with the ensemble experiment alone" in capsys.readouterr().err
    assert main(["ensemble", *common, "--ensemble-size", "2", "--epochs", "1", "--eval-sequences", "10"]) == 0
    results = json.load(open(tmp_path / "out" / "results.json"))["results"]["ensemble"][0]
    assert results["data"] == "encode_chipseq/ctcf" and len(results["members"]) == 2
    assert all(m.startswith("encode_chipseq_ctcf_ensemble_w") for m in results["members"])
    assert sum(results["positions"]) > 0 and np.isfinite(results["overall_reduction_percent"])
    assert is_png(tmp_path / "out" / results["figure"])
    assert "Data: `encode_chipseq/ctcf`" in open(tmp_path / "out" / "report.md").read()
    # The same dataset rebuilt in place is other data: its trials and models are not reused.
    shutil.rmtree(tmp_path / "data")
    build.build_dataset("encode_chipseq/ctcf", tmp_path / "data", manual_dir=dummy)
    with pytest.raises(ValueError, match=r"other settings \(recorded -> this run: the dataset's files"):
        main(["ensemble", *common, "--ensemble-size", "2", "--epochs", "1", "--eval-sequences", "10"])


def test_first_runs_of_two_datasets_in_one_folder_keep_both_entries(tmp_path):
    """Two datasets' first runs (started together: neither has a trial yet) both record their
    settings, so a later rerun of either with other settings is refused."""
    from keras_simplex.experiments.common import check_settings

    for name in "ab":
        np.savez(tmp_path / f"{name}.npz", x_train=np.zeros((1, 4, 4)))
    first, second = (ReproductionConfig(output_dir=str(tmp_path / "out"), data=str(tmp_path / f"{n}.npz")) for n in "ab")
    check_settings(first)
    check_settings(second)
    assert set(json.load(open(tmp_path / "out" / "settings.json"))) == {first.data, second.data}
    open(tmp_path / "out" / "models" / "trial.keras", "w").close()  # a trial made since
    with pytest.raises(ValueError, match="epochs 20 -> 3"):
        check_settings(dataclasses.replace(first, epochs=3))
    np.savez(tmp_path / "b.npz", x_train=np.ones((2, 4, 4)))  # the data file rewritten
    with pytest.raises(ValueError, match="the dataset's files"):
        check_settings(second)


def test_demo_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    results = demo.run_demo(str(tmp_path), sequences=300, epochs=1, verbose=0)
    out = capsys.readouterr().out
    for word in ("cosine", "AUROC", "AUPR", "raw", "corrected", "change", "positions above 30/45/60"):
        assert word in out
    assert is_png(results["figure"])
    saved = json.load(open(tmp_path / "results.json"))
    assert set(saved["saliency"]) == {"raw", "corrected"} and "above_60" in saved["angles"]


def test_the_pipeline_gives_the_local_runners_results(reproduction, tmp_path):
    """Trials on Apache Beam (two DirectRunner worker processes), then the local runner's
    report: the same experiments, trials and fields as a local run; a rerun redoes nothing."""
    pytest.importorskip("apache_beam")
    from keras_simplex import pipeline

    tiny = ["correction", "ensemble", "--sequences", "300", "--epochs", "1", "--eval-sequences", "8",
            "--models", "cnn_shallow_relu", "--ensemble-size", "2"]
    assert main([*tiny, "--output-dir", str(tmp_path / "beam"), "--beam-runner", "DirectRunner", "--beam-options",
                 "--direct_num_workers=2 --direct_running_mode=multi_processing"]) == 0
    # The local runner's rows (the module's tiny configuration), as its results.json holds them.
    local = json.loads(json.dumps({name: reproduction[1][name] for name in ("correction", "ensemble")}))
    beam = json.load(open(tmp_path / "beam" / "results.json"))["results"]

    def shape(value):  # the fields, not the values (training is not bit-deterministic across processes)
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value[:1]]
        return type(value).__name__

    assert shape(beam) == shape(local) and set(beam) == {"correction", "ensemble"}
    assert "## (f) Ensemble" in open(tmp_path / "beam" / "report.md").read()
    config = ReproductionConfig(output_dir=str(tmp_path / "beam"), sequences=300, epochs=1, eval_sequences=8,
                                models=("cnn_shallow_relu",), ensemble_size=2)
    assert pipeline.run_trials_on_beam(config, ("correction", "ensemble"), "DirectRunner", None) == 0
    with pytest.raises(ValueError, match="epochs 1 -> 2"):
        pipeline.run_trials_on_beam(dataclasses.replace(config, epochs=2), ("correction",), "DirectRunner", None)


def test_processes_sharing_a_model_train_it_once(tmp_path):
    """Pipeline workers that need the same model at the same time: one trains it, the other
    waits for it and loads it (a lock per model in ``models/.locks``)."""
    import threading

    from keras_simplex.experiments.common import build_model, load_data, trained_model

    config = ReproductionConfig(output_dir=str(tmp_path), sequences=300, epochs=1)
    data, built, models = load_data(config), [], {}

    def make():
        built.append(threading.get_ident())
        return build_model("cnn_shallow_relu")

    def worker(name):
        models[name] = trained_model(config, data, "shared", 0, make)

    threads = [threading.Thread(target=worker, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and set(models) == {"a", "b"}
    x = data.test[0][:8]
    np.testing.assert_allclose(models["a"].predict(x, verbose=0), models["b"].predict(x, verbose=0), atol=1e-6)
