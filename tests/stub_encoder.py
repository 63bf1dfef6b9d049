"""A stub encoder for fault-injection tests: features that depend on the image alone (block means of a 32-px
thumbnail), a configurable delay per batch so that concurrent writers interleave, and a command line that
extracts features of some shared images into $NSNET_CACHE and saves what it got."""
import sys
import time

import numpy as np
import torch
from torchvision import transforms

from nsnet_study.encoders import Encoder


def stub_encoder(delay: float = 0.0) -> Encoder:
    "48-d features: the mean colour of each 8 x 8 block of a 32 x 32 thumbnail (a function of the image alone)."
    def run_images(pixels: torch.Tensor, kinds) -> dict:
        time.sleep(delay)
        blocks = pixels.reshape(len(pixels), 3, 4, 8, 4, 8).mean(dim=(3, 5))
        return {"embedding": blocks.reshape(len(pixels), -1)}
    preprocess = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor()])
    return Encoder("stub", "v1", "resize32", embed_dim=48, n_layers=0, width=0, preprocess=preprocess,
                   run_images=run_images, device=torch.device("cpu"), batch_size=4)


if __name__ == "__main__":  # python stub_encoder.py OUT.npz SEED [DELAY]: extract 40 images in a seeded order
    from nsnet_study.data import load_shared_dataset
    from nsnet_study.features import extract_features
    out, seed = sys.argv[1], int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.02
    records = load_shared_dataset("cnndetection-ranking")[:40]
    order = np.random.default_rng(seed).permutation(len(records))
    features = extract_features([records[i] for i in order], stub_encoder(delay), patches="none", shard_size=3,
                                progress=False)
    np.savez(out, keys=np.array([r.sha256 for r in features.records]), values=features.values)
