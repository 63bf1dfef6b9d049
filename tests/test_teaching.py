"""Library notebooks that teach: how many exported definitions are followed by a cell that shows them at work.

A *showing cell* is the code cell right after an exported one that a reader sees (not `#| export`, not `#| hide`), that
uses a name the exported cell defines and that checks a result (`test_*`, `assert`, `np.testing`). Cells that only
import are not counted. At least 60% of the exported cells are shown and no notebook runs more than 4 exported cells in a
row; the per-notebook floors in tests/fixtures/teaching_floors.json only rise: a notebook may show more, never less.
"""
import ast
import json
import re
from pathlib import Path

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "nbs").glob("[0-9]*.ipynb"))
FLOORS = json.loads((ROOT / "tests" / "fixtures" / "teaching_floors.json").read_text())
TARGET_SHARE, TARGET_RUN = 0.60, 4
CHECKS = re.compile(r"\btest_\w+\(|\bassert\b|np\.testing\.")
IMPORTS_ONLY = re.compile(r"\s*#\|\s*export\s*\n((from|import)[^\n]*|\s+[^\n]*|)(\n((from|import)[^\n]*|\s+[^\n]*|))*\s*$")


def _directives(source: str) -> set[str]:
    return {line.strip()[2:].strip().split()[0] for line in source.splitlines() if line.strip().startswith("#|") and line.strip()[2:].strip()}


def defined_names(source: str) -> set[str]:
    "The names an exported cell defines at its top level (functions, classes, assigned names)."
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#|"))
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def teaching(cells: list[dict]) -> dict:
    "exported (non-import) cells, how many a showing cell follows, the longest run of exported cells in a row."
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    exported = shown = run = longest = 0
    for i, source in enumerate(code):
        if "export" not in _directives(source):
            run = 0
            continue
        if IMPORTS_ONLY.match(source):
            continue
        exported, run = exported + 1, run + 1
        longest = max(longest, run)
        after = code[i + 1] if i + 1 < len(code) else ""
        if after and not {"export", "hide"} & _directives(after) and CHECKS.search(after) \
                and any(re.search(rf"\b{re.escape(name)}\b", after) for name in defined_names(source)):
            shown += 1
    return {"exported": exported, "shown": shown, "share": shown / exported if exported else 1.0, "longest_run": longest}


def test_the_measure_counts_what_a_reader_sees():
    cell = lambda source: {"cell_type": "code", "source": source}
    cells = [cell("#| export\nimport numpy as np"), cell("#| export\ndef double(x): return 2 * x"), cell("assert double(2) == 4"),
             cell("#| export\ndef half(x): return x / 2"), cell("#| hide\nassert half(2) == 1"),
             cell("#| export\ndef third(x): return x / 3"), cell("#| export\nLIMIT = 3"), cell("print(LIMIT)")]
    assert teaching(cells) == {"exported": 4, "shown": 1, "share": 0.25, "longest_run": 2}


def test_report_and_floors(capsys):
    "Per notebook: the share of exported cells shown and the longest run; none falls below its recorded floor."
    rows = {nb.name: teaching(json.loads(nb.read_text(encoding="utf-8"))["cells"]) for nb in NOTEBOOKS}
    total = sum(r["exported"] for r in rows.values())
    shown = sum(r["shown"] for r in rows.values())
    with capsys.disabled():
        print(f"\nlibrary notebooks: {shown} of {total} exported cells shown ({shown / total:.0%}; target {TARGET_SHARE:.0%})")
        for name, r in rows.items():
            print(f"  {name:28s} {r['shown']:3d}/{r['exported']:3d} shown ({r['share']:4.0%}), longest run {r['longest_run']}")
    assert set(rows) == set(FLOORS["notebooks"]), "a notebook was added or removed: record its floor"
    for name, r in rows.items():
        floor = FLOORS["notebooks"][name]
        assert r["share"] >= floor["share"] - 1e-9, f"{name}: {r['share']:.0%} shown, below its floor {floor['share']:.0%}"
        assert r["longest_run"] <= TARGET_RUN, f"{name}: a run of {r['longest_run']} exported cells (at most {TARGET_RUN})"
    assert shown / total >= max(FLOORS["overall_share"], TARGET_SHARE) - 1e-9, f"{shown / total:.0%} of exported cells shown"
