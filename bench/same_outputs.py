"""Are two `make reproduce` outputs the same once renames.json is applied to the older one? (results/, figures/, models)

    python bench/same_outputs.py OLD NEW

OLD and NEW are folders holding `results/`, `figures/` and a models folder (`nsnet_study/shipped/` of a checkout,
or `runs/models/`). Results are compared study by study as rows: each side's `results/<study>/` folders
(estimates.csv, contrasts.csv, study.json), and an older results file (`results/NN_name.json`, `bench_*.json`) read
through renames.json's `results` map (`nsnet_study.results.legacy_results`) after its `outputs` map (old string ->
new) is applied to it; a study is identical when its estimates, contrasts, families and settings are (provenance
aside: where and when it ran). Other files are compared byte for byte: the models' JSON cards after the `outputs`
map (written back in their own format: indented, keys sorted), the score tables after `csv_columns` renames their
headers, figures as they are. Prints one line per study and file, and exit status 0 only when every one is identical.
"""
import gzip
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RENAMES = json.loads((ROOT / "renames.json").read_text())


def renamed_text(text: str) -> str:
    "An older JSON file's text with renames.json's `outputs` applied."
    for old, new in RENAMES["outputs"].items():
        text = text.replace(old, new)
    return text


def renamed(path: Path, relative: str) -> bytes:
    "OLD's file as the renamed code would have written it."
    data = path.read_bytes()
    if path.suffix == ".json":
        text = renamed_text(data.decode())
        indent = 2 if text.startswith("{\n  ") else 1
        sort = relative.startswith(("results/1", "results/0", "results/data", "results/encoder", "models/"))
        return (json.dumps(json.loads(text), indent=indent, sort_keys=sort, default=str) + "\n").encode()
    columns = RENAMES["csv_columns"].get(path.name)
    if columns:
        import pandas as pd
        frame = pd.read_csv(path, keep_default_na=False).rename(columns=columns)
        with tempfile.TemporaryDirectory() as scratch:  # the same file name: gzip writes it into its header
            out = Path(scratch) / path.name
            frame.to_csv(out, index=False, float_format="%.6f", compression={"method": "gzip", "mtime": 0})
            data = out.read_bytes()
    return data


def studies(results: Path, rename: bool) -> dict:
    "Every study of a results folder as rows: {study: StudyResults}; an older file through renames.json (`outputs` first where `rename`)."
    from nsnet_study.results import legacy_results, read_all
    found = read_all(results) if results.is_dir() else {}  # a study's folder wins over an older file of it
    for path in sorted(results.glob("*.json")) if rename else []:
        with tempfile.TemporaryDirectory() as scratch:  # the same file name: the map is chosen by it
            copy = Path(scratch) / path.name
            copy.write_text(renamed_text(path.read_text(encoding="utf-8")), encoding="utf-8")
            legacy = legacy_results(copy)
        if legacy is not None and not (results / legacy.study / "study.json").is_file():
            found[legacy.study] = legacy
    return found


def differences(old, new) -> list[str]:
    "What differs between one study's rows on both sides (empty: identical)."
    from nsnet_study.results import CONTRAST_KEY, KEY
    found = []
    for what, key in (("estimates", KEY), ("contrasts", CONTRAST_KEY)):
        a, b = (getattr(side, what).set_index(list(key)).sort_index() for side in (old, new))
        if list(a.index) != list(b.index):
            found.append(f"{what}: {len(set(a.index) ^ set(b.index))} keys in one only")
        elif not a.equals(b):
            found.append(f"{what}: {int((a.ne(b) & ~(a.isna() & b.isna())).any(axis=1).sum())} rows differ")
    as_dicts = lambda families: [(f.name, f.adjustment, f.metric, f.members) for f in families]
    if as_dicts(old.families) != as_dicts(new.families):
        found.append("families")
    if old.settings != new.settings:
        found.append(f"settings {sorted(k for k in set(old.settings) | set(new.settings) if old.settings.get(k) != new.settings.get(k))}")
    return found


def files(folder: Path) -> dict[str, Path]:
    "results/* (files other than results), figures/*, and the models (models/*) of one output folder."
    from nsnet_study.results import legacy_rules
    models = folder / "nsnet_study" / "shipped" if (folder / "nsnet_study" / "shipped").is_dir() else folder / "runs" / "models"
    mapped = set(legacy_rules())
    found = {f"{kind}/{p.name}": p for kind in ("results", "figures") for p in sorted((folder / kind).glob("*"))
             if p.is_file() and not (kind == "results" and p.name in mapped)}
    return found | {f"models/{p.name}": p for p in sorted(models.glob("*")) if p.is_file()}


def main(old: str, new: str) -> int:
    differ, total = 0, 0
    before, after = studies(Path(old) / "results", rename=True), studies(Path(new) / "results", rename=False)
    for study in sorted(set(before) | set(after)):
        total += 1
        if study not in before or study not in after:
            print(f"only in {'OLD' if study in before else 'NEW'}: results/{study}")
            differ += 1
            continue
        found = differences(before[study], after[study])
        differ += bool(found)
        print(f"{'DIFFERENT' if found else 'identical'}: results/{study}" + (f" ({'; '.join(found)})" if found else ""))
    before, after = files(Path(old)), files(Path(new))
    for name in sorted(set(before) | set(after)):
        total += 1
        if name not in before or name not in after:
            print(f"only in {'OLD' if name in before else 'NEW'}: {name}")
            differ += 1
            continue
        same = hashlib.sha256(renamed(before[name], name)).digest() == hashlib.sha256(after[name].read_bytes()).digest()
        differ += not same
        print(f"{'identical' if same else 'DIFFERENT'}: {name}")
    print(f"{total - differ} identical, {differ} different")
    return int(differ > 0)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
