"""What the benchmark scripts share: peak memory of this process, and one measurement in a fresh process."""
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent


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
    "What the numbers were measured on."
    import platform
    import torch
    return {"cpu_count": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}


def write_result(path: str | os.PathLike, result) -> int:
    "Write a benchmark's results through its schema (`nsnet_study.results`) and print them; exit status 0."
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    print(result.to_json(path).read_text(), end="")
    return 0
