"""Results as typed rows: the migrated rows held exactly the numbers of the files they replaced, every study has a
declaration, and reporting renders a study from rows and a declaration alone (no code of its own)."""
import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from nsnet_study.reporting import StudyReport, load_reports, paragraph_blocks, render_findings, table_blocks
from nsnet_study.results import CONTRAST_KEY, KEY, Family, StudyResults, legacy_results, read_all

RESULTS = ROOT / "results"
EARLIER = ROOT / "tests" / "fixtures" / "results_ddc9a3b"  # results/ as the last commit of the earlier schema (ddc9a3b) held it
EARLIER_FILES = sorted(EARLIER.glob("*.json")) + sorted((EARLIER / "int8").glob("*/*.json"))
MIGRATED = ROOT / "tests" / "fixtures" / "results_8cfb633"  # the rows the migration wrote (8cfb633), before a reproduction replaced them


def committed_for(path: Path) -> StudyResults:
    "The rows the migration wrote for an earlier-schema file (<study>/ or int8/<kernel>/<study>/ of the frozen migrated results)."
    folder = MIGRATED / path.parent.relative_to(EARLIER)
    return StudyResults.read(folder, legacy_results(path).study)


@pytest.mark.parametrize("path", EARLIER_FILES, ids=lambda p: str(p.relative_to(EARLIER)))
def test_every_number_of_the_earlier_files_is_a_typed_row(path):
    "The map in renames.json claims every number of the earlier file: none is left keyed by its JSON path."
    rows = legacy_results(path)
    untyped = rows.estimates[rows.estimates.metric.str.startswith("/")]
    assert untyped.empty, f"{path.name}: numbers no rule of renames.json claims: {untyped.metric.tolist()[:5]}"


@pytest.mark.parametrize("path", EARLIER_FILES, ids=lambda p: str(p.relative_to(EARLIER)))
def test_migrated_rows_hold_the_earlier_numbers(path):
    "The migration changed no number: every value, interval, p-value and verdict of the earlier file is the migrated row's."
    earlier, committed = legacy_results(path), committed_for(path)
    for frame, key, columns in [(("estimates"), KEY, ["value", "low", "high", "n", "spread"]),
                                (("contrasts"), CONTRAST_KEY, ["estimate", "low", "high", "p", "p_adjusted", "p_equivalence",
                                                                "p_equivalence_adjusted", "margin"])]:
        old, new = getattr(earlier, frame), getattr(committed, frame)
        assert sorted(map(tuple, old[list(key)].values.tolist())) == sorted(map(tuple, new[list(key)].values.tolist())), frame
        both = old.merge(new, on=list(key), suffixes=("_old", "_new"))
        for column in columns:
            np.testing.assert_allclose(both[f"{column}_new"], both[f"{column}_old"], rtol=0, atol=5e-13, equal_nan=True,
                                       err_msg=f"{path.name} {frame}.{column}")
    assert (earlier.contrasts.sort_values(list(CONTRAST_KEY)).verdict.tolist()
            == committed.contrasts.sort_values(list(CONTRAST_KEY)).verdict.tolist())
    assert [(f.name, f.members, f.adjustment) for f in earlier.families] == [(f.name, f.members, f.adjustment) for f in committed.families]


def test_every_committed_study_has_a_declaration_that_renders():
    "Each study in results/ is declared in nsnet_study/reports/, and its tables and paragraph render from its rows."
    results, reports = read_all(RESULTS), load_reports()
    assert set(results) <= set(reports), f"studies without a declaration: {sorted(set(results) - set(reports))}"
    tables, paragraphs = table_blocks(results, reports), paragraph_blocks(results, reports)
    assert tables and all(text.strip() for text in tables.values())
    markers = {r.marker for r in reports.values() if r.marker and r.says}
    assert markers <= set(paragraphs), f"paragraphs that did not render: {sorted(markers - set(paragraphs))}"


def test_a_made_up_study_renders_from_rows_and_a_declaration_alone(tmp_path):
    "No study has code in reporting: a study nobody wrote renders from its rows and a JSON declaration."
    estimates = [{"study": "99_made_up", "method": m, "condition": c, "metric": "ap", "value": v, "low": v - 0.05, "high": v + 0.05}
                 for m, c, v in [("linear_probe", "clean", 0.8), ("linear_probe", "fog", 0.6), ("knn", "clean", 0.7), ("knn", "fog", 0.65)]]
    fog = Family("fog", [(("linear_probe", "", "fog"), ("linear_probe", "", "clean"))])
    contrasts = [{"study": "99_made_up", "family": "fog", "metric": "ap", "first_method": "linear_probe", "first_condition": "fog",
                  "second_method": "linear_probe", "second_condition": "clean", "estimate": -0.2, "low": -0.3, "high": -0.1,
                  "p": 0.001, "p_adjusted": 0.001, "margin": 0.05, "p_equivalence": 0.9, "p_equivalence_adjusted": 0.9,
                  "verdict": "second higher"}]
    StudyResults("99_made_up", {"images": 120}, estimates, contrasts, [fog]).write(tmp_path / "results")
    declaration = {"study": "99_made_up", "marker": "made_up", "tables": [
        {"marker": "made_up", "where": {"metric": "ap"}, "rows": ["condition"], "columns": ["method"], "note": "On {images} images."}],
        "says": [{"kind": "contrast", "where": {"family": "fog"}, "lead": "Fog changes the probe's AP by", "first": "in fog",
                  "second": "clean"}]}
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "99_made_up.json").write_text(json.dumps(declaration))
    results, reports = read_all(tmp_path / "results"), load_reports(tmp_path / "reports")
    table = table_blocks(results, reports)["made_up"]
    assert table.splitlines()[:4] == ["| condition | linear_probe | knn |", "|---|---|---|",
                                      "| clean | 0.80 [0.75, 0.85] | 0.70 [0.65, 0.75] |", "| fog | 0.60 [0.55, 0.65] | 0.65 [0.60, 0.70] |"]
    assert table.endswith("On 120 images.")
    assert paragraph_blocks(results, reports)["made_up"] == "Fog changes the probe's AP by: -0.20 [-0.30, -0.10], clean higher (p = 0.001)."


def test_reporting_has_no_function_of_its_own_per_study():
    "reporting's functions are generic: none is named after a study, a table or a paragraph of one."
    tree = ast.parse((ROOT / "nsnet_study" / "reporting.py").read_text(encoding="utf-8"))
    names = [node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    studies = ("data_", "encoder_", "published", "cross_generator", "ablation", "tsne", "robustness", "peer", "shipped", "bench", "summary")
    bespoke = [n for n in names if any(s in n for s in studies) or (n.endswith(("_table", "_says")) and n not in ("render_table", "markdown_table"))]
    assert not bespoke, f"study-specific functions in reporting: {bespoke}"
    assert len((ROOT / "nsnet_study" / "reporting.py").read_text().splitlines()) < 800  # 1,125 lines with a renderer per study
