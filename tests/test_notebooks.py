"""Every library notebook runs top to bottom (its cells are the unit tests), and the export is in sync."""
import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook_tests

from conftest import ROOT

LIBRARY_NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))


def test_there_are_library_notebooks():
    names = [nb.name for nb in LIBRARY_NOTEBOOKS]
    assert "index.ipynb" in names and "00_defaults.ipynb" in names and len(names) >= 4


@pytest.mark.parametrize("notebook", LIBRARY_NOTEBOOKS, ids=lambda p: p.name)
def test_library_notebook(notebook):
    success, seconds = run_notebook_tests(notebook)
    assert success, f"{notebook.name} failed (see the traceback above)"


def test_exported_library_matches_notebooks(tmp_path):
    "nbdev_export from the notebooks reproduces nsnet_study/*.py exactly (nobody edited the .py by hand)."
    shutil.copy(ROOT / "settings.ini", tmp_path)
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs", ignore=shutil.ignore_patterns("study", ".ipynb_checkpoints"))
    (tmp_path / "nsnet_study").mkdir()
    environment = {k: v for k, v in os.environ.items() if k != "IN_TEST"}  # set by test_nb; it disables export
    subprocess.run([str(Path(sys.executable).parent / "nbdev_export")], cwd=tmp_path, check=True, env=environment)
    exported = sorted(p.name for p in (tmp_path / "nsnet_study").glob("*.py"))
    committed = sorted(p.name for p in (ROOT / "nsnet_study").glob("*.py"))
    assert exported == committed
    # __init__.py is the one file nbdev leaves to people (it only writes its __version__ line): the package's lazy
    # `nsnet_study.detect` lives there. Its version must still be nbdev's.
    version = (tmp_path / "nsnet_study" / "__init__.py").read_text().strip()
    assert (ROOT / "nsnet_study" / "__init__.py").read_text().splitlines()[0] == version
    exported.remove("__init__.py")
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "nsnet_study", ROOT / "nsnet_study", exported, shallow=False)
    assert not mismatch and not errors, f"out of sync with nbs/: {mismatch + errors}; run nbdev_export"


@pytest.mark.parametrize("notebook", sorted((ROOT / "nbs").glob("**/*.ipynb")), ids=lambda p: p.name)
def test_cell_ids_are_unique(notebook):
    "A duplicated cell id is 'corrected' differently by each tool that reads the notebook (JupyterLab, nbformat, docs)."
    import json
    ids = [cell.get("id") for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]]
    assert None not in ids and len(ids) == len(set(ids)), f"{notebook.name}: duplicated or missing cell ids"


def test_nbdev_cannot_overwrite_the_readme():
    "settings.ini's readme_nb names no notebook, so nbdev's README rendering has nothing to render over README.md."
    import configparser
    settings = configparser.ConfigParser()
    settings.read(ROOT / "settings.ini")
    assert not (ROOT / "nbs" / settings["DEFAULT"]["readme_nb"]).exists()
