"""What a reader sees: JupyterLab in headless Chromium runs notebooks through its UI.

JupyterLab is started on 127.0.0.1 with a token and this project's `jupyter_server_config.py`; Playwright drives
Debian's Chromium (its own browser download cannot work offline). Checked: every cell runs, no error output, no
stderr box (warnings, text progress bars), a study notebook shows its figures (as committed, without running it),
and opening, running and saving notebooks leaves `git status` clean. Screenshots go to runs/browser/ (git-ignored). The server is stopped by its PID.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, session_folder
from test_study import SMOKE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "runs" / "browser"


def _missing() -> str:
    "Why the browser test cannot run here ('' when it can)."
    if CHROMIUM is None:
        return "Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
    for module in ("playwright", "jupyterlab", "ipywidgets"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (make setup installs the dev dependencies)"
    return ""


# one JupyterLab and one browser for the module: its tests stay on one xdist worker (pytest.ini: --dist loadgroup)
pytestmark = [pytest.mark.skipif(bool(_missing()), reason=_missing() or "runs"), pytest.mark.xdist_group("browser")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "A JupyterLab server of this checkout, with settings and workspaces in a temporary folder; stopped by its PID."
    home = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), os.urandom(16).hex()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "NSNET_CACHE": str(session_folder(tmp_path_factory) / "cache"),  # the features other tests encoded
           "NSNET_SMOKE": "1", "HF_HUB_OFFLINE": "1"}
    log = home / "server.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={ROOT}", "--LabApp.expose_app_in_browser=True",
               f"--LabApp.workspaces_dir={home / 'workspaces'}", f"--LabApp.user_settings_dir={home / 'settings'}"]
    command += ["--allow-root"] if os.geteuid() == 0 else []  # CI runs as root
    if not (Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.py").exists():  # make setup links it there
        command.append(f"--config={ROOT / 'jupyter_server_config.py'}")
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/status?token={token}", server, log)
        yield base, token
    finally:
        _stop(server)


def _stop(server: subprocess.Popen):
    "SIGTERM to the server's process group (the server and the kernels it started), SIGKILL after 20 s."
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# JavaScript run in the page, on the notebook panel of one path: JupyterLab's own commands and models
# (expose_app_in_browser). Restored workspaces may open other notebooks beside it, so nothing relies on focus.
# Until JupyterLab has started, window.jupyterapp (or its shell) is undefined: no panel yet, not an error.
_PANEL = """const app = window.jupyterapp;
    const panel = app && app.shell ? [...app.shell.widgets('main')].find(w => w.context && w.context.path === path) : undefined;"""
_OPENED = """path => { %s
    const kernel = panel && panel.context.isReady && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle'; }""" % _PANEL
_RUN_ALL = """async path => { %s
    app.shell.activateById(panel.id);
    await app.commands.execute('notebook:run-all-cells');
    return panel.content.widgets.filter(c => c.model.type === 'code')
                .map(c => ({count: c.model.executionCount, outputs: c.model.outputs.toJSON()})); }""" % _PANEL
_SAVE = """async path => { %s
    app.shell.activateById(panel.id);
    await app.commands.execute('docmanager:save'); }""" % _PANEL
_SEEN = """path => { %s
    const outputs = type => panel.node.querySelectorAll(`.jp-OutputArea-output[data-mime-type="${type}"]`).length;
    return {stderr: outputs('application/vnd.jupyter.stderr'), images: panel.node.querySelectorAll('.jp-OutputArea-output img').length}; }""" % _PANEL


def _run_in_lab(lab, browser, notebook: Path, seconds: float = 240) -> tuple[list, dict]:
    "Open `notebook` in JupyterLab, run all cells through the UI, save it: (code cells' outputs, what the page shows)."
    base, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        path = notebook.relative_to(ROOT).as_posix()
        page.goto(f"{base}/lab/tree/{path}?token={token}")
        page.wait_for_function(_OPENED, arg=path, timeout=90_000)
        cells = page.evaluate(_RUN_ALL, path)
        page.wait_for_function(_OPENED, arg=path, timeout=seconds * 1000)
        seen = page.evaluate(_SEEN, path)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{notebook.stem}.png"), full_page=True)
        page.evaluate(_SAVE, path)
        return cells, seen
    finally:
        page.close()


def _problems(cells: list) -> list[str]:
    "Cells that did not run, error outputs and stderr outputs, one line each."
    found = []
    for number, cell in enumerate(cells):
        if cell["count"] is None:
            found.append(f"code cell {number} did not run")
        for output in cell["outputs"]:
            if output["output_type"] == "error":
                found.append(f"code cell {number}: {output['ename']}: {output['evalue']}")
            if output["output_type"] == "stream" and output["name"] == "stderr":
                found.append(f"code cell {number} wrote to stderr: {''.join(output['text'])[:300]!r}")
    return found


def _git_status(*paths) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", *map(str, paths)], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def _has_image(cells: list) -> bool:
    return any("image/png" in output.get("data", {}) for cell in cells for output in cell["outputs"])


def test_patches_notebook_runs_in_the_browser_and_stays_clean(lab, browser):
    notebook = ROOT / "nbs" / "02_patches.ipynb"
    if _git_status(notebook):
        pytest.skip("nbs/02_patches.ipynb has uncommitted changes: the clean-tree check needs a committed notebook")
    saved_before = notebook.stat().st_mtime_ns
    cells, seen = _run_in_lab(lab, browser, notebook)
    assert _problems(cells) == []
    assert seen["stderr"] == 0, "a stderr box is shown"
    assert _has_image(cells) and seen["images"] >= 1, "the patch grid is not shown"
    assert notebook.stat().st_mtime_ns > saved_before, "JupyterLab did not save the notebook"
    assert _git_status(notebook) == "", "opening, running and saving the notebook changed it"


def test_study_notebook_shows_its_figures_in_the_browser(lab, browser, tmp_path):
    "A study notebook with its smoke parameters (as papermill injects them), outputs in a temporary folder."
    import papermill
    name = "00_data_overview.ipynb"
    parameters = {**SMOKE[name][0], "FIGURES_DIR": str(tmp_path / "figures"), "RESULTS_DIR": str(tmp_path / "results")}
    source = papermill.iorw.load_notebook_node(str(ROOT / "nbs" / "study" / name))  # as papermill reads it
    copy = SHOTS / name
    copy.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(papermill.parameterize.parameterize_notebook(source, parameters), copy)
    cells, seen = _run_in_lab(lab, browser, copy)
    assert _problems(cells) == []
    assert seen["stderr"] == 0, "a stderr box is shown"
    assert _has_image(cells) and seen["images"] >= 1, "no figure is shown"
    assert (tmp_path / "figures" / "00_data_overview_counts.png").is_file()


@pytest.mark.parametrize("name", ["00_data_overview", "12_ablations", "13_tsne"])  # prints, warnings and progress, figures
def test_a_committed_study_notebook_shows_its_figures_unrun_and_keeps_them_on_save(lab, browser, name):
    "As a reader opens it: the committed (executed) notebook shows its figures without running; saving changes nothing."
    notebook = ROOT / "nbs" / "study" / f"{name}.ipynb"
    if _git_status(notebook):
        pytest.skip(f"{notebook.name} has uncommitted changes: the clean-tree check needs a committed notebook")
    committed = _has_image([c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"])
    base, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        path = notebook.relative_to(ROOT).as_posix()
        page.goto(f"{base}/lab/tree/{path}?token={token}")
        page.wait_for_function(_OPENED, arg=path, timeout=90_000)
        if committed:  # a large notebook's outputs are drawn after its kernel is ready: wait for them, not a fixed time
            page.wait_for_function(f"path => ({_SEEN})(path).images >= 1", arg=path, timeout=90_000)
        seen = page.evaluate(_SEEN, path)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{notebook.stem}-unrun.png"), full_page=True)
        saved_before = notebook.stat().st_mtime_ns
        page.evaluate(_SAVE, path)
    finally:
        page.close()
    assert committed and seen["images"] >= 1, "the committed notebook shows no figure"
    assert notebook.stat().st_mtime_ns > saved_before, "JupyterLab did not save the notebook"
    assert _git_status(notebook) == "", "saving changed the committed notebook (its outputs?)"
