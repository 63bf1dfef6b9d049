"""The library's shape: modules import only lower levels, one builder of a detector's inputs, no old names left."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

# A module may import only modules of a strictly lower level (so there are no cycles). Adding a module means placing it here.
LEVELS = {
    "defaults": 0, "labels": 0, "storage": 0, "metrics": 0, "models": 0, "nullspace": 0,
    "images": 1, "provenance": 1, "calibration": 1, "records": 1,
    "data": 2, "encoders": 2, "patches": 2, "results": 2, "notebooks": 2,
    "reporting": 3,
    "features": 4, "reproduction": 4,
    "semantics": 5,
    "detectors": 6,
    "training": 7, "checkpoints": 7,
    "experiments": 8, "scoring": 8,
    "explanations": 9, "adaptation": 9,
    "cli": 10,
}
LIBRARY = sorted(p for p in (ROOT / "nsnet_study").glob("*.py") if not p.stem.startswith("_"))
RENAMES = json.loads((ROOT / "renames.json").read_text())


def imported_modules(path: Path) -> set[str]:
    "The nsnet_study modules a file imports, at the top or inside functions."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nsnet_study."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "nsnet_study":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("nsnet_study.")}
    return found


def test_every_module_has_a_level():
    assert sorted(p.stem for p in LIBRARY) == sorted(LEVELS)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_imports_only_lower_levels(path):
    upward = {m: LEVELS[m] for m in imported_modules(path) if LEVELS[m] >= LEVELS[path.stem]}
    assert not upward, f"{path.stem} (level {LEVELS[path.stem]}) imports {upward}"


def test_light_imports():
    "Scoring draws nothing; the command answers --help without torch."
    code = ("import sys, nsnet_study.scoring; assert 'matplotlib' not in sys.modules, 'scoring imports matplotlib';"
            "import nsnet_study.cli")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    code = "import sys, nsnet_study.cli; assert 'torch' not in sys.modules, 'the command imports torch before it runs'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def identifiers(path: Path) -> set[str]:
    "Every name a module defines, binds, imports or takes as a parameter (not strings or comments)."
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names |= set((node.asname or node.name).split("."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= set(node.module.split("."))
    return names


def class_fields(path: Path) -> set[str]:
    "'Class.field' for every annotated field of every class a module defines."
    return {f"{node.name}.{item.target.id}" for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)
            for item in node.body if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}


def test_old_names_are_gone():
    old = set(RENAMES["identifiers"]) - {"io"}  # `io` the standard library is still imported where bytes are buffered
    left = {path.stem: sorted((identifiers(path) | class_fields(path)) & old) for path in LIBRARY}
    assert not any(left.values()), f"old names still in the library: {left}"
    assert not (ROOT / "nsnet_study" / "io.py").exists()
    for path in LIBRARY:  # nothing imports a module of ours called io (its parts: defaults, storage, images, provenance)
        assert "io" not in imported_modules(path), path.stem


def test_committed_outputs_use_the_new_names():
    "The rename map's old strings no longer occur in what reproduce writes (results/ rows and settings, the shipped cards)."
    written = [*sorted((ROOT / "results").glob("**/*.csv")), *sorted((ROOT / "results").glob("*/study.json")),
               *sorted((ROOT / "nsnet_study" / "shipped").glob("*.json"))]
    assert len(written) > 20
    for path in written:
        text = path.read_text()
        if path.name == "study.json":  # a family's question and why are prose ("a linear probe on ..."), not names
            declared = json.loads(text)
            declared["families"] = [{k: v for k, v in f.items() if k not in ("question", "why")} for f in declared.get("families", [])]
            text = json.dumps(declared)
        renamed = text
        for old, new in RENAMES["outputs"].items():
            renamed = renamed.replace(old, new)
        assert renamed == text, f"{path.name} still has an old name: apply renames.json's outputs map"
    for name, columns in RENAMES["csv_columns"].items():
        header = pd.read_csv(ROOT / "results" / name, nrows=0).columns
        assert not set(columns) & set(header), f"{name} still has the columns {set(columns) & set(header)}"


def test_training_and_detect_build_the_same_inputs(tmp_path, monkeypatch):
    "One builder: what `detect` scores for a model is what training saw for the same images (features bit-equal)."
    from dataclasses import replace
    from nsnet_study import scoring
    from nsnet_study.checkpoints import load_model, save_model
    from nsnet_study.data import load_shared_dataset, take_per_group
    from nsnet_study.detectors import inputs_for, linear_probe
    from nsnet_study.encoders import tiny_openclip_encoder
    from nsnet_study.semantics import build_prototype_bank
    from nsnet_study.training import train
    encoder = tiny_openclip_encoder()
    records = [replace(r, crop=None) for r in take_per_group(load_shared_dataset("cnndetection-ranking"), 2)]  # files as on disk
    bank = build_prototype_bank(encoder, load_shared_dataset("imagenet-samples")[:20], progress=False)
    trained_on = inputs_for(records, encoder, bank, "layer 1", progress=False)
    save_model(train(trained_on, linear_probe(selection="last")), bank, tmp_path, "model", encoder_name="openclip:tiny",
               view="layer 1")
    model, seen = load_model(tmp_path), []
    def spy(*args, **kwargs):
        seen.append(inputs_for(*args, **kwargs))
        return seen[-1]
    monkeypatch.setattr(scoring, "inputs_for", spy)
    table = scoring.detect([r.path for r in records], model, encoder=encoder, progress=False)
    detected = seen[0]
    assert [r.sha256 for r in detected.records] == [r.sha256 for r in trained_on.records]
    np.testing.assert_array_equal(detected.features, trained_on.features)
    assert detected.captions == trained_on.captions
    np.testing.assert_allclose(detected.semantics, trained_on.semantics, atol=2e-3)  # the bank is stored in float16
    np.testing.assert_allclose(table.probability_ai, model.detector.predict(trained_on), atol=1e-6)
    assert {r.label for r in detected.records} == {"unknown"}  # detect's images carry no label, never "real"


def test_method_names_follow_the_registry():
    "Every contrast of the detector studies compares registered methods (nsnet_study.detectors.METHODS) or the two architectures."
    from nsnet_study.adaptation import ADAPTATIONS
    from nsnet_study.detectors import ARCHITECTURES, METHODS
    from nsnet_study.results import read_all
    known = {*METHODS, *ARCHITECTURES, "default", "Advanced NS-Net - Original NS-Net",  # the procedure that picks; the ladder's gap
             *ADAPTATIONS}  # what study 16's adaptation curve refits (nsnet_study.adaptation)
    for study, rows in read_all(ROOT / "results").items():
        if study[:2] in ("10", "11", "12", "14", "16"):
            methods = set(rows.contrasts.first_method) | set(rows.contrasts.second_method)
            assert methods <= known, f"{study}: methods outside the registry: {sorted(methods - known)}"


def _public_callables():
    "(qualified name, function) for every public function of every module, and the public methods of its public classes."
    import importlib
    import inspect
    for path in LIBRARY:
        module = importlib.import_module(f"nsnet_study.{path.stem}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                yield f"{path.stem}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__ == module.__name__:
                for method, member in vars(obj).items():
                    if not method.startswith("_") and inspect.isfunction(member):
                        yield f"{path.stem}.{name}.{method}", member


def test_public_functions_document_their_parameters():
    "More than two parameters: each documented in the signature (docments, so show_doc renders a row); else a docstring."
    import inspect
    from fastcore.docments import docments
    undocumented = []
    for name, function in _public_callables():
        parameters = [p for p in inspect.signature(function).parameters if p not in ("self", "cls")]
        if len(parameters) > 2:
            comments = docments(function, args_kwargs=True)  # *args and **kwargs documented too
            missing = [p for p in parameters if not comments.get(p)]
            if missing:
                undocumented.append(f"{name}: {', '.join(missing)}")
        elif not (function.__doc__ or "").strip():
            undocumented.append(f"{name}: no docstring")
    assert not undocumented, f"{len(undocumented)} without docments:\n" + "\n".join(undocumented)


def test_export_cells_are_at_most_40_lines():
    "Library notebooks are read cell by cell: no exported cell runs over 40 lines (its #| export line included)."
    long = []
    for notebook in sorted((ROOT / "nbs").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.lstrip().startswith("#| export") and len(source.splitlines()) > 40:
                long.append((notebook.name, cell.get("id"), len(source.splitlines())))
    assert not long, f"export cells over 40 lines: {long}"


def test_library_notebooks_define_one_thing_per_export_cell():
    "One public definition per exported cell (each can be shown and tested beside it; a private helper may sit with the\n    function that uses it), so the median cell is short (at most 15 lines)."
    import ast
    import statistics
    crowded, lengths = [], []
    for notebook in sorted((ROOT / "nbs").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.lstrip().startswith("#| export"):
                lengths.append(len(source.splitlines()))
                kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                if sum(isinstance(node, kinds) and not node.name.startswith("_") for node in ast.parse(source).body) > 1:
                    crowded.append((notebook.name, cell.get("id")))
    assert not crowded, f"export cells with more than one definition: {crowded}"
    assert statistics.median(lengths) <= 15, f"median export cell {statistics.median(lengths)} lines"


def _imports_from(path: Path) -> dict[str, set[str]]:
    "module -> the names a library file imports from it (relative or nsnet_study.<module> imports)."
    found = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and (node.level == 1 or node.module.startswith("nsnet_study.")):
            module = node.module.split(".")[-1]
            found.setdefault(module, set()).update(alias.name for alias in node.names)
    return found


BOOKKEEPING = {"ImageRecord": "records", "row_index": "records", "RecordRows": "records", "unit_rows": "nullspace"}


def test_bookkeeping_comes_from_below():
    "Row bookkeeping has one home below every row container: semantics and calibration climb to no other module for it."
    library = ROOT / "nsnet_study"
    for path in LIBRARY:
        for module, names in _imports_from(path).items():
            for name in names & set(BOOKKEEPING):
                assert module == BOOKKEEPING[name], f"{path.stem} imports {name} from {module}, not {BOOKKEEPING[name]}"
    semantics = _imports_from(library / "semantics.py")
    assert semantics.get("features", set()) <= {"FeatureSet", "cached_rows", "extract_features"}, "semantics uses features to encode only"
    assert LEVELS["records"] < min(LEVELS["data"], LEVELS["features"], LEVELS["semantics"], LEVELS["detectors"])
    assert {m for m in imported_modules(library / "calibration.py")} <= {"labels", "nullspace", "metrics"}, "calibration climbs"
    containers = [n.name for p in LIBRARY for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.ClassDef)
                  and any(isinstance(b, ast.Name) and b.id == "RecordRows" for b in n.bases)]
    assert sorted(containers) == ["DetectorInputs", "FeatureSet", "Semantics"]
    subsets = [f"{p.stem}.{n.name}" for p in LIBRARY for c in ast.walk(ast.parse(p.read_text())) if isinstance(c, ast.ClassDef)
               for n in c.body if isinstance(n, ast.FunctionDef) and n.name == "subset"]
    assert subsets == ["records.subset"], f"one subset, RecordRows': {subsets}"


def test_one_builder_of_inputs():
    "`DetectorInputs` is built in one place (inputs_for, through features.detector_features); every caller goes through it."
    builders = [f"{p.stem}.{f.name}" for p in LIBRARY for f in ast.walk(ast.parse(p.read_text())) if isinstance(f, ast.FunctionDef)
                for call in ast.walk(f) if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "DetectorInputs"]
    assert builders == ["detectors.inputs_for"], builders
    callers = {p.stem for p in LIBRARY if "detector_features(" in p.read_text()} - {"features"}
    assert callers == {"detectors"}, callers
    notebooks = [*sorted((ROOT / "nbs").glob("*.ipynb")), *sorted((ROOT / "nbs" / "study").glob("*.ipynb"))]
    for notebook in [n for n in notebooks if n.name not in ("04_features.ipynb", "09_detectors.ipynb")]:  # where they are defined
        code = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")
        assert "DetectorInputs(" not in code and "detector_features(" not in code.replace("def detector_features(", ""), \
            f"{notebook.name} builds a detector's inputs by hand: use inputs_for"


def test_one_word_one_meaning():
    "`model` is a Model (or what names one); `patches` is the patch selection; a Model's chain says what each level is."
    from nsnet_study.checkpoints import Model
    from nsnet_study.detectors import TrainedDetector
    for path in LIBRARY:
        for f in ast.walk(ast.parse(path.read_text())):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for a in f.args.args + f.args.kwonlyargs:
                    annotation = ast.unparse(a.annotation) if a.annotation else ""
                    if a.arg == "model":
                        assert "Model" in annotation, f"{path.stem}.{f.name}: `model` must be a Model, got {annotation or 'no annotation'}"
                    if a.arg == "patches":
                        assert annotation == "str", f"{path.stem}.{f.name}: `patches` names the patch selection (a str)"
                    assert a.arg != "mode" or path.stem not in ("patches", "features"), f"{path.stem}.{f.name}: `mode` is `patches`"
    assert [f for f in Model.__dataclass_fields__ if f == "detector"] and "scorer" in TrainedDetector.__dataclass_fields__
    assert sorted(_imports_from(ROOT / "nsnet_study" / "labels.py")) == [], "labels is the lowest vocabulary"
    for path in LIBRARY:  # the vocabularies are spelled in labels only
        if path.stem != "labels":
            text = path.read_text()
            assert 'LABELS = (' not in text and '("AI-generated", "real", "uncertain")' not in text, path.stem
