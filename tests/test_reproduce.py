"""`nsnet-study report compare` across two CPU kinds: the study as committed (AVX-512 VNNI) and the same commit's
`make reproduce` on an AVX2 CPU (AMD EPYC, 2 cores: a real run, not a proxy), frozen in tests/fixtures/ as that commit
wrote them (one JSON file per study, the earlier schema): compare reads them through renames.json's map, as rows."""
import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from nsnet_study.reproduction import compare_results

FIXTURES = ROOT / "tests" / "fixtures"
AVX512, AVX2 = FIXTURES / "results_avx512vnni", FIXTURES / "results_avx2"


def test_the_pair_is_two_cpu_kinds():
    kernels = [json.loads((folder / "encoder_check.json").read_text())["int8_kernel"] for folder in (AVX512, AVX2)]
    assert kernels == ["avx512vnni", "avx2"]
    assert sorted(p.name for p in AVX512.glob("*.json")) == sorted(p.name for p in AVX2.glob("*.json"))


def test_the_study_reproduces_across_cpu_kinds():
    comparison = compare_results(AVX512, AVX2)
    assert comparison.reproduced, comparison.report()
    assert comparison.compared > 1000 and comparison.moved  # numbers did move, within their own uncertainty
    assert any(note.startswith("int8 numbers: none committed for this CPU's int8 kernel (avx2") for note in comparison.notes)


def test_int8_numbers_compare_with_the_same_kernels_set(tmp_path):
    committed = tmp_path / "committed"
    shutil.copytree(AVX512, committed)
    shutil.copytree(AVX2, committed / "int8" / "avx2")  # the AVX2 set, committed beside the main one
    comparison = compare_results(committed, AVX2)
    assert comparison.reproduced and not any(note.startswith("int8 numbers") for note in comparison.notes)
    int8 = [path for path in comparison.moved if "int8" in path[1]]
    assert not int8, int8  # the same run: the int8 numbers are the same


def perturbed(tmp_path: Path, file: str, change) -> Path:
    "A copy of the AVX2 results with one file changed by `change(data)`."
    fresh = tmp_path / "fresh"
    shutil.copytree(AVX2, fresh)
    data = json.loads((fresh / file).read_text())
    change(data)
    (fresh / file).write_text(json.dumps(data, indent=2, sort_keys=True))
    return fresh


def test_a_number_beyond_its_interval_fails(tmp_path):
    def move(data):  # the probe's mean AP over held-out generators, moved past its interval
        cell = data["leave_one_generator_out"]["ap"]["linear probe"]
        cell["mean"] = cell["high"] + 0.05
    comparison = compare_results(AVX512, perturbed(tmp_path, "11_cross_generator.json", move))
    assert not comparison.reproduced
    assert any(line.startswith("11_cross_generator: linear_probe @ leave one generator out: ap:") for line in comparison.failed), comparison.report()
    assert comparison.report().splitlines()[-1].startswith("not reproduced: 1 of")


def rows_with_verdicts(obj):
    "Every comparison row (a dict with a verdict) in a results file."
    if isinstance(obj, dict):
        return ([obj] if "verdict" in obj else []) + [r for value in obj.values() for r in rows_with_verdicts(value)]
    return [r for value in obj for r in rows_with_verdicts(value)] if isinstance(obj, list) else []


def test_a_flipped_verdict_away_from_its_boundary_fails(tmp_path):
    "A difference far from zero (p < 0.01, both ends over half a half-width from 0) reported as no difference fails."
    far = [(path.name, row) for path in sorted(AVX512.glob("*.json")) for row in rows_with_verdicts(json.loads(path.read_text()))
           if "higher" in row["verdict"] and row["p"] < 0.01 and min(abs(row["low"]), abs(row["high"])) > (row["high"] - row["low"]) / 4]
    assert far, "the committed results have no clear difference to flip"
    file, target = far[0]
    def flip(data):
        for row in rows_with_verdicts(data):
            if (row["first"], row["second"], row.get("metric")) == (target["first"], target["second"], target.get("metric")):
                row["verdict"] = "no evidence of a difference"
    comparison = compare_results(AVX512, perturbed(tmp_path, file, flip))
    assert not comparison.reproduced and any("now 'no evidence of a difference'" in line for line in comparison.failed), comparison.report()


def test_readme_quotes_the_pair_as_the_check_sees_it():
    "The reproducing guide's sentence about the AVX2 pair is the comparison's own counts (no hand-typed number that can drift)."
    import re
    readme = (ROOT / "docs" / "guides" / "reproducing.md").read_text(encoding="utf-8").replace("\n", " ")
    quoted = re.search(r"says \*reproduced\*: ([\d,]+) values compared, (\d+) moved within their tolerance, (\d+) borderline", readme)
    assert quoted, "README no longer quotes the AVX2 pair's comparison"
    comparison = compare_results(AVX512, AVX2)
    assert [int(n.replace(",", "")) for n in quoted.groups()] == [comparison.compared, len(comparison.moved), len(comparison.borderline)]
