"""The documentation site builds from the notebooks and guides (`make docs`), with an API section per module."""
import subprocess
import sys

import pytest

from conftest import ROOT

pytest.importorskip("myst_nb", reason="the docs dependencies are not installed (make setup installs them)")


def test_the_site_builds_with_api_pages_and_search(tmp_path):
    built = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(tmp_path)],
                           capture_output=True, text=True, cwd=ROOT)
    assert built.returncode == 0, built.stderr[-2000:]
    assert (tmp_path / "index.html").is_file() and (tmp_path / "searchindex.js").is_file()
    metrics = (tmp_path / "_generated" / "library" / "08_metrics.html").read_text(encoding="utf-8")
    assert "across_seeds" in metrics and "test_train_ratio" in metrics  # show_doc with its docments
    for guide in ("install", "scoring", "reproducing", "caches", "colab", "gpus", "benchmarks", "threats", "glossary"):
        assert (tmp_path / "guides" / f"{guide}.html").is_file(), guide
    if not list((ROOT / "runs").glob("[0-9]*.ipynb")):
        assert "run `make reproduce`" in built.stdout  # one line, and the rest is built
