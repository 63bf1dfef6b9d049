"""Shared test settings: no hub access, caches in a temporary folder, paths of the checkout, parallel workers.

`make test` runs the suite in pytest-xdist workers, one per CPU core (at most 4). Each worker computes on its
share of the cores (torch, BLAS and `NSNET_JOBS` training processes), so the workers never oversubscribe the
machine, and all of them share one feature cache for the session: a feature that one study notebook encodes,
the others read (the cache is safe with several writers, which this also exercises).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["NSNET_SMOKE"] = "1"  # library notebooks run their real-data cells on 4 images per generator and label

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
MAX_WORKERS = 4


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pytest_xdist_auto_num_workers(config):
    "`-n auto`: one worker per core, at most MAX_WORKERS (each loads an encoder and starts notebook kernels)."
    return max(1, min(_cores(), MAX_WORKERS))


if os.environ.get("PYTEST_XDIST_WORKER"):  # before anything imports torch: its thread pool is sized at import
    _share = str(max(1, _cores() // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NSNET_JOBS"):
        os.environ[_variable] = _share  # notebook kernels and subprocesses inherit it


def session_folder(tmp_path_factory) -> Path:
    "This test session's temporary root: shared by all xdist workers (each has its own basetemp below it)."
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _runs_study_smokes(config) -> bool:
    "Whether this run selects tests/test_study.py's smoke runs (no path, or a path holding it; no -k that leaves them out)."
    study_tests = ROOT / "tests" / "test_study.py"
    paths = [(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args]
    keyword = config.option.keyword
    return any(p == study_tests or p in study_tests.parents for p in paths) and (not keyword or "study" in keyword)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Before the workers start: encode the images the study smoke runs share into the session's feature cache, once, on
    every core (tests/prefill_cache.py). The controller's temporary root is the folder `session_folder` gives workers."""
    config = session.config
    if os.environ.get("PYTEST_XDIST_WORKER") or config.option.collectonly or not _runs_study_smokes(config):
        return
    from test_study import SMOKE
    values = lambda name: [parameters[name] for parameters, _ in SMOKE.values() if name in parameters]
    arguments = [max(values("PER_GROUP")), max(values("N_BANK")), max(values("DECLAN_PER_LABEL"))]
    cache = config._tmp_path_factory.getbasetemp() / "cache"  # what xdist hands its workers (their basetemps sit below)
    subprocess.run([sys.executable, str(ROOT / "tests" / "prefill_cache.py"), *map(str, arguments)],
                   env={**os.environ, "NSNET_CACHE": str(cache)}, check=True)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    "Every test writes its caches under the session's temporary folder, never into the user's cache."
    monkeypatch.setenv("NSNET_CACHE", str(session_folder(tmp_path_factory) / "cache"))


# The longest tests start first, so that the workers finish together (xdist hands out tests in this order).
_LONGEST_FIRST = ("test_study.py::test_study_notebook", "test_jupyterlab.py", "test_notebooks.py::test_library_notebook")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        return next((i for i, prefix in enumerate(_LONGEST_FIRST) if prefix in item.nodeid), len(_LONGEST_FIRST))
    items.sort(key=rank)  # stable: the order within each group stays
