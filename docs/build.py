"""Build the documentation site into _docs/ (`make docs`): guides, API pages from the library notebooks, study pages.

    python docs/build.py [--out _docs]

    python docs/build.py --execute 00b_storage   # only that library notebook executed (the site test's build)

The library notebooks are executed at build time (each in its own process, in nbs/, at most EXECUTE_BUDGET seconds;
one that fails or runs over is rendered as written and the build says so), so a reader of an API page sees each
example's result, with an API section appended: `show_doc` of every public function and class of the module, with the
parameters' docments. The study pages are the study notebooks as committed, executed by `make reproduce` (never
re-executed here).
"""
import argparse
import importlib
import inspect
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXECUTE_BUDGET = 300  # seconds per library notebook at build time (all 27: 4 min 37 s on a 2-core Intel Xeon, feature cache warm)


def _runs(cell) -> bool:
    "Whether a cell runs at build time: as under `nbdev_test`, `#| eval: false` cells and `nbdev_export()` calls do not."
    source = cell.get("source", "")
    return cell.cell_type == "code" and not re.search(r"^#\|\s*eval:\s*false", source, re.M) and "nbdev_export(" not in source


def execute_notebook(path: Path, out: Path) -> None:
    "Run a library notebook top to bottom in its own folder (as `nbdev_test` does) and write it, with its outputs, to `out`."
    from execnb.nbio import nb2dict, read_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    notebook = read_nb(path)
    with working_directory(path.parent):
        CaptureShell(path).run_all(notebook, exc_stop=True, preproc=lambda cell: not _runs(cell))
    out.write_text(json.dumps(nb2dict(notebook), ensure_ascii=False), encoding="utf-8")


def executed_cells(path: Path, budget: float = EXECUTE_BUDGET) -> list[dict] | None:
    "The notebook's cells with their outputs, run in a subprocess within `budget` seconds; None (and a line why) if it fails."
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / path.name
        worker = subprocess.Popen([sys.executable, __file__, "--execute-one", str(path), str(out)], cwd=ROOT, text=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, error = worker.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)  # the worker and anything it started (loader processes)
            worker.communicate()
            print(f"{path.name}: not executed (over {budget:.0f} s): rendered as written")
            return None
        if worker.returncode != 0 or not out.is_file():
            print(f"{path.name}: not executed ({(error.strip().splitlines() or ['failed'])[-1]}): rendered as written")
            return None
        return json.loads(out.read_text(encoding="utf-8"))["cells"]


def _module_of(notebook: dict) -> str | None:
    "The module a library notebook exports to (its `#| default_exp` line)."
    for cell in notebook["cells"]:
        found = re.search(r"#\|\s*default_exp\s+(\S+)", "".join(cell["source"]))
        if found:
            return found.group(1)
    return None


def api_markdown(module_name: str) -> str:
    "show_doc of every public name of nsnet_study.<module_name> (and the public methods of its classes), as markdown."
    from nbdev.showdoc import show_doc
    module = importlib.import_module(f"nsnet_study.{module_name}")
    parts = ["## API\n"]
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        parts.append(_clean(show_doc(obj, name=name)._repr_markdown_()) + "\n\n" + (_parameter_table(obj) if inspect.isfunction(obj) else ""))
        if inspect.isclass(obj):
            for method, member in vars(obj).items():
                if not method.startswith("_") and inspect.isfunction(member):
                    parts.append(_clean(show_doc(member, name=f"{name}.{method}")._repr_markdown_()) + "\n\n" + _parameter_table(member))
    return "\n\n".join(parts)


def _parameter_table(obj) -> str:
    "The parameters of a function (or a class's constructor) with their type, default and docment, as a markdown table."
    from fastcore.docments import docments
    try:
        rows = docments(obj, full=True, args_kwargs=True)
    except (TypeError, ValueError):
        return ""
    rows = {name: row for name, row in rows.items() if name not in ("self", "cls", "return") and row.get("docment")}
    if not rows:
        return ""
    def cell(value) -> str:
        text = "" if value is inspect.Parameter.empty else str(getattr(value, "__name__", value))
        return text.replace("|", "\\|").replace("\n", " ")
    lines = ["| parameter | type | default | what it is |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {cell(row.get('anno', ''))} | {cell(row.get('default', ''))} | {cell(row['docment'])} |" for name, row in rows.items()]
    return "\n".join(lines)


def _clean(markdown: str) -> str:
    "nbdev's markdown without its Quarto-only source link line and its leading rule."
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("[source](") and line.strip() != "---")


def _hidden(cell: dict) -> bool:
    "Cells a reader of the site does not need: `#| hide` and the `#| default_exp` line."
    text = "".join(cell["source"]).lstrip()
    return text.startswith(("#| hide", "#|hide")) or re.fullmatch(r"#\|\s*default_exp\s+\S+\s*", text) is not None

def _shown(cell: dict) -> dict:
    "A code cell without its nbdev directives (`#| export`, ...): what the reader needs is the code."
    if cell["cell_type"] != "code":
        return cell
    return {**cell, "source": [line for line in cell["source"] if not re.match(r"\s*#\|", line)]}


def _with_outputs(notebook: dict, executed: list[dict]) -> dict:
    "The committed notebook's cells with the outputs of the executed run (cell by cell, by position)."
    if len(executed) != len(notebook["cells"]):
        if executed:
            print(f"an executed notebook has {len(executed)} cells, its source {len(notebook['cells'])}: rendered as written")
        return notebook
    cells = [{**cell, "outputs": ran.get("outputs", []), "execution_count": None} if cell["cell_type"] == "code" else cell
             for cell, ran in zip(notebook["cells"], executed)]
    return {**notebook, "cells": cells}


def library_pages(generated: Path, execute=None) -> list[str]:
    "Each library notebook, executed where `execute` names it (None: all), with an API section appended; the page names."
    out = generated / "library"
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted((ROOT / "nbs").glob("[0-9]*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if execute is None or path.stem in execute:
            notebook = _with_outputs(notebook, executed_cells(path) or [])
        module = _module_of(notebook)
        notebook["cells"] = [_shown(c) for c in notebook["cells"] if not _hidden(c)]
        if module:
            notebook["cells"].append({"cell_type": "markdown", "id": "api-section", "metadata": {}, "source": api_markdown(module).splitlines(keepends=True)})
        (out / path.name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
        names.append(f"library/{path.stem}")
    return names


def study_pages(generated: Path) -> list[str]:
    "The study notebooks as committed (executed by `make reproduce`, not re-executed here), links made relative to the site; the page names."
    out = generated / "studies"
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted((ROOT / "nbs" / "study").glob("[0-9]*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":  # nbs/study/../../docs/X is _generated/studies/../../X on the site
                cell["source"] = re.sub(r"(\]\(|\]: |href=\")\.\./\.\./docs/", r"\1../../", "".join(cell["source"]))
        (out / path.name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
        names.append(f"studies/{path.stem}")
    return names


def write_index(generated: Path, library: list[str], studies: list[str]) -> None:
    "The generated tables of contents the hand-written index includes."
    (generated / "library.md").write_text("# The library\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(library) + "\n```\n")
    (generated / "studies.md").write_text("# The studies\n\nEach study notebook as `make reproduce` executed it.\n\n```{toctree}\n"
                                          ":maxdepth: 1\n\n" + "\n".join(studies) + "\n```\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "_docs"))
    parser.add_argument("--execute", default="all", help="library notebooks to execute: 'all', 'none' or names (e.g. 00b_storage,07_models)")
    parser.add_argument("--execute-one", nargs=2, metavar=("NOTEBOOK", "OUT"), help=argparse.SUPPRESS)  # the worker of one notebook
    args = parser.parse_args(argv)
    if args.execute_one:
        execute_notebook(Path(args.execute_one[0]), Path(args.execute_one[1]))
        return 0
    execute = None if args.execute == "all" else set() if args.execute == "none" else set(args.execute.split(","))
    unknown = sorted((execute or set()) - {p.stem for p in (ROOT / "nbs").glob("[0-9]*.ipynb")})
    if unknown:
        parser.error(f"--execute names no library notebook: {', '.join(unknown)} (names are like 00b_storage)")
    # Sphinx reads a private copy of docs/ made beside it (so its links such as ../figures still resolve), with the
    # generated pages inside: two builds at once (two checkouts' tests, `make docs` during a test) never share a file.
    source = Path(tempfile.mkdtemp(prefix=".docs-source-", dir=ROOT))
    try:
        shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_generated", "build.py"), dirs_exist_ok=True)
        generated = source / "_generated"
        write_index(generated, library_pages(generated, execute), study_pages(generated))
        command = [sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html", str(source), args.out]
        return subprocess.run(command).returncode
    finally:
        shutil.rmtree(source, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
