"""Benchmark the offline encoders on this CPU: images/s and peak memory at batch 1, 8 and 32 against the CPU's
measured fp32 matrix-product rate (ViT-B/16's GFLOP per image from torch's FLOP counter), and the overhead of
our pipeline (decode + patch selection + preprocessing + cache write) over the bare forward pass.

    python bench/encoders.py [--images 64] [--results results]

Each measurement runs in its own process, so its peak RSS is its own. Writes results/bench_encoders/ (estimate rows:
method the encoder or what is timed, variant the batch size, condition forward or pipeline; the machine in settings).
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, rows, write_results  # noqa: E402
STUDY = "bench_encoders"
ENCODERS = ("clip-vit-b16-offline", "clip-vit-b16-int8-onnx")
BATCHES = (1, 8, 32)
TARGET = "pipeline overhead under 15% of the forward time"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def measure_forward(encoder_name: str, batch_size: int, n_images: int) -> dict:
    "Bare forward pass on ready tensors: images/s and this process's peak RSS."
    import torch
    from nsnet_study.data import load_shared_dataset, open_record
    from nsnet_study.encoders import load_encoder
    from nsnet_study.patches import select_patches
    encoder = load_encoder(encoder_name)
    records = load_shared_dataset("cnndetection-ranking")[:n_images]
    pixels = torch.stack([encoder.preprocess(select_patches(open_record(r))) for r in records])
    encoder.run_images(pixels[:batch_size], ("embedding",))  # warm-up
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(pixels), batch_size):
            encoder.run_images(pixels[i:i + batch_size], ("embedding",))
    seconds = time.perf_counter() - start
    return {"encoder": encoder_name, "batch_size": batch_size, "images": len(pixels), "seconds": round(seconds, 3),
            "images_per_second": round(len(pixels) / seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}


def measure_pipeline(encoder_name: str, n_images: int) -> dict:
    "Our pipeline's own work (decode + patch selection + preprocessing, cache write) vs the bare forward pass."
    import torch
    os.environ["NSNET_CACHE"] = tempfile.mkdtemp()
    from nsnet_study.data import load_shared_dataset, open_record
    from nsnet_study.encoders import load_encoder
    from nsnet_study.features import FeatureSpec, extract_features, prepare_image, write_shard
    encoder = load_encoder(encoder_name)
    batch = encoder.batch_size  # the batch extract_features uses (8 on a CPU)
    records = load_shared_dataset("cnndetection-ranking")[:n_images]
    spec = FeatureSpec(encoder.encoder_id)
    start = time.perf_counter()
    pixels = torch.stack([encoder.preprocess(prepare_image(open_record(r), spec)) for r in records])
    prepare = time.perf_counter() - start
    encoder.run_images(pixels[:batch], ("embedding",))  # warm-up
    start = time.perf_counter()
    with torch.inference_mode():
        features = torch.cat([encoder.run_images(pixels[i:i + batch], ("embedding",))["embedding"]
                              for i in range(0, len(pixels), batch)])
    forward = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(records), 32):
        write_shard(Path(os.environ["NSNET_CACHE"]), [r.key for r in records[i:i + 32]], features[i:i + 32].numpy())
    write = time.perf_counter() - start
    start = time.perf_counter()
    extract_features(records, encoder, shard_size=32, progress=False)
    end_to_end = time.perf_counter() - start
    return {"encoder": encoder_name, "batch_size": batch, "images": len(records), "forward_seconds": round(forward, 3),
            "prepare_seconds": round(prepare, 3), "write_seconds": round(write, 4),
            "end_to_end_seconds": round(end_to_end, 3), "overhead_fraction": round((prepare + write) / forward, 4)}


def measure_limit(size: int = 2048, repeats: int = 10) -> dict:
    "This CPU's fp32 matrix-product rate (torch, all threads) and ViT-B/16's GFLOP per image (torch's FLOP counter)."
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from nsnet_study.encoders import load_encoder
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    gflops = 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9
    encoder = load_encoder("clip-vit-b16-offline")
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        encoder.run_images(torch.zeros(1, 3, 224, 224), ("embedding",))
    return {"fp32_matmul_gflops": round(gflops, 1), "gflop_per_image": round(counter.get_total_flops() / 1e9, 2)}


def child(args) -> dict:
    kind, encoder, batch, n = args
    if kind == "limit":
        return measure_limit()
    return measure_forward(encoder, int(batch), int(n)) if kind == "forward" else measure_pipeline(encoder, int(n))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64, help="images per measurement (default 64)")
    parser.add_argument("--results", default=str(ROOT / "results"), help="folder of results/<study>/ (default results)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    def run(*words):
        done = subprocess.run([sys.executable, __file__, "--child", *map(str, words)], capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(result, flush=True)
        return result
    limit = run("limit", "-", 0, 0)
    forward = [run("forward", name, batch, args.images) for name in ENCODERS for batch in BATCHES]
    for row in forward:  # the int8 runtime's share is against the fp32 rate: a yardstick, not its own ceiling
        row["share_of_fp32_matmul_rate"] = round(row["images_per_second"] * limit["gflop_per_image"] / limit["fp32_matmul_gflops"], 3)
    pipeline = [run("pipeline", "clip-vit-b16-offline", 0, args.images)]
    import torch
    settings = {**machine(), "processor": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                "cuda": torch.cuda.is_available(), "target": TARGET,
                "pipeline_overhead_within_target": all(p["overhead_fraction"] < 0.15 for p in pipeline)}
    return write_results(args.results, STUDY, settings, estimates(limit, forward, pipeline))


def estimates(limit: dict, forward: list[dict], pipeline: list[dict]) -> list[dict]:
    "The measurements as estimate rows: the yardstick, then each encoder at each batch (forward), then the pipeline."
    found = rows(STUDY, limit, {"fp32_matmul_gflops": {"method": "fp32 matmul", "metric": "gflops"},
                                "gflop_per_image": {"method": "clip-vit-b16-offline", "metric": "gflop_per_image"}})
    for condition, measured in (("forward", forward), ("pipeline", pipeline)):
        for row in measured:
            found += rows(STUDY, row, {"encoder": None, "batch_size": None}, method=row["encoder"],
                          variant=str(row["batch_size"]), condition=condition)
    return found


if __name__ == "__main__":
    sys.exit(main())
