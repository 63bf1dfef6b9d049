"""The paper's setting on a GPU: ViT-L/14 (and ViT-B/16) image towers and BLIP-base captioning, timed on CUDA.

    python bench/gpu.py [--images 512] [--results results]

Random weights (this machine's GPUs reach no model hub): speed does not depend on the weights' values, so the
rates are those of the pretrained models; the bf16-vs-fp32 agreement is measured on random weights too.
Measured, each on the same machine in one run:
1. the GPU's bf16 matrix-product rate (8192^3), the yardstick for "fraction of peak";
2. each encoder's bare forward rate (images/s, batch 64) in fp32 and in bf16 autocast, its GFLOP per image
   (torch's FLOP counter) and the fraction of the matrix rate reached; the same with every layer's CLS token;
3. the whole extraction stage of this library (`extract_feature_kinds`: decode, NS-Net patch selection,
   preprocessing, forward pass, cache write) on synthetic JPEGs: loading in the main process, in loader processes
   that send uint8 pixels (normalised on the GPU), and in loader processes that send float32 tensors (as before);
   the main process's CPU time per image, and the CPU-side work alone per core, so the bottleneck is visible;
4. BLIP-base captions/s at batch 64 in bf16 (greedy, 20 new tokens forced: random weights never stop early);
5. the implied cost of extracting the paper's largest setting (144k images) on 1 and on 8 GPUs.
Needs CUDA; refuses to run without it. Writes results/bench_gpu/: rows with method the encoder (ViT-B-16, ViT-L-14,
BLIP-base) or the bf16 matmul, condition forward, extraction, captioning or paper scale, variant the loader
processes (extraction) or the GPUs (paper scale); the GPU, the CPU, the batch and torch in settings.
"""
import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, rows, write_results  # noqa: E402
STUDY = "bench_gpu"
ARCHS = ("ViT-B-16", "ViT-L-14")
DEVICE = "cuda"
PAPER_IMAGES = 144_000  # AIGIBench training + test images in the paper's largest setting


def cuda_seconds(fn, repeats: int) -> float:
    "Mean seconds per call of `fn` on the GPU, after two warm-up calls."
    import torch
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def matmul_tflops() -> float:
    import torch
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    return 2 * 8192 ** 3 / cuda_seconds(lambda: a @ b, 10) / 1e12


def gflop_per_image(model, size: int) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.encode_image(torch.zeros(1, 3, size, size, device="cuda"))
    return counter.get_total_flops() / 1e9


def measure_encoder(arch: str, batch: int, peak: float) -> dict:
    import numpy as np
    import open_clip
    import torch
    from nsnet_study.encoders import openclip_encoder
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device="cpu")
    size = model.visual.image_size[0]
    row = {"arch": arch, "image_size": size, "batch": batch}
    pixels = torch.randn(batch, 3, size, size).pin_memory()
    features = {}
    torch.set_grad_enabled(False)  # as in Encoder.encode_image_kinds (inference mode)
    for precision in ("fp32", "bf16"):
        encoder = openclip_encoder(model, preprocess, None, f"openclip:{arch}", "random", "cuda", batch, precision)
        for kinds in (("embedding",), ("embedding", "layers")):
            seconds = cuda_seconds(lambda: encoder.run_images(pixels, kinds), 5)
            row[f"{precision}_{'+'.join(kinds)}_images_per_s"] = batch / seconds
        features[precision] = encoder.run_images(pixels, ("embedding",))["embedding"].float().cpu().numpy()
    row["gflop_per_image"] = gflop_per_image(model.float(), size)
    row["bf16_fraction_of_matmul_peak"] = row["bf16_embedding_images_per_s"] * row["gflop_per_image"] / 1e3 / peak
    a, b = features["fp32"], features["bf16"]
    row["bf16_vs_fp32_min_cosine"] = float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())
    del model, encoder
    torch.cuda.empty_cache()
    return row


def synthetic_jpegs(folder: Path, n: int, seed: int = 0) -> None:
    "Smooth random 640x480 pictures saved as JPEG (quality 90), half under real/ and half under fake/."
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = folder / ("real" if i % 2 else "fake")
        sub.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((640, 480), Image.BICUBIC)
        image.save(sub / f"{i:05d}.jpg", quality=90)


def measure_pipeline(arch: str, n_images: int, batch: int) -> dict:
    "Images/s of the whole extraction stage on JPEGs (cold cache) with 0 and with the default loader threads."
    import open_clip
    import torch
    from nsnet_study.data import load_real_fake_folders, open_record
    from nsnet_study.encoders import openclip_encoder
    from nsnet_study.features import FeatureSpec, default_workers, extract_feature_kinds, prepare_image
    work = Path(tempfile.mkdtemp(prefix="nsnet-gpu-bench-"))
    synthetic_jpegs(work / "images", n_images)
    records = load_real_fake_folders(work / "images", progress=False)
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device="cpu")
    encoder = openclip_encoder(model, preprocess, None, f"openclip:{arch}", "random", DEVICE, batch, "bf16")
    encoder.encode_images([open_record(r) for r in records[:batch]])  # warm-up (kernels, allocator)
    row = {"arch": arch, "images": len(records), "batch": batch, "precision": "bf16", "cpu_cores": os.cpu_count()}
    loaders = default_workers(DEVICE)
    floats = replace(encoder, preprocess=partial(encoder.preprocess))  # a preprocessing split_preprocess does not
    # recognise: loader processes send float32 tensors, as before they sent uint8 pixels normalised on the GPU
    for key, workers, used in [("pipeline_images_per_s_0_workers", 0, encoder),
                               (f"pipeline_images_per_s_{loaders}_workers", loaders, encoder),
                               (f"float_transfer_images_per_s_{loaders}_workers", loaders, floats)]:
        os.environ["NSNET_CACHE"] = str(work / f"cache-{key}")  # cold each time
        start, cpu = time.perf_counter(), time.process_time()
        extract_feature_kinds(records, used, ("embedding", "layers"), shard_size=batch, progress=False, workers=workers)
        row[key] = len(records) / (time.perf_counter() - start)
        row[key.replace("images_per_s", "main_process_cpu_ms_per_image")] = 1000 * (time.process_time() - cpu) / len(records)
        print(key, f"{row[key]:.0f}", flush=True)
    torch.set_num_threads(1)
    spec = FeatureSpec(encoder.encoder_id, "nsnet", 0, "none", "embedding")
    start = time.perf_counter()
    for record in records[:64]:
        preprocess(prepare_image(open_record(record), spec))
    row["cpu_side_images_per_s_one_core"] = 64 / (time.perf_counter() - start)
    return row


def measure_blip(batch: int, new_tokens: int = 20) -> dict:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig()).eval().to("cuda")  # BLIP-base: ViT-B/16 at 384 px + BERT-base
    size = model.config.vision_config.image_size
    pixels = torch.randn(batch, 3, size, size, device="cuda")
    text = model.config.text_config  # BLIP's generate drops the last prompt token (the processor's [SEP])
    start_ids = torch.tensor([[text.bos_token_id, text.sep_token_id]] * batch, device="cuda")
    def caption():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            model.generate(pixel_values=pixels, input_ids=start_ids, max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, num_beams=1)
    seconds = cuda_seconds(caption, 3)
    return {"model": "BLIP-base (random weights)", "image_size": size, "batch": batch, "new_tokens": new_tokens,
            "precision": "bf16", "captions_per_s": batch / seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="synthetic JPEGs for the pipeline measurement")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--results", default=str(ROOT / "results"), help="folder of results/<study>/ (default results)")
    args = parser.parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        print("bench/gpu.py needs a CUDA GPU; none is visible here", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    peak = matmul_tflops()
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "python": platform.python_version(),
              "bf16_matmul_tflops": peak, "encoders": [], "pipeline": [], "captioning": None}
    for arch in ARCHS:
        result["encoders"].append(measure_encoder(arch, args.batch, peak))
        print(json.dumps(result["encoders"][-1]), flush=True)
    result["pipeline"].append(measure_pipeline("ViT-L-14", args.images, args.batch))
    print(json.dumps(result["pipeline"][-1]), flush=True)
    result["captioning"] = measure_blip(args.batch)
    print(json.dumps(result["captioning"]), flush=True)
    vit_l = result["encoders"][-1]["bf16_embedding+layers_images_per_s"]
    whole = max(v for k, v in result["pipeline"][-1].items() if k.startswith("pipeline_images_per_s"))
    blip = result["captioning"]["captions_per_s"]
    result["paper_scale_hours"] = {"images": PAPER_IMAGES,
        "encoder_only_1_gpu": PAPER_IMAGES / vit_l / 3600, "pipeline_1_gpu": PAPER_IMAGES / whole / 3600,
        "pipeline_8_gpus": PAPER_IMAGES / whole / 3600 / 8, "captions_1_gpu": PAPER_IMAGES / blip / 3600,
        "captions_8_gpus": PAPER_IMAGES / blip / 3600 / 8}
    settings = {**machine(), "gpu": result["gpu"], "batch": args.batch, "new_tokens": result["captioning"]["new_tokens"],
                "paper_images": PAPER_IMAGES}
    return write_results(args.results, STUDY, settings, estimates(result))


PIPELINE_KEY = re.compile(  # measure_pipeline's keys of one loader setting: images/s or the main process's CPU ms per image
    r"(?P<kind>pipeline|float_transfer)_(?P<metric>images_per_s|main_process_cpu_ms_per_image)_(?P<workers>\d+)_workers")


def estimates(result: dict) -> list[dict]:
    """The measurements as estimate rows: the matmul yardstick, each encoder's forward rates, the extraction stage
    (variant: the loader processes, and whether they send float32 tensors), captioning, the paper's scale in hours."""
    found = [{"study": STUDY, "method": "bf16 matmul", "metric": "tflops", "value": result["bf16_matmul_tflops"]}]
    for row in result["encoders"]:
        found += rows(STUDY, row, {"batch": None}, method=row["arch"], condition="forward")
    for row in result["pipeline"]:
        names = {"batch": None, "cpu_cores": None,  # settings: batch, cpu_count
                 "cpu_side_images_per_s_one_core": {"variant": "CPU side, one core", "metric": "images_per_s"}}
        for key in row:
            parsed = PIPELINE_KEY.fullmatch(key)
            if parsed:
                floats = ", float32 transfer" if parsed["kind"] == "float_transfer" else ""
                names[key] = {"variant": f"{parsed['workers']} workers{floats}", "metric": parsed["metric"]}
        found += rows(STUDY, row, names, method=row["arch"], condition="extraction")
    found += rows(STUDY, result["captioning"], {"batch": None, "new_tokens": None}, method="BLIP-base", condition="captioning")
    hours = {f"{what}_{gpus}": {"variant": words, "metric": f"{what}_hours"} for what in ("encoder_only", "pipeline", "captions")
             for gpus, words in (("1_gpu", "1 GPU"), ("8_gpus", "8 GPUs"))}
    found += rows(STUDY, result["paper_scale_hours"], {"images": None, **hours}, condition="paper scale")
    return found


if __name__ == "__main__":
    sys.exit(main())
