# JupyterLab settings of this project. `make setup` links this file into .venv/etc/jupyter/, so every
# `jupyter lab` of the project's environment (`make lab` among them) reads it.
# Saving a notebook of this checkout's nbs/ cleans it as `nbdev_clean` does (settings.ini: jupyter_hooks). A library
# notebook also drops its outputs (committed clean: opening, running and saving one leaves `git status` clean); a
# study notebook (nbs/study/) keeps them, cleaned as `make reproduce` writes it back (nsnet_study.notebooks): it is
# committed as executed, so a reader sees its figures and tables without running it, and opening and saving it leaves
# it unchanged.
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent / "nbs"
STUDIES = NOTEBOOKS / "study"
c = get_config()  # noqa: F821 (defined by Jupyter when it reads this file)


def clean_before_save(model, path, contents_manager, **kwargs):
    "Jupyter's pre-save hook: nbdev's clean for the notebooks under this checkout's nbs/; no outputs but a study's."
    notebook = (Path(contents_manager.root_dir) / path).resolve()
    if model["type"] != "notebook" or not notebook.is_relative_to(NOTEBOOKS):
        return
    if notebook.is_relative_to(STUDIES):  # as `make reproduce` writes it back: no widgets, papermill traces or machine paths
        from nsnet_study.notebooks import committed_notebook
        model["content"] = committed_notebook(model["content"], NOTEBOOKS.parent)
        return
    from nbdev.clean import clean_jupyter
    clean_jupyter(path=notebook, model=model)
    for cell in model["content"]["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None


c.FileContentsManager.pre_save_hook = clean_before_save
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
