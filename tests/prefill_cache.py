"""Encode, once per test session and before the workers start, the images the study smoke tests share.

Seven study notebooks smoke-test on the same first images of `cnndetection-ranking` and `realfake-pairs-declan`
and the same small prototype bank, as patch grids and as whole images. Without this, the workers start those
notebooks together and each encodes the same images (one core each); with it, one process encodes them once on
every core and the notebooks read them from the session's feature cache (both kinds, embedding and layers, from
one forward pass). The notebooks still run the real encoder on real images: anything of theirs this does not
cover (other patch views, perturbations, the int8 runtime) they encode themselves. Usage: python tests/prefill_cache.py PER_GROUP N_BANK DECLAN_PER_LABEL
"""
import sys
import time


def prefill(per_group: int, n_bank: int, declan_per_label: int) -> int:
    "Encode the shared images into $NSNET_CACHE; the number of images encoded or read."
    from nsnet_study.data import load_shared_dataset, take_per_group
    from nsnet_study.encoders import load_encoder
    from nsnet_study.features import extract_feature_kinds
    from nsnet_study.semantics import build_prototype_bank
    encoder = load_encoder()
    ranking = take_per_group(load_shared_dataset("cnndetection-ranking", download=False), per_group)
    declan = take_per_group(load_shared_dataset("realfake-pairs-declan", download=False), declan_per_label, by=("label",))
    photos = load_shared_dataset("imagenet-samples", download=False)[:n_bank]
    extract_feature_kinds(ranking + declan, encoder, ("layers", "embedding"), progress=False)  # their patch grids
    # the whole images: every study's semantics, the bank's prototypes and the layer spaces study 12 projects in
    extract_feature_kinds(ranking + declan + photos, encoder, ("embedding", "layers"), patches="none", progress=False)
    build_prototype_bank(encoder, photos, progress=False)
    # perturbed copies: study 16's smoke run scores its images JPEG-50 compressed (its sensitivity view compresses
    # them twice); nbs/09 and nbs/10 train on JPEG-50 and half-size copies of eight images
    small = take_per_group(ranking, 2) + take_per_group(load_shared_dataset("realfake-pairs-declan", download=False), 2)
    eight = [r for r in ranking if r.label == "real"][:4] + [r for r in ranking if r.label == "fake"][:4]
    copies = [(small, ("layers", "embedding"), "nsnet", "jpeg:50"), (small, ("embedding",), "none", "jpeg:50"),
              (small, ("embedding",), "none", "jpeg:50+jpeg:50")]
    copies += [(eight, ("embedding",), patches, p) for patches in ("nsnet", "none") for p in ("jpeg:50", "resize:0.5")]
    for images, kinds, patches, perturbation in copies:
        extract_feature_kinds(images, encoder, kinds, patches, perturbation=perturbation, progress=False)
    return len(ranking) + len(declan) + n_bank


if __name__ == "__main__":
    start = time.perf_counter()
    count = prefill(*map(int, sys.argv[1:4]))
    print(f"feature cache pre-filled: {count} images in {time.perf_counter() - start:.0f} s", file=sys.stderr)
