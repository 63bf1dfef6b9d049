"""Speed and memory of `nsnet_study.detect` on this machine: results/bench_detect/.

    python bench/detect.py [--images 200] [--batch 8] [--results results]

1. Throughput: `detect` with the shipped default model on a folder of `--images` photos (imagenet-samples,
   cold cache) against the bare encoder's forward rate on the same inputs at the same batch. `detect` runs two
   forward passes per image (the patch grid it scores, and the whole image for the caption), so the fair
   comparison is forward passes per second; images per second are reported too. The share of detect's time
   its calibration and abstention take (calibrating the scores, the distance to the training images, the
   decision) is timed on the same images (target: at most 5%; the issue's bound: 10%).
   With `--stability` (each image's JPEG-50 and half-size copies labelled too: three times the forward passes),
   the same images on another cold cache, in its own process: seconds per image with and without it.
2. Memory: peak RSS of `detect` on 50, 200 and 1,000 images, each in its own process (a tiny random encoder,
   so that 1,000 images take a minute: the encoder's own memory does not grow with the number of images).
Each measurement runs in its own process, so its peak RSS is its own. Rows: method detect, the bare encoder, or
calibration and abstention; condition throughput or memory; variant the number of images (memory); the machine, the
model and the batch in settings.
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
STUDY = "bench_detect"
THROUGHPUT = {  # measure_throughput's keys: the row each becomes (None: a setting, not a row)
    "images": None, "batch": None, "model": None, "view": None,
    "detect_images_per_s": {"method": "detect", "metric": "images_per_s"},
    "detect_seconds_per_image": {"method": "detect", "metric": "seconds_per_image"},
    "detect_forward_passes_per_s": {"method": "detect", "metric": "forward_passes_per_s"},
    "bare_forward_passes_per_s": {"method": "bare encoder", "metric": "forward_passes_per_s"},
    "detect_share_of_bare_rate": {"method": "detect", "metric": "share_of_bare_rate"},
    "peak_rss_mb": {"method": "detect", "metric": "peak_rss_mb"},
    "abstention_seconds": {"method": "calibration and abstention", "metric": "seconds"},
    "abstention_share_of_detect_time": {"method": "calibration and abstention", "metric": "share_of_detect_time"},
    "uncertain_share": {"method": "detect", "metric": "uncertain_share"}}
STABILITY = {"images": None, "batch": None,
             "seconds_per_image": {"method": "detect --stability", "metric": "seconds_per_image"},
             "uncertain_share": {"method": "detect --stability", "metric": "uncertain_share"}}


def photos(n: int) -> list:
    from nsnet_study.data import load_shared_dataset
    return [r.path for r in load_shared_dataset("imagenet-samples")[:n]]


def measure_throughput(n_images: int, batch: int) -> dict:
    "detect on a cold cache vs the bare forward pass on the same grids and whole images, at the same batch."
    import torch
    from nsnet_study.data import open_record
    from nsnet_study.records import ImageRecord
    from nsnet_study.features import FeatureSpec, prepare_image
    from nsnet_study.scoring import detect
    from nsnet_study.checkpoints import load_model
    paths = photos(n_images)
    model = load_model("default")
    encoder = model.load_encoder(batch_size=batch)
    start = time.perf_counter()
    table = detect(paths, model, encoder=encoder, progress=False)
    detect_seconds = time.perf_counter() - start
    assert (table.label != "").all(), table[table.label == ""]
    abstaining = abstention_seconds(model, encoder, paths)
    images = [open_record(ImageRecord(p, "real")) for p in paths]
    grids = [prepare_image(im, FeatureSpec(encoder.encoder_id)) for im in images]
    pixels = torch.stack([encoder.preprocess(im) for im in grids + images])
    kind = "layers" if model.view != "embedding" else "embedding"
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(pixels), batch):
            encoder.run_images(pixels[i:i + batch], (kind,))
    bare_seconds = time.perf_counter() - start
    passes = 2 * len(paths)
    return {"images": len(paths), "batch": batch, "model": model.name, "view": model.view,
            "detect_images_per_s": len(paths) / detect_seconds, "detect_seconds_per_image": detect_seconds / len(paths), "detect_forward_passes_per_s": passes / detect_seconds,
            "bare_forward_passes_per_s": passes / bare_seconds,
            "detect_share_of_bare_rate": bare_seconds / detect_seconds, "peak_rss_mb": peak_rss_mb(),
            "abstention_seconds": abstaining, "abstention_share_of_detect_time": abstaining / detect_seconds,
            "uncertain_share": float((table.label == "uncertain").mean())}


def abstention_seconds(model, encoder, paths) -> float:
    "Seconds the default's calibration, distance and decision take on these images (features already cached), best of 5."
    from nsnet_study.calibration import decide, knn_distance
    from nsnet_study.records import ImageRecord
    from nsnet_study.detectors import inputs_for
    rule = model.abstention
    if rule is None:
        return 0.0
    inputs = inputs_for([ImageRecord(p, "unknown") for p in paths], encoder, model.bank, model.view, model.patches, model.top_k,
                        progress=False)
    scores, threshold = model.detector.predict(inputs), float(rule.calibration(model.threshold))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        probabilities = rule.calibration(scores)
        decide(probabilities, knn_distance(model.reference, inputs.features, rule.k), threshold, rule)
        times.append(time.perf_counter() - start)
    return min(times)


def measure_stability(n_images: int, batch: int) -> dict:
    "detect --stability on a cold cache: the same photos and model as `measure_throughput`, each image's copies labelled too."
    from nsnet_study.checkpoints import load_model
    from nsnet_study.scoring import detect
    paths, model = photos(n_images), load_model("default")
    encoder = model.load_encoder(batch_size=batch)
    start = time.perf_counter()
    table = detect(paths, model, encoder=encoder, progress=False, stability=True)
    seconds = time.perf_counter() - start
    return {"images": len(paths), "batch": batch, "seconds_per_image": seconds / len(paths),
            "uncertain_share": float((table.label == "uncertain").mean())}


def measure_memory(n_images: int) -> dict:
    "Peak RSS of detect on n images with a tiny random encoder and a model trained for it."
    import numpy as np
    from nsnet_study.data import load_shared_dataset, take_per_group
    from nsnet_study.encoders import tiny_openclip_encoder
    from nsnet_study.detectors import inputs_for
    from nsnet_study.scoring import detect
    from nsnet_study.checkpoints import load_model, save_model
    from nsnet_study.semantics import build_prototype_bank
    from nsnet_study.detectors import linear_probe
    from nsnet_study.training import train
    tiny = tiny_openclip_encoder()
    bank = build_prototype_bank(tiny, load_shared_dataset("imagenet-samples")[:20], progress=False)
    inputs = inputs_for(take_per_group(load_shared_dataset("cnndetection-ranking"), 2), tiny, bank, progress=False)
    folder = Path(tempfile.mkdtemp())
    save_model(train(inputs, linear_probe(selection="last")), bank, folder, "model", encoder_name="openclip:tiny")
    before = peak_rss_mb()
    start = time.perf_counter()
    table = detect(photos(n_images), load_model(folder), encoder=tiny, progress=False)
    return {"images": int((table.label != "").sum()), "seconds": time.perf_counter() - start,
            "peak_rss_mb": peak_rss_mb(), "peak_rss_before_detect_mb": before}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--results", default=str(ROOT / "results"), help="folder of results/<study>/ (default results)")
    args = parser.parse_args(argv)
    throughput = in_subprocess("detect", "measure_throughput", args.images, args.batch)
    stability = in_subprocess("detect", "measure_stability", args.images, args.batch)
    memory = [in_subprocess("detect", "measure_memory", n) for n in (50, 200, 1000)]
    settings = {**machine(), **{k: throughput[k] for k in ("images", "batch", "model", "view")}}
    return write_results(args.results, STUDY, settings, estimates(throughput, memory, stability))


def estimates(throughput: dict, memory: list[dict], stability: dict) -> list[dict]:
    "The measurements as estimate rows: detect's throughput against the bare encoder's, with --stability, its memory at each size."
    found = rows(STUDY, throughput, THROUGHPUT, condition="throughput") + rows(STUDY, stability, STABILITY, condition="throughput")
    found += [{"study": STUDY, "method": "detect --stability", "condition": "throughput", "metric": "time_over_detect",
               "value": stability["seconds_per_image"] / throughput["detect_seconds_per_image"]}]
    for row in memory:
        found += rows(STUDY, row, {"images": None}, method="detect", variant=str(row["images"]), condition="memory")
    return found


if __name__ == "__main__":
    sys.exit(main())
