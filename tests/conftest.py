"""Shared test settings: no hub access, caches in a temporary folder, paths of the checkout."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["NSNET_SMOKE"] = "1"  # library notebooks run their real-data cells on 4 images per generator and label

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    "Every test writes its caches under a temporary folder, never into the user's cache."
    monkeypatch.setenv("NSNET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
