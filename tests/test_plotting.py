"""Figures: drawn on the caller's axes or a new figure, returned, written only when asked."""

import subprocess
import sys

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
