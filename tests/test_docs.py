"""The API reference builds (`make docs`: pdoc over the modules the Makefile lists) and covers
every public name, and every public function and class has a docstring."""

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import keras_simplex as ks

ROOT = Path(__file__).resolve().parents[1]


def documented_modules() -> list[str]:
    """The modules of the Makefile's ``DOC_MODULES`` (the one list `make docs` uses)."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return re.search(r"^DOC_MODULES := (.*)$", text, re.M).group(1).split()


def test_the_reference_builds_and_lists_every_public_name(tmp_path):
    modules = documented_modules()
    assert "keras_simplex" in modules and "keras_simplex_cli" in modules
    env = {**os.environ, "PDOC_ALLOW_EXEC": "1"}
    result = subprocess.run([sys.executable, "-m", "pdoc", *modules, "-o", str(tmp_path)], capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "keras_simplex.html").read_text()
    missing = [name for name in ks.__all__ if f'id="{name}"' not in page  # submodules get their own page
               and not (inspect.ismodule(getattr(ks, name)) and (tmp_path / "keras_simplex" / f"{name}.html").exists())]
    assert missing == []
    for module in modules[1:]:
        assert (tmp_path / (module.replace(".", "/") + ".html")).exists(), module


def test_every_public_function_and_class_has_a_docstring():
    short = [name for name in ks.__all__ if (inspect.isfunction(getattr(ks, name)) or inspect.isclass(getattr(ks, name)))
             and len(inspect.getdoc(getattr(ks, name)) or "") < 40]
    assert short == []
