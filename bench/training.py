"""Training cost against the original notebooks' design, and peak memory against the number of images: results/bench_training/.

    python bench/training.py [--sizes 500 1000 2000 4000 8000 16000] [--results results]

1. Training cost vs N. Ours: Advanced NS-Net (`advanced_corrected`, batch 8) on cached features; one epoch's time
   is the difference between 3 and 1 epochs over 2 (from the second epoch on; encoding happened once, before).
   The original notebooks' design: every step decodes its 8 images, selects their patches and runs CLIP on them,
   then builds one D x D projection matrix per image in a Python loop, then the head's forward and backward
   pass. Its steps are timed on real images (the offline CLIP) and an epoch is N / 8 such steps: at 2 CPU cores
   an epoch of 4,000 images would take about 20 minutes, so it is not run whole. The N cached feature rows are the
   460 shared images' real features repeated with seeded Gaussian noise (training time depends on shapes only).
2. The projection step alone: our batched per-sample projection against the per-image D x D matrices, at each N.
3. Peak memory (resident set sampled every 20 ms while the stage runs, in its own process): extraction of 50,
   200 and 460 images (the offline CLIP, empty feature cache), and training on N cached rows.
Rows: method original design (variant: the part of its step), advanced_corrected (ours, per epoch), projection,
extraction; variant the number of images N; the machine, the batch and the steps timed in settings.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import in_subprocess, machine, peak_rss_mb, rows, write_results  # noqa: E402
sys.path.insert(0, str(ROOT))
BATCH = 8
STUDY = "bench_training"


class RssPeak:
    "The largest resident set size seen while the block runs (sampled every 20 ms from /proc): `.mb`."
    def __enter__(self):
        import threading
        self.mb, self._stop = 0.0, threading.Event()
        def sample():
            while not self._stop.is_set():
                for line in Path("/proc/self/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.mb = max(self.mb, int(line.split()[1]) / 1024)
                self._stop.wait(0.02)
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def shared_records():
    from nsnet_study.data import load_shared_dataset
    return load_shared_dataset("cnndetection-ranking") + load_shared_dataset("realfake-pairs-declan")


def cached_inputs(n: int, seed: int = 0):
    "DetectorInputs of n rows: the shared images' cached features and semantics, repeated with seeded noise."
    from dataclasses import replace
    import numpy as np
    from nsnet_study.experiments import study_setup
    from nsnet_study.nullspace import unit_rows
    setup = study_setup()
    base = setup.inputs
    rows = np.arange(n) % len(base.records)
    noise = np.random.default_rng(seed).normal(0, 0.01, (n, base.features.shape[1])).astype(np.float32)
    return replace(base, records=[base.records[i] for i in rows], features=base.features[rows] + noise,
                   semantics=unit_rows(base.semantics[rows] + noise), captions=[base.captions[i] for i in rows])


def ours_per_epoch(n: int, repeats: int = 3) -> dict:
    "Seconds per epoch of advanced_corrected on n cached rows, from the second epoch on (median of `repeats`); peak RSS."
    import numpy as np
    from nsnet_study.detectors import advanced_corrected
    from nsnet_study.training import train
    inputs = cached_inputs(n)
    per_epoch = []
    with RssPeak() as peak:
        for _ in range(repeats):
            seconds = {}
            for epochs in (1, 3):
                start = time.perf_counter()
                train(inputs, advanced_corrected(epochs=epochs, selection="last"))
                seconds[epochs] = time.perf_counter() - start
            per_epoch.append((seconds[3] - seconds[1]) / 2)
    median = float(np.median(per_epoch))
    return {"n": n, "seconds_per_epoch": median, "seconds_per_epoch_per_image_ms": 1e3 * median / n,
            "repeats": per_epoch, "training_peak_rss_mb": peak.mb}


def original_per_step(steps: int = 4) -> dict:
    "Seconds per step of the original design (decode, patches, CLIP, D x D projectors in a loop, head), on real images."
    import numpy as np
    import torch
    from nsnet_study.data import open_record
    from nsnet_study.encoders import load_encoder
    from nsnet_study.features import FeatureSpec, prepare_image
    from nsnet_study.models import NSNetHead, SemanticMapper, detector_loss
    torch.set_num_threads(os.cpu_count())
    encoder = load_encoder("clip-vit-b16-offline")
    spec = FeatureSpec(encoder.encoder_id)
    records = shared_records()[: BATCH * (steps + 1)]
    head, mapper = NSNetHead(encoder.embed_dim), SemanticMapper(encoder.embed_dim)
    optimiser = torch.optim.Adam([*head.parameters(), *mapper.parameters()], lr=2e-4)
    semantics = torch.nn.functional.normalize(torch.randn(len(records), encoder.embed_dim), dim=-1)
    labels = torch.tensor([r.target for r in records])
    timings = {"encode": [], "projection": [], "head": []}
    for step in range(steps + 1):
        batch = slice(step * BATCH, (step + 1) * BATCH)
        start = time.perf_counter()
        features = torch.from_numpy(encoder.encode_images([prepare_image(open_record(r), spec) for r in records[batch]]))
        encoded = time.perf_counter()
        mapped = mapper(semantics[batch])
        projected = torch.stack([(torch.eye(encoder.embed_dim) - torch.outer(v, v) / (v @ v)) @ f  # the original loop
                                 for f, v in zip(torch.nn.functional.normalize(features, dim=-1), mapped)])
        projection = time.perf_counter()
        logits, embeddings = head(projected)
        loss = detector_loss(logits, embeddings, labels[batch])["total"]
        optimiser.zero_grad(); loss.backward(); optimiser.step()
        done = time.perf_counter()
        if step:  # the first step warms up
            for name, seconds in (("encode", encoded - start), ("projection", projection - encoded), ("head", done - projection)):
                timings[name].append(seconds)
    per_step = {name: float(np.mean(values)) for name, values in timings.items()}
    return {"steps_timed": steps, "batch": BATCH, "seconds_per_step": sum(per_step.values()), "parts": per_step}


def projection_alone(n: int, dim: int = 512) -> dict:
    "Seconds for n per-sample projections: batched (ours) vs one D x D matrix per sample in a Python loop (original)."
    import torch
    from nsnet_study.nullspace import project_per_sample
    torch.manual_seed(0)
    features, semantics = torch.randn(n, dim), torch.randn(n, dim)
    looped = lambda: torch.stack([(torch.eye(dim) - torch.outer(v, v) / (v @ v)) @ f for f, v in zip(features, semantics)])
    assert torch.allclose(project_per_sample(features, semantics), looped(), atol=1e-4)  # the same numbers (and warm-up)
    ours = median_seconds(lambda: project_per_sample(features, semantics))
    original = median_seconds(looped)
    return {"n": n, "ours_seconds": ours, "original_seconds": original, "ratio": original / ours}


def median_seconds(work, repeats: int = 5) -> float:
    "Median wall time of `repeats` calls."
    import numpy as np
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def extraction_memory(n: int) -> dict:
    "Peak RSS of extracting n shared images (offline CLIP, NS-Net patches) into an empty cache."
    from nsnet_study.encoders import load_encoder
    from nsnet_study.features import extract_features
    encoder = load_encoder("clip-vit-b16-offline")
    records = shared_records()[:n]
    start = time.perf_counter()
    with RssPeak() as peak:
        extract_features(records, encoder, progress=False)
    return {"n": n, "seconds": time.perf_counter() - start, "extraction_peak_rss_mb": peak.mb}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000, 8000, 16000])
    parser.add_argument("--results", default=str(ROOT / "results"), help="folder of results/<study>/ (default results)")
    args = parser.parse_args(argv)
    from nsnet_study.storage import cache_dir
    warm = str(cache_dir("features").parent)  # the user's cache: the shared images' features, encoded once
    original = in_subprocess("training", "original_per_step", cache=warm)
    ours = [in_subprocess("training", "ours_per_epoch", n, cache=warm) for n in args.sizes]
    per_epoch = [{**row, "original_seconds_per_epoch": original["seconds_per_step"] * -(-row["n"] // BATCH),
                  "ratio": original["seconds_per_step"] * -(-row["n"] // BATCH) / row["seconds_per_epoch"]} for row in ours]
    projection = [projection_alone(n) for n in args.sizes]
    extraction = [in_subprocess("training", "extraction_memory", n) for n in (50, 200, 460)]
    settings = {**machine(), "batch": original["batch"], "steps_timed": original["steps_timed"]}
    return write_results(args.results, STUDY, settings, estimates(original, per_epoch, projection, extraction))


def estimates(original: dict, per_epoch: list[dict], projection: list[dict], extraction: list[dict]) -> list[dict]:
    """The measurements as estimate rows: the original design's step (whole, then each part), then at each N ours per
    epoch against the original, the projection alone, and extraction's memory. The repeats behind each median per
    epoch are not rows (the earlier files' map cannot read a list of bare numbers, so the committed rows lack them)."""
    found = rows(STUDY, original, {"steps_timed": None, "batch": None}, method="original design")
    found += [{"study": STUDY, "method": "original design", "variant": part, "metric": "seconds_per_step", "value": seconds}
              for part, seconds in original["parts"].items()]
    for method, measured in (("advanced_corrected", per_epoch), ("projection", projection), ("extraction", extraction)):
        for row in measured:
            found += rows(STUDY, row, {"n": None}, method=method, variant=str(row["n"]))
    return found


if __name__ == "__main__":
    sys.exit(main())
