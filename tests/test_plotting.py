"""Figures: drawn on the caller's axes or a new figure, returned, written only when asked."""

import dataclasses
import json
import re
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")  # the test process chooses its backend, as a notebook or script would
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_simplex as ks  # noqa: E402
from keras_simplex import plotting  # noqa: E402

rng = np.random.default_rng(0)
RAW, CORRECTED, ANGLES = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), rng.uniform(-90, 90, 30)


def test_logos_on_the_callers_axes_without_a_file(tmp_path):
    fig, axes = plt.subplots(3, 1)
    returned = plotting.plot_attribution_logos(None, RAW, ANGLES, CORRECTED, axes=axes)
    assert returned is fig and all(ax.has_data() for ax in axes) and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="4 axes are needed"):
        plotting.plot_attribution_logos(None, RAW, ANGLES, CORRECTED, reference=RAW, axes=axes)
    plt.close(fig)


def test_logos_of_a_patch_show_its_positions_and_the_methods_name():
    fig = plotting.plot_attribution_logos(None, RAW, ANGLES, CORRECTED, start=10, end=25, label="ism")
    assert all(ax.get_xlim() == (9.5, 24.5) for ax in fig.axes)
    assert [ax.get_ylabel() for ax in fig.axes] == ["ism", "angle (deg)", "corrected"]
    plt.close(fig)


@pytest.mark.parametrize("draw", [
    lambda path, ax: plotting.plot_angle_densities(path, {"motif": ANGLES, "background": -ANGLES}, ax=ax),
    lambda path, ax: plotting.plot_large_angle_histogram(path, rng.uniform(0, 100, (20, 3)), (30, 45, 60), ax=ax),
    lambda path, ax: plotting.plot_improvement_vs_angle(path, ANGLES, rng.normal(size=30), ax=ax),
    lambda path, ax: plotting.plot_study_curve(path, [0.1, 1, 10], rng.uniform(size=(2, 3)), rng.uniform(size=(2, 3)),
                                               "sigma", ax=ax),
])
def test_single_panel_figures(tmp_path, draw):
    fig, ax = plt.subplots()
    assert draw(None, ax) is fig and ax.has_data()
    plt.close(fig)
    written = draw(tmp_path / "figure.png", None)
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    plotting.close_figure(written)


def test_importing_the_package_leaves_the_backend_alone():
    script = "import matplotlib; before = matplotlib.get_backend(); import keras_simplex.plotting; " \
             "print(before == matplotlib.get_backend(), matplotlib.rcParams['backend'])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={"MPLBACKEND": "svg", "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "svg"]


def test_logo_files_and_arguments_users_get_wrong(tmp_path):
    """RNA gets nucleotide colours (U was drawn black, A/C/G in amino-acid colours); a path
    without extension is a PNG (matplotlib took the format from the hidden temporary's name);
    a missing folder, a patch outside the map or a batch of maps is a clear error."""
    import warnings

    maps, angles = np.random.default_rng(0).normal(size=(30, 4)), np.zeros(30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # logomaker warns about letters its colour scheme lacks
        plotting.plot_attribution_logos(tmp_path / "rna.png", maps, angles, maps, alphabet=ks.RNA)
    plotting.plot_attribution_logos(tmp_path / "logos", maps, angles, maps)
    assert (tmp_path / "logos").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OSError, match="output folder does not exist"):
        plotting.plot_attribution_logos(tmp_path / "missing" / "a.png", maps, angles, maps)
    for options, message in (({"end": 40}, "need 0 <= start < end <= L = 30"),
                             ({"start": 5, "end": 3}, "need 0 <= start < end"),
                             ({"raw": maps[None]}, r"raw must be one sequence's \(L, A\) map")):
        arguments = {"raw": maps, "angles": angles, "corrected": maps, **options}
        with pytest.raises(ValueError, match=message):
            plotting.plot_attribution_logos(None, **arguments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logos", "rna.png"]


@pytest.mark.parametrize("values, scale", [([0.0], "linear"), ([-1.0, -0.1], "linear"), ([0.0, 0.1, 1.0], "symlog")])
def test_study_curve_log_x_is_linear_without_positive_values(values, scale):
    """log_x=True with no positive value failed (min() of an empty sequence); 0 beside positive
    values stays on the symmetric-log axis."""
    ones = np.ones((2, len(values)))
    fig = plotting.plot_study_curve(None, values, ones, ones, "strength")
    assert fig.axes[0].get_xscale() == scale
    plt.close(fig)


def test_study_curve_band_is_the_sample_standard_deviation_over_seeds():
    """The band was np.nanstd with ddof=0 and unlabelled; one seed has no band (and no warning)."""
    fig = plotting.plot_study_curve(None, [1, 2], np.array([[0.0, 1.0], [1.0, 0.0]]), np.ones((2, 2)), "x")
    left = fig.axes[0]
    band = left.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.max(), 0.5 + np.sqrt(0.5)) and np.isclose(band.min(), 0.5 - np.sqrt(0.5))
    legend = left.get_legend()
    assert legend.get_title().get_text() == "mean ± s.d. over 2 seeds"
    assert [t.get_text() for t in legend.get_texts()] == ["test AUROC", "angle std (deg)"]
    plt.close(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plotting.plot_study_curve(None, [1, 2], np.array([0.9, 0.8]), np.array([10.0, 20.0]), "x")
    assert not any(c.get_paths() for ax in fig.axes for c in ax.collections)
    assert fig.axes[0].get_legend().get_title().get_text() == ""
    plt.close(fig)


@pytest.mark.parametrize("percentages", [np.array([10.0, 20.0]), np.ones((5, 2))])
def test_large_angle_histogram_needs_sequences_by_thresholds(percentages):
    """A 1-D array failed with an IndexError; extra columns were ignored."""
    message = f"(N, T) = (sequences, 1 thresholds), got shape {percentages.shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        plotting.plot_large_angle_histogram(None, percentages, (30,))


def test_logos_check_angles_and_reference_against_the_map():
    """Angles of another length gave a broadcast error; a shorter reference was drawn truncated."""
    for options, message in (({"angles": np.zeros(25)}, "angles has shape (25,), the raw map (30, 4)"),
                             ({"reference": RAW[:10]}, "reference has shape (10, 4), the raw map (30, 4)"),
                             ({"corrected": CORRECTED[:, :3]}, "corrected has shape (30, 3), the raw map (30, 4)")):
        arguments = {"raw": RAW, "angles": ANGLES, "corrected": CORRECTED, **options}
        with pytest.raises(ValueError, match=re.escape(message)):
            plotting.plot_attribution_logos(None, **arguments)
    with pytest.raises(ValueError, match=re.escape("the maps have 4 letters per position, the alphabet 'ACDEF' 5")):
        plotting.plot_attribution_logos(None, RAW, ANGLES, CORRECTED, alphabet="ACDEF")  # once pandas' shape error
    with pytest.raises(ValueError, match="corrected holds NaN or infinite values"):
        plotting.plot_attribution_logos(None, RAW, ANGLES, np.where(CORRECTED > 0, np.nan, CORRECTED))


def test_a_lowercase_nucleotide_alphabet_gets_nucleotide_colours():
    """'acgt' was drawn in the amino-acid colour scheme."""
    def colours(alphabet):
        fig = plotting.plot_attribution_logos(None, RAW, ANGLES, CORRECTED, alphabet=alphabet)
        drawn = {tuple(p.get_facecolor()) for p in fig.axes[0].patches}
        plt.close(fig)
        return drawn

    assert colours("acgt") == colours(ks.DNA) and colours("acgu") == colours(ks.RNA) != colours("ACDE")


def test_long_titles_are_wrapped_inside_the_figure():
    """The ensemble figure's title ran past the figure's edges (and so can a logo figure's)."""
    title = "(f) ensemble of 2 CNN-deep-exp on encode_chipseq/ctcf: distance to the ensemble mean"
    figures = [plotting.plot_reduction_vs_angle(None, np.arange(2.5, 90, 5), rng.normal(size=18), title=title),
               plotting.plot_attribution_logos(None, RAW, ANGLES, CORRECTED, title=title + ", " + title)]
    for fig, text in zip(figures, (figures[0].axes[0].title, figures[1]._suptitle)):
        renderer = fig.canvas.get_renderer()
        box = text.get_window_extent(renderer)
        assert "\n" in text.get_text() and fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
        plt.close(fig)


def test_the_demo_names_the_sequence_in_its_figure_by_its_test_split_index(tmp_path, monkeypatch):
    """The title gave the index in the whole dataset ("test sequence 76"); users have the test
    split. The title and results.json name the same test-split sequence (no training here)."""
    from keras_simplex import demo, models
    from keras_simplex.datasets import synthetic

    data = synthetic.generate(dataclasses.replace(synthetic.ORIGINAL, num_positives=60, num_negatives=60, seed=0))
    monkeypatch.setattr(demo, "train_demo_model", lambda *args: (models.cnn_shallow(), data, 0.5))
    drawn = {}
    monkeypatch.setattr(plotting, "plot_attribution_logos", lambda *args, **options: drawn.update(args=args, **options))
    monkeypatch.setattr(plotting, "close_figure", lambda fig: None)
    results = demo.run_demo(str(tmp_path), verbose=0)
    shown = json.load(open(tmp_path / "results.json"))["figure_sequence"]
    assert shown == results["figure_sequence"]
    index = int(re.search(r"sequence (\d+) of the test split", drawn["title"]).group(1))
    assert index == shown["test_split_index"] and f"explained sequence {shown['explained_index']}" in drawn["title"]
    test = data.splits["test"]
    assert np.array_equal(drawn["args"][4], data.ground_truth[test][index] - 0.25)  # the reference drawn
    assert index != test[index]  # the dataset index differs
