"""`nsnet-study extract --shard i/n`: n processes fill one feature cache, and the union is a single run's features."""
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastcore.xtras import modified_env

from conftest import SHARED_DATA


def extract_command(*args):
    script = Path(sys.executable).with_name("nsnet-study")
    return ([str(script)] if script.exists() else [sys.executable, "-m", "nsnet_study.cli"]) + ["extract", *args]


@pytest.mark.skipif(not (SHARED_DATA / "cnndetection_ranking").is_dir(), reason="needs ../shared/data")
def test_three_shards_in_parallel_equal_a_single_run(tmp_path):
    from nsnet_study.data import load_shared_dataset
    from nsnet_study.encoders import tiny_openclip_encoder
    from nsnet_study.features import extract_feature_kinds
    shared = tmp_path / "shared-cache"
    environment = {**os.environ, "NSNET_CACHE": str(shared)}
    processes = [subprocess.Popen(extract_command("cnndetection-ranking", "--encoder", "tiny-random", "--kinds",
                                                  "embedding,layers", "--shard", f"{i}/3", "--quiet"),
                                  env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(3)]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    assert sum(int(out.split(":")[1].split()[0]) for out, _ in outputs) == 400  # "shard i/3: k of 400 images"
    records = load_shared_dataset("cnndetection-ranking")
    tiny = tiny_openclip_encoder()
    def refuse(pixels, kinds):
        raise AssertionError("an image was missing from the shards' cache")
    with modified_env(NSNET_CACHE=str(shared)):
        union = extract_feature_kinds(records, replace(tiny, run_images=refuse), ("embedding", "layers"), progress=False)
    with modified_env(NSNET_CACHE=str(tmp_path / "single-cache")):
        single = extract_feature_kinds(records, tiny, ("embedding", "layers"), progress=False)
    for kind in ("embedding", "layers"):
        assert [r.sha256 for r in union[kind].records] == [r.sha256 for r in single[kind].records]
        # row by row; batches differ between the runs, so float rounding may too (the values, not the rows)
        np.testing.assert_allclose(union[kind].values, single[kind].values, rtol=0, atol=1e-5)


def test_bad_shard_is_one_line():
    done = subprocess.run(extract_command("cnndetection-ranking", "--encoder", "tiny-random", "--shard", "3/3"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "0 <= i < n" in done.stderr
