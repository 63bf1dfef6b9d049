"""The study states its answer no stronger than its tests: rendered sentences a reader takes in, intervals that agree
with their verdicts, family sizes that are the tests adjusted together, and no result number typed by hand."""
import json
import math
import re

import nbformat
import pytest

from conftest import ROOT
from nsnet_study.reporting import _tests, adjusted_interval, render_families, load_reports, paragraph_blocks
from nsnet_study.results import read_all

RESULTS = read_all(ROOT / "results")
REPORTS = load_reports()


def sentences(text: str) -> list[str]:
    "The sentences of a rendered block, its tables and list markers aside."
    prose = " ".join(line.lstrip("- ") for line in text.splitlines() if line.strip() and not line.lstrip().startswith("|"))
    pieces = re.split(r"(?<=[.!?])\s+", prose)  # a sentence may start lower-case, with a name (linear_probe minus ...)
    said = []
    for piece in pieces:
        if said and re.search(r"\b(e\.g|i\.e|vs|cf|al|approx)\.$", said[-1]):
            said[-1] += " " + piece  # an abbreviation ends no sentence
        elif piece.strip():
            said.append(piece)
    return said


def test_every_rendered_sentence_is_at_most_40_words():
    long = [(name, len(s.split()), s[:120]) for name, text in paragraph_blocks(RESULTS, REPORTS).items()
            for s in sentences(text) if len(s.split()) > 40]
    assert not long, f"{len(long)} sentences over 40 words: {long[:5]}"


def test_sentences_split_at_their_ends_not_at_abbreviations():
    assert sentences("A, e.g. b. advanced_corrected minus c: +0.1.\n| a | b |\n- Next one") == [
        "A, e.g. b.", "advanced_corrected minus c: +0.1.", "Next one"]


def contrasts():
    for study, rows in RESULTS.items():
        for row in rows.contrasts.to_dict(orient="records"):
            yield study, row


def test_no_verdict_beside_an_interval_that_contradicts_it():
    "The interval printed beside a verdict is the one it was read from: a difference excludes 0, an equivalence lies in the margin."
    wrong = []
    for study, row in contrasts():
        low, high = adjusted_interval(row)
        if not all(isinstance(v, float) and math.isfinite(v) for v in (low, high)) or math.isnan(row["low_adjusted"]):
            continue  # earlier results (Holm) carry no interval at their level: none is printed as one
        verdict = row["verdict"]
        ok = ((verdict == "first higher" and low > 0) or (verdict == "second higher" and high < 0)
              or (verdict.startswith("equivalent") and -row["margin"] < low and high < row["margin"])
              or (verdict == "no evidence of a difference" and low <= 0 <= high) or verdict in ("identical", "undefined"))
        if not ok:
            wrong.append((study, row["family"], verdict, low, high))
    assert not wrong, wrong[:5]


def test_each_family_size_is_the_tests_adjusted_together():
    "A family's printed size is the number of its members that were tests (identical ones are not), or 1 where each stands alone."
    table = render_families(RESULTS)
    for study, rows in RESULTS.items():
        for family in rows.families:
            members = rows.contrasts_where(family=family.name)
            tested = int((members.p.notna() & (members.verdict != "identical")).sum())
            expected = tested if family.adjustment == "bonferroni" else 1 if family.adjustment == "none" else len(members)
            assert set(members.tests) == {expected}, (study, family.name, set(members.tests), expected)
            line = next(l for l in table.splitlines() if l.startswith(f"| {study} | {family.name} |"))
            assert f"| {expected}" in line, (study, family.name, line)


# What counts as a result number: a decimal with two or more places between -1 and 1 (an AP, an accuracy, a difference,
# a p-value, a share). Not counted: protocol constants (the margin, alpha, loss weights, thresholds: ALLOWED), numbers
# with a unit after them (timings, sizes: their CPU or GPU is named beside them), versions, hashes, code.
RESULT = re.compile(r"(?<![\w.\-/])([+-]?0?\.\d{2,})(?![\w.%/])(?!\s*(?:s\b|ms\b|MB|GB|kB|min\b|h\b|GFLOP|TFLOP|images|px|x\b))")
ALLOWED = {"0.01", "0.05", "0.07", "0.10", "0.20", "0.25", "0.30", "0.50", "0.99", "0.014", "0.142", "0.80", "0.95"}
MARKED = re.compile(r"<!-- (says|results):(\w+) -->.*?<!-- /\1:\2 -->", re.S)


PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?%)")  # a share said in percent
ALLOWED_PERCENT = {"95%", "90%", "99%", "5%", "1%", "50%", "80%", "100%", "0%", "15%", "20%", "25%", "60%"}  # levels, targets, splits


def result_numbers(text: str) -> list[str]:
    "Result numbers in a text outside rendered blocks, code blocks and inline code."
    text = MARKED.sub(" ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    plain = lambda n: n.lstrip("+-") if not n.lstrip("+-").startswith(".") else "0" + n.lstrip("+-")
    return ([n for n in RESULT.findall(text) if plain(n) not in ALLOWED]
            + [n for n in PERCENT.findall(text) if n not in ALLOWED_PERCENT])


def typed_places():
    "(where, text) of every place a result could be typed by hand: README, the site's pages, the studies' markdown, the declarations."
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "guides").glob("*.md"))]:
        yield path.relative_to(ROOT), path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "nbs" / "study").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        yield path.relative_to(ROOT), "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
    for path in sorted((ROOT / "nsnet_study" / "reports").glob("*.json")):
        words = lambda obj: ([obj] if isinstance(obj, str) else [w for v in (obj.values() if isinstance(obj, dict) else obj) for w in words(v)]
                             if isinstance(obj, (dict, list)) else [])
        declared = json.loads(path.read_text(encoding="utf-8"))
        yield path.relative_to(ROOT), "\n".join(w for key in ("tables", "says", "claims") for w in words(declared.get(key, [])))


@pytest.mark.parametrize("where,text", list(typed_places()), ids=lambda v: str(v) if not isinstance(v, str) else "")
def test_no_result_number_outside_a_rendered_block(where, text):
    found = result_numbers(text)
    assert not found, f"{where}: result numbers typed by hand (render them from results/): {found[:8]}"


def test_the_scanner_counts_results_and_not_protocol_constants():
    assert result_numbers("AP 0.72 [0.66, 0.81], gap +0.41, 37% uncertain") == ["0.72", "0.66", "0.81", "+0.41", "37%"]
    assert result_numbers("margin 0.05, 0.87 s per image, torch 2.14.1, a 95% interval, `0.55` <!-- says:x -->0.93<!-- /says:x -->") == []
