"""Are two `make reproduce` outputs the same once renames.json is applied to the older one? (results/, figures/, models)

    python bench/same_outputs.py OLD NEW

OLD and NEW are folders holding `results/`, `figures/` and a models folder (`nsnet_study/shipped/` of a checkout,
or `runs/models/`). renames.json's `outputs` map (old string -> new) is applied to OLD's JSON files (then written
back in their own format: indented, keys sorted), its `csv_columns` to the headers of OLD's score tables; figures
are compared as they are. Prints one line per file, and exit status 0 only when every file is byte-identical.
"""
import gzip
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RENAMES = json.loads((ROOT / "renames.json").read_text())


def renamed(path: Path, relative: str) -> bytes:
    "OLD's file as the renamed code would have written it."
    data = path.read_bytes()
    if path.suffix == ".json":
        text = data.decode()
        for old, new in RENAMES["outputs"].items():
            text = text.replace(old, new)
        indent = 2 if text.startswith("{\n  ") else 1
        sort = relative.startswith(("results/1", "results/0", "results/data", "results/encoder", "models/"))
        return (json.dumps(json.loads(text), indent=indent, sort_keys=sort, default=str) + "\n").encode()
    columns = RENAMES["csv_columns"].get(path.name)
    if columns:
        import pandas as pd
        frame = pd.read_csv(path, keep_default_na=False).rename(columns=columns)
        import tempfile
        with tempfile.TemporaryDirectory() as scratch:  # the same file name: gzip writes it into its header
            out = Path(scratch) / path.name
            frame.to_csv(out, index=False, float_format="%.6f", compression={"method": "gzip", "mtime": 0})
            data = out.read_bytes()
    return data


def files(folder: Path) -> dict[str, Path]:
    "results/*, figures/*, and the models (models/*) of one output folder."
    models = folder / "nsnet_study" / "shipped" if (folder / "nsnet_study" / "shipped").is_dir() else folder / "runs" / "models"
    found = {f"{kind}/{p.name}": p for kind in ("results", "figures") for p in sorted((folder / kind).glob("*")) if p.is_file()}
    return found | {f"models/{p.name}": p for p in sorted(models.glob("*")) if p.is_file()}


def main(old: str, new: str) -> int:
    before, after = files(Path(old)), files(Path(new))
    differ = 0
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            print(f"only in {'OLD' if name in before else 'NEW'}: {name}")
            differ += 1
            continue
        same = hashlib.sha256(renamed(before[name], name)).digest() == hashlib.sha256(after[name].read_bytes()).digest()
        differ += not same
        print(f"{'identical' if same else 'DIFFERENT'}: {name}")
    print(f"{len(set(before) | set(after)) - differ} identical, {differ} different")
    return int(differ > 0)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
