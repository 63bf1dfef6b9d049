"""The study notebooks as committed: executed by `make reproduce` and written back cleaned (`nsnet_study.notebooks`),
so a reader sees their figures and tables without running them. Each embedded figure is the committed file in figures/."""
import hashlib
import json
import re

import pytest

from conftest import ROOT
from nsnet_study.notebooks import WIDGET, committed_notebook, embedded_images

EXECUTED = sorted(p for p in (ROOT / "nbs" / "study").glob("[0-9]*.ipynb") if p.name[:2] != "20")  # 20 needs a GPU: not run
FIGURES = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in (ROOT / "figures").glob("*.png")}
MACHINE_PATHS = re.compile(r"/(?:home|root|work|tmp|Users|var|private)/|[A-Z]:\\\\Users|ipykernel_")


def _notebook(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_each_figure_a_study_shows_is_a_committed_figure(path):
    images = embedded_images(_notebook(path))
    assert images, f"{path.name} is committed without its figures: run make reproduce (it writes them back)"
    unknown = [i for i, image in enumerate(images) if hashlib.sha256(image).hexdigest() not in FIGURES]
    assert not unknown, f"{path.name}: figures {unknown} are not files of figures/ (stale notebook or stale figures)"


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_a_committed_study_notebook_carries_nothing_of_the_machine_that_ran_it(path):
    notebook = _notebook(path)
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell["execution_count"] is None for cell in code)
    outputs = [output for cell in code for output in cell["outputs"]]
    assert not [o for o in outputs if WIDGET in o.get("data", {})] and "widgets" not in notebook["metadata"]
    assert not [c for c in code if "injected-parameters" in c["metadata"].get("tags", [])]
    texts = json.dumps([{k: v for k, v in o.items() if k != "data"} | {"data": {k: v for k, v in o.get("data", {}).items()
                                                                              if k.startswith("text/")}} for o in outputs])
    assert not MACHINE_PATHS.findall(texts), f"{path.name} names paths of the machine that ran it"
    assert committed_notebook(notebook, ROOT) == notebook  # cleaning it again changes nothing
    stderr = ["".join(o["text"])[:120] for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert not stderr, f"{path.name} shows a reader warnings (stderr): {stderr}"
