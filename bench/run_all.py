"""Every benchmark of this machine, then the README's tables: python bench/run_all.py (about 10 minutes on 2 CPU cores).

Writes results/bench_encoders/, bench_detect/, bench_training/, and on a machine with a CUDA GPU also bench_gpu/
(the paper's encoders and BLIP): rows through `nsnet_study.results.StudyResults`, rendered into docs/results.md by
`nsnet_study.reproduction` (its readme command) as nsnet_study/reports/bench_*.json declare. Each script can be run alone; see its docstring.
"""
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    import torch
    scripts = ["encoders.py", "detect.py", "training.py"] + (["gpu.py"] if torch.cuda.is_available() else [])
    for script in scripts:
        start = time.perf_counter()
        print(f"== bench/{script}", flush=True)
        done = subprocess.run([sys.executable, str(ROOT / "bench" / script)], cwd=ROOT, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            print(f"bench/{script} failed (exit status {done.returncode})", file=sys.stderr)
            return done.returncode
        print(f"   {time.perf_counter() - start:.0f} s", flush=True)
    return subprocess.run([sys.executable, "-m", "nsnet_study.reproduction", "readme"], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
