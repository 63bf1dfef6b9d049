"""Every study notebook runs through papermill with small parameters and writes its outputs."""
from pathlib import Path

import papermill
import pytest

from conftest import ROOT

STUDY_NOTEBOOKS = sorted((ROOT / "nbs" / "study").glob("[0-9]*.ipynb"))

# Small parameters per notebook and the outputs each must write (relative to its figures/results folders).
SMOKE = {
    "00_data_overview.ipynb": (
        {"N_EXAMPLES": 1, "N_PUBLISHED_DRAWS": 3, "DOWNLOAD": False},
        ["figures/00_data_overview_counts.png", "figures/00_data_overview_sizes.png",
         "figures/00_data_overview_patches.png", "results/data_overview.json"],
    ),
    "01_encoder_check.ipynb": (
        {"N_IMAGENET": 12, "N_BATCH_CHECK": 2, "DOWNLOAD": False},
        ["figures/01_encoder_check.png", "results/encoder_check.json"],
    ),
    "10_published_vs_corrected.ipynb": (
        {"SEEDS": [0], "N_BANK": 20, "CORRECTED_EPOCHS": 2, "N_BOOT": 20, "DOWNLOAD": False},
        ["figures/10_published_vs_corrected.png", "results/10_published_vs_corrected.json",
         "results/10_published_vs_corrected_per_seed.csv"],
    ),
    "11_cross_generator.ipynb": (
        {"SEEDS": [0], "GENERATORS": ["biggan", "crn"], "N_BANK": 20, "EPOCHS": 2, "N_BOOT": 20, "DOWNLOAD": False},
        ["figures/11_cross_generator.png", "results/11_cross_generator.json",
         "results/11_cross_generator_per_generator.csv"],
    ),
}


def test_every_study_notebook_has_a_smoke_run():
    assert sorted(SMOKE) == [nb.name for nb in STUDY_NOTEBOOKS]


@pytest.mark.parametrize("notebook", STUDY_NOTEBOOKS, ids=lambda p: p.name)
def test_study_notebook(notebook, tmp_path):
    parameters, outputs = SMOKE[notebook.name]
    parameters = {**parameters, "FIGURES_DIR": str(tmp_path / "figures"), "RESULTS_DIR": str(tmp_path / "results")}
    papermill.execute_notebook(notebook, tmp_path / notebook.name, parameters=parameters,
                               cwd=notebook.parent, progress_bar=False, kernel_name="python3")
    for output in outputs:
        assert (tmp_path / output).stat().st_size > 0, output


def test_readme_results_match_results_folder():
    "README.md's results tables are generated from results/ (python -m nsnet_study.reporting readme)."
    from nsnet_study.reporting import main
    assert main(["readme", "--readme", str(ROOT / "README.md"), "--results", str(ROOT / "results"), "--check"]) == 0

