"""Every study notebook runs through papermill with small parameters and writes its outputs."""
import re
import shutil
import tempfile
from pathlib import Path

import nbformat
import papermill
import pytest
from jupyter_client import AsyncKernelManager

from conftest import ROOT

STUDY_NOTEBOOKS = sorted((ROOT / "nbs" / "study").glob("[0-9]*.ipynb"))

# Small parameters per notebook and the outputs each must write (relative to its figures/results folders).
SMOKE = {
    "00_data_overview.ipynb": (
        {"N_EXAMPLES": 1, "N_PUBLISHED_DRAWS": 3, "DOWNLOAD": False},
        ["figures/00_data_overview_counts.png", "figures/00_data_overview_sizes.png",
         "figures/00_data_overview_patches.png", "results/00_data_overview/study.json"],
    ),
    "01_encoder_check.ipynb": (
        {"N_IMAGENET": 12, "N_BATCH_CHECK": 2, "DOWNLOAD": False},
        ["figures/01_encoder_check.png", "results/01_encoder_check/study.json"],
    ),
    "10_published_vs_corrected.ipynb": (
        {"SEEDS": [0], "PER_GROUP": 4, "N_BANK": 20, "CORRECTED_EPOCHS": 2, "UPDATES": 12, "CAPTION_FRACTIONS": [0.5],
         "UPDATE_GRID": [6, 12], "BLANK_CHOICES": ["zero"], "N_BOOT": 20, "DOWNLOAD": False},
        ["figures/10_published_vs_corrected.png", "figures/10_passes_per_image.png", "figures/10_comparisons.png", "figures/10_gap_decomposed.png",
         "results/10_published_vs_corrected/study.json",
         "results/10_published_vs_corrected_per_seed.csv", "results/10_training_curves.csv.gz"],
    ),
    "11_cross_generator.ipynb": (
        {"SEEDS": [0, 1], "PER_GROUP": 3, "GENERATORS": ["biggan", "crn", "imle"], "N_BANK": 20, "EPOCHS": 2, "UPDATES": 12,
         "N_BOOT": 50,
         "DOWNLOAD": False},
        ["figures/11_cross_generator.png", "results/11_cross_generator/study.json", "results/11_cross_generator_scores.csv.gz"],
    ),
    "12_ablations.ipynb": (
        {"PER_GROUP": 3, "N_REPEATS": 1, "SECONDARY_REPEATS": 1, "RANKS": [0, 8], "CONTRASTIVE_WEIGHTS": [0.0],
         "OTHER_PATCHES": ["none"], "LAYERS": [8], "EPOCHS": 2, "N_BANK": 20, "COMPARE_INT8": False, "DECLAN_PER_LABEL": 8,
         "COVERAGE_DATA_SETS": 5,
         "DOWNLOAD": False},
        ["figures/12_differences.png", "figures/12_ablation_rank_layers.png", "results/12_ablations/study.json",
         "results/12_ablations_scores.csv.gz"],
    ),
    "13_tsne.ipynb": (
        {"PER_GROUP": 3, "N_BANK": 20, "REMOVED_RANKS": [8], "TSNE_RANK": 8, "PERPLEXITY": 10, "DOWNLOAD": False},
        ["figures/13_tsne.png", "figures/13_what_projection_removes.png", "results/13_tsne/study.json"],
    ),
    "14_robustness.ipynb": (
        {"PER_GROUP": 3, "N_FOLDS": 8, "TEST_FOLDS": 1, "JPEG_QUALITIES": [50], "BLUR_SIGMAS": [2.0], "RESIZE_FACTORS": [0.5], "EPOCHS": 2,
         "N_BANK": 20, "N_BOOT": 50, "DOWNLOAD": False},
        ["figures/14_robustness.png", "results/14_robustness/study.json", "results/14_robustness_scores.csv.gz"],
    ),
    "16_shipped_models.ipynb": (
        {"PER_GROUP": 2, "N_BANK": 20, "LAYERS": [4, 8], "EPOCHS": 2, "N_BOOT": 50, "DOWNLOAD": False, "EXPLAIN": False,
         "TRAIN_PERTURBATIONS": ["jpeg:50"], "TEST_PERTURBATIONS": ["jpeg:50"], "N_REFERENCE": 90,
         "ADAPT_KS": [0, 1], "ADAPT_REPEATS": 1, "ADAPT_EVAL_PER_CLASS": 1,
         "MODELS_DIR": "<tmp>"},  # explanations: nbs/14_explanations.ipynb and tests/test_detect.py
        ["figures/16_shipped_models.png", "figures/16_perturbations.png", "figures/16_abstention_rules.png", "figures/16_adaptation.png", "results/16_shipped_models/study.json", "results/16_shipped_models_scores.csv.gz",
         "models/default.safetensors", "models/default.json", "models/bank.safetensors"],
    ),
    "20_paper_protocol.ipynb": (
        {"ENCODER": "tiny-random", "CAPTIONER": None, "TRAIN_SUBSETS": ["biggan", "crn"], "SEEDS": [0],
         "EPOCHS": 2, "N_BOOT": 20},
        ["figures/20_paper_protocol.png", "results/20_paper_protocol/study.json"],
    ),
    "15_peer_detector.ipynb": (
        {"PER_GROUP": 4, "N_BANK": 20, "DECLAN_PER_LABEL": 3, "N_BOOT": 20, "DOWNLOAD": False},
        ["figures/15_peer_detector.png", "results/15_peer_detector/study.json"],
    ),
}


def test_every_study_notebook_has_a_smoke_run():
    assert sorted(SMOKE) == [nb.name for nb in STUDY_NOTEBOOKS]


@pytest.mark.parametrize("notebook", STUDY_NOTEBOOKS, ids=lambda p: p.name)
def test_study_notebooks_define_no_functions(notebook):
    "Study notebooks call the library: reusable logic (a def or a class) belongs in nbs/ and is tested there."
    cells = [cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    definitions = [line.strip() for cell in cells for line in cell.source.splitlines()
                   if re.match(r"\s*(async\s+)?(def|class)\s", line)]
    assert not definitions, f"{notebook.name} defines {definitions}: move them into the library"


@pytest.mark.parametrize("notebook", STUDY_NOTEBOOKS, ids=lambda p: p.name)
def test_study_notebooks_hold_no_assert(notebook):
    "A guard a full run must not pass is a library check that raises with a message (or a test), never a bare assert in a study."
    import ast
    cells = [cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    asserts = [cell.splitlines()[node.lineno - 1].strip() for cell in cells for node in ast.walk(ast.parse(cell)) if isinstance(node, ast.Assert)]
    assert not asserts, f"{notebook.name} asserts {asserts}: make it a library check or a test"


def private_kernel(folder):
    """A kernel talking over Unix sockets in `folder`. Over TCP, a port jupyter_client picked as free can be taken
    by the other xdist worker's kernel before this one binds it: the kernel dies with "Address already in use" and
    papermill waits 60 s for it (seen in CI on 01_encoder_check)."""
    return AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(folder / "kernel"))


def test_private_kernels_use_no_tcp_port(tmp_path):
    "The study runs' kernels bind sockets in their own folder, so two workers' kernels cannot collide."
    sockets = Path(tempfile.mkdtemp(prefix="nsk-"))
    try:
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1 + 1")])
        nbformat.write(notebook, tmp_path / "tiny.ipynb")
        manager = private_kernel(sockets)
        papermill.execute_notebook(tmp_path / "tiny.ipynb", tmp_path / "out.ipynb", progress_bar=False,
                                   kernel_name="python3", km=manager)
        assert manager.connection_file, "papermill started its own kernel, not this one"
        assert manager.transport == "ipc" and manager.ip.startswith(str(sockets))
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


@pytest.mark.parametrize("notebook", STUDY_NOTEBOOKS, ids=lambda p: p.name)
def test_study_notebook(notebook, tmp_path):
    parameters, outputs = SMOKE[notebook.name]
    parameters = {**parameters, "FIGURES_DIR": str(tmp_path / "figures"), "RESULTS_DIR": str(tmp_path / "results")}
    if "MODELS_DIR" in parameters:  # never the package's shipped models
        parameters["MODELS_DIR"] = str(tmp_path / "models")
    sockets = Path(tempfile.mkdtemp(prefix="nsk-"))  # short: a Unix socket's path has at most 107 bytes
    try:
        papermill.execute_notebook(notebook, tmp_path / notebook.name, parameters=parameters,
                                   cwd=notebook.parent, progress_bar=False, kernel_name="python3",
                                   km=private_kernel(sockets))
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    for output in outputs:
        assert (tmp_path / output).stat().st_size > 0, output
    assert_rows_keep_the_committed_schema(tmp_path / "results")


def assert_rows_keep_the_committed_schema(fresh: Path):
    "A smoke run's rows read back, and name no metric or family the committed rows lack (the keys a reproduction is compared by)."
    from nsnet_study.results import read_all
    committed = read_all(ROOT / "results")
    for study, rows in read_all(fresh).items():
        if study not in committed:
            continue  # a study without committed results (20: it needs a GPU)
        for frame, field in (("estimates", "metric"), ("contrasts", "metric"), ("contrasts", "family")):
            unknown = set(getattr(rows, frame)[field]) - set(getattr(committed[study], frame)[field])
            assert not unknown, f"{study}: {frame} with a {field} the committed rows lack: {sorted(unknown)}"


def test_readme_results_match_results_folder():
    "README.md's results tables and every study's What it says (README and notebook) are rendered from results/."
    from nsnet_study.reproduction import main
    assert main(["readme", "--readme", str(ROOT / "README.md"), "--results", str(ROOT / "results"),
                 "--studies", str(ROOT / "nbs" / "study"), "--pages", str(ROOT / "docs" / "results.md"),
                 str(ROOT / "docs" / "index.md"), "--check"]) == 0



@pytest.mark.parametrize("notebook", STUDY_NOTEBOOKS, ids=lambda p: p.name)
def test_every_parameter_is_one_papermill_reads(notebook):
    "papermill parses every line of the parameters cell (a line it cannot parse is silently not a parameter)."
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    assigned = [m.group(1) for m in re.finditer(r"^([A-Z_][A-Z0-9_]*)\s*=", cell.source, re.MULTILINE)]
    assert sorted(papermill.inspect_notebook(str(notebook))) == sorted(assigned)


HEADINGS = ("## Question", "## Design", "## Results", "## What it says", "## Threats")
TOLD = [nb for nb in STUDY_NOTEBOOKS if nb.name[:2] in {"10", "11", "12", "13", "14", "15", "16"}]


@pytest.mark.parametrize("notebook", TOLD, ids=lambda p: p.name)
def test_study_notebook_tells_its_story(notebook):
    "Question, Design, Results, What it says (its rendered paragraph, between markers), Threats: in this order."
    markdown = [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown"]
    text = "\n\n".join(markdown)
    positions = [text.find("\n" + h) if not text.startswith(h) else 0 for h in HEADINGS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), f"{notebook.name}: headings {positions}"
    assert re.search(r"<!-- says:\w+ -->\n.+\n<!-- /says:\w+ -->", text, re.S), "no rendered paragraph between its markers"


def test_readme_is_short_and_its_links_resolve():
    "README.md: at most 200 lines; every relative link names a file of the repository."
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
