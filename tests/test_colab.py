"""Every study notebook opens with its title, Colab badge and Question; its first code cell installs the project on
Colab with the local pins and Colab's own torch.

Colab is simulated: a `google.colab` module in `sys.modules`, the project from this checkout instead of the git URL,
and pip in dry-run mode with no index (nothing is installed or downloaded).
"""
import configparser
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

STUDY_NOTEBOOKS = sorted((ROOT / "nbs" / "study").glob("[0-9]*.ipynb"))
TORCH_STACK = ("torch==", "torchvision==", "triton==", "nvidia-", "cuda-")


def _first_cell(notebook) -> str:
    "The first code cell: the install cell (the title, badge and Question come before it)."
    return next("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")


def _colab_badge(notebook) -> str:
    "The \"Open in Colab\" badge of a study notebook, built from settings.ini's repository URL and branch."
    settings = configparser.ConfigParser()
    settings.read(ROOT / "settings.ini")
    repository = settings["DEFAULT"]["git_url"].removeprefix("https://github.com/")
    url = f"https://colab.research.google.com/github/{repository}/blob/{settings['DEFAULT']['branch']}/nbs/study/{notebook.name}"
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


@pytest.mark.parametrize("notebook", STUDY_NOTEBOOKS, ids=lambda p: p.name)
def test_a_study_notebook_opens_with_its_title_badge_and_question(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    head = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and head.startswith(f"# {notebook.name[:2]} · "), head[:80]
    assert _colab_badge(notebook) in head and "\n## Question\n" in head
    assert cells[1]["cell_type"] == "code" and "google.colab" in "".join(cells[1]["source"])  # then the install cell
    tagged = [i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", [])]
    design = next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Design"))
    assert tagged == [design + 1], "the parameters cell follows the Design"


def _pins(path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def _run_as_on_colab(cell: str, pins, project=f"file://{ROOT}") -> subprocess.CompletedProcess:
    simulated = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n" + cell
    env = {**os.environ, "NSNET_PROJECT": project, "NSNET_PINS": str(pins), "PIP_DRY_RUN": "1", "PIP_NO_DEPS": "1",
           "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"}  # pip reads "0" here as: no build isolation
    return subprocess.run([sys.executable, "-c", simulated], env=env, capture_output=True, text=True, timeout=300)


def test_every_study_notebook_starts_with_the_same_colab_cell():
    cells = {notebook.name: _first_cell(notebook) for notebook in STUDY_NOTEBOOKS}
    assert len(set(cells.values())) == 1, f"first cells differ: {sorted(cells)}"
    assert '"google.colab" in sys.modules' in next(iter(cells.values()))


def test_colab_pins_are_the_local_pins_without_the_torch_stack():
    local, colab = _pins(ROOT / "constraints.txt"), _pins(ROOT / "constraints-colab.txt")
    assert colab == [line for line in local if not line.startswith(TORCH_STACK)], "run: make constraints"
    assert any(line.startswith("torch==") for line in local) and not any(line.startswith("torch") for line in colab)


def test_colab_cell_installs_with_the_pins():
    done = _run_as_on_colab(_first_cell(STUDY_NOTEBOOKS[0]), ROOT / "constraints-colab.txt")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("pins, project, expected", [
    ("nsnet_study==9.9.9\n", f"file://{ROOT}", "ERROR: ResolutionImpossible"),  # the pins are used
    (None, "file:///no/such/checkout", "ERROR:"),
])
def test_colab_cell_reports_a_failed_install_in_one_line(tmp_path, pins, project, expected):
    pins_file = tmp_path / "pins.txt"
    pins_file.write_text(pins or "")
    done = _run_as_on_colab(_first_cell(STUDY_NOTEBOOKS[0]), pins_file, project)
    assert done.returncode == 1
    assert done.stderr.startswith(f"Installing nsnet_study @ {project} failed (pip exit status 1): ")
    assert expected in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
