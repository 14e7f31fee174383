"""The README's example is examples/quickstart.py, and it runs as written."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_is_the_quickstart_script():
    assert readme_example() == (ROOT / "examples" / "quickstart.py").read_text()


def test_readme_example_runs():
    result = subprocess.run([sys.executable, "-c", readme_example()], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "positions above 30/45/60 degrees" in result.stdout


def test_readme_test_command_is_what_ci_runs():
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
