"""Every example script runs top to bottom with --quick and writes its outputs (the
peaks-to-motifs example runs in tests/test_modisco.py, the quick start in tests/test_readme.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OUTPUTS = {  # example -> files it must write in --output-dir (None: it has no output folder)
    "corrected_attributions.py": ["logos.png", "scores.json"],
    "angle_regularization.py": ["plain.keras", "regularized.keras", "summary.json", "logs/regularized"],
    "initialization_study.py": ["initialization.png", "initialization.json"],
    "serving_requests.py": ["mymodel/1/saved_model.pb", "rest_request.json", "grpc_request.pb"],
    "multitask_peaks.py": ["maps.npz", "summary.json"],
    "ism_agreement.py": None,
}


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(OUTPUTS) | {"peaks_to_motifs.py", "quickstart.py"}


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_example_runs_quick(name, tmp_path):
    files = OUTPUTS[name]
    command = [sys.executable, str(EXAMPLES / name), "--quick"] + ([] if files is None else ["--output-dir", str(tmp_path)])
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for file in files or []:
        assert (tmp_path / file).exists(), file
    header = (EXAMPLES / name).read_text().split('"""')[1]
    assert "Title:" in header and "What you will learn:" in header and "--quick" in header
