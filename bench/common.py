"""What the benchmark scripts share: peak memory of this process, one measurement in a fresh process, the machine, and
writing a benchmark's rows (`nsnet_study.results.StudyResults` into results/<study>/)."""
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def peak_rss_mb() -> float:
    "This process's peak resident set size so far (MB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def in_subprocess(module: str, function: str, *args, cache: str | None = None) -> dict:
    "`bench/<module>.py`'s `function(*args)` in a fresh process (its own peak RSS), with `cache` (default: a new empty one)."
    code = (f"import json, sys; sys.path.insert(0, {str(BENCH)!r}); import {module} as bench; "
            f"print(json.dumps(bench.{function}(*{list(args)!r})))")
    env = {**os.environ, "NSNET_CACHE": cache or tempfile.mkdtemp(prefix="nsnet-bench-"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{module}.{function}{args} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    "What the numbers were measured on, as settings: CPU model, cores, vector flags (as results' provenance records them), torch, python."
    import platform
    import torch
    from nsnet_study.provenance import provenance
    made = provenance()
    return {"cpu": made["cpu"], "cpu_count": os.cpu_count(), "cpu_flags": made["cpu_flags"], "torch": torch.__version__,
            "python": platform.python_version()}


def rows(study: str, measured: dict, names: dict, **fields) -> list[dict]:
    "Estimate rows of one measurement's numbers: `names` maps its key to a metric name or to a dict of fields (None: not a row)."
    found = []
    for key, value in measured.items():
        named = names.get(key, key)
        if named is None or isinstance(value, (str, bool, list, dict)) or value is None:
            continue
        found.append({"study": study, "method": "", **fields, **(named if isinstance(named, dict) else {"metric": named}),
                      "value": value})
    return found


def write_results(results: str | os.PathLike, study, settings: dict, estimates: list[dict]) -> int:
    "Write a benchmark's rows into results/<study>/ (unrounded, with this machine's provenance) and print them; exit status 0."
    from nsnet_study.results import StudyResults
    written = StudyResults(study, settings, estimates, digits=None).write(results)
    print(StudyResults.read(results, study).estimates[["method", "variant", "condition", "metric", "value"]].to_string(index=False))
    print(f"wrote {written}")
    return 0
