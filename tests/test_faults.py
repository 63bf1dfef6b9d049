"""Fault injection: concurrent writers, a killed writer, torn shards, tampered checkpoints and downloads, no
network, unwritable output. A stub encoder keeps every case to seconds."""
import functools
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SHARED_DATA
from stub_encoder import stub_encoder
from nsnet_study.data import DownloadError, download_dataset, load_shared_dataset
from nsnet_study.features import extract_features
from nsnet_study.images import LoadReport

HERE = Path(__file__).resolve().parent
RECORDS = load_shared_dataset("cnndetection-ranking", SHARED_DATA)[:40]


class CountingStub:
    "The stub encoder, counting the images it encodes."
    def __init__(self):
        self.encoder, self.images = stub_encoder(), 0
        self.name, self.encoder_id, self.feature_shape = self.encoder.name, self.encoder.encoder_id, self.encoder.feature_shape

    def encode_image_kinds(self, images, kinds=("embedding",)):
        self.images += len(images)
        return self.encoder.encode_image_kinds(images, kinds)


def reference_rows(tmp_path, monkeypatch) -> dict[str, np.ndarray]:
    "Features of the 40 images from one process, in a cache of its own: sha256 -> row."
    monkeypatch.setenv("NSNET_CACHE", str(tmp_path / "single"))
    single = extract_features(RECORDS, stub_encoder(), patches="none", progress=False)
    return {r.sha256: row for r, row in zip(single.records, single.values)}


def extraction(out: Path, seed: int, delay: float = 0.02, cache: Path | None = None) -> subprocess.Popen:
    environment = {**os.environ, "NSNET_CACHE": str(cache), "PYTHONPATH": str(HERE)}
    return subprocess.Popen([sys.executable, str(HERE / "stub_encoder.py"), str(out), str(seed), str(delay)],
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_writers_get_their_own_rows(tmp_path, monkeypatch):
    "Four processes fill one cache at once, each in another order; every row each gets is its own image's."
    expected = reference_rows(tmp_path, monkeypatch)
    shared = tmp_path / "shared"
    runs = [extraction(tmp_path / f"run{seed}.npz", seed, cache=shared) for seed in range(4)]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()
    for seed in range(4):
        with np.load(tmp_path / f"run{seed}.npz") as got:
            assert len(got["keys"]) == 40
            for key, row in zip(got["keys"], got["values"]):
                np.testing.assert_array_equal(row, expected[str(key)])
    monkeypatch.setenv("NSNET_CACHE", str(shared))
    counter = CountingStub()
    cached = extract_features(RECORDS, counter, patches="none", progress=False)
    assert counter.images == 0  # the shared cache holds every image once the writers are done ...
    for record, row in zip(cached.records, cached.values):
        np.testing.assert_array_equal(row, expected[record.sha256])  # ... each with its own row


def test_killed_writer_resumes_and_its_temporaries_are_swept(tmp_path, monkeypatch):
    expected = reference_rows(tmp_path, monkeypatch)
    shared = tmp_path / "shared"
    run = extraction(tmp_path / "killed.npz", 0, delay=0.3, cache=shared)
    folder = None
    while run.poll() is None and not folder:  # wait for the first shard, then kill -9
        folder = next((p.parent for p in shared.glob("features/*/shard-*.npz")), None)
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert folder is not None, "the writer finished before it could be killed"
    leftover = folder / ".shard-deadbeef.npz.abcd1234.tmp"  # what a writer killed inside np.savez leaves
    leftover.write_bytes(b"half a shard")
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    done_before = len(list(folder.glob("shard-*.npz")))
    monkeypatch.setenv("NSNET_CACHE", str(shared))
    counter = CountingStub()
    resumed = extract_features(RECORDS, counter, patches="none", progress=False)
    assert 0 < counter.images <= 40 - 3 * done_before  # only what the killed run had not written
    assert not leftover.exists()
    for record, row in zip(resumed.records, resumed.values):
        np.testing.assert_array_equal(row, expected[record.sha256])


def test_torn_shard_is_dropped_and_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("NSNET_CACHE", str(tmp_path))
    first = extract_features(RECORDS[:12], stub_encoder(), patches="none", shard_size=6, progress=False)
    shard = sorted(tmp_path.glob("features/*/shard-*.npz"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # torn: a copy cut short
    counter = CountingStub()
    again = extract_features(RECORDS[:12], counter, patches="none", shard_size=6, progress=False)
    assert counter.images == 6 and not shard.exists()
    np.testing.assert_array_equal(again.values, first.values)


def test_cache_files_honour_the_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("NSNET_CACHE", str(tmp_path))
    old = os.umask(0o002)  # a group-shared cache
    try:
        extract_features(RECORDS[:3], stub_encoder(), patches="none", progress=False)
    finally:
        os.umask(old)
    modes = {p.stat().st_mode & 0o777 for p in tmp_path.glob("features/*/*") if p.is_file()}
    assert modes == {0o664}


def test_tampered_checkpoint_is_refused(tmp_path):
    import torch
    from nsnet_study.detectors import DetectorInputs, original_corrected
    from nsnet_study.checkpoints import load_detector, save_detector
    from nsnet_study.training import train
    rng = np.random.default_rng(0)
    records = RECORDS[:16]
    inputs = DetectorInputs(records, rng.normal(size=(16, 48)).astype(np.float32),
                            rng.normal(size=(16, 48)).astype(np.float32), [""] * 16, "stub", "random", np.zeros(48, np.float32))
    detector = train(inputs, original_corrected(removed_rank=2, epochs=1, selection="last"))
    save_detector(detector, tmp_path / "model")
    np.testing.assert_allclose(load_detector(tmp_path / "model").predict(inputs), detector.predict(inputs), atol=1e-6)
    weights = tmp_path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-200:-100] = bytes(b ^ 0xFF for b in data[-200:-100])  # 100 flipped bytes: they would load, and score NaN
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted or was modified"):
        load_detector(tmp_path / "model")
    torch.save({"w": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="pickle checkpoints are not supported"):
        load_detector(tmp_path / "other.pt")


@pytest.fixture
def tampering_server(tmp_path):
    "A loopback HTTP server laid out like a data root whose realfake-pairs-declan A1.jpg is not the real file."
    folder = tmp_path / "mirror" / "realfake_pairs_declan" / "images"
    folder.mkdir(parents=True)
    for path in (SHARED_DATA / "realfake_pairs_declan" / "images").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "A1.jpg").write_bytes(b"an attacker's file")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "mirror"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tampered_download_is_refused(tampering_server, tmp_path):
    with pytest.raises(DownloadError, match="does not have the sha256"):
        download_dataset("realfake-pairs-declan", to=tmp_path / "data", mirror=tampering_server, progress=False)
    assert not (tmp_path / "data" / "realfake_pairs_declan" / "MANIFEST.csv").exists()


def test_silent_server_times_out(tmp_path, monkeypatch):
    "A server that accepts and never answers: the download gives up after the timeout, with a retry, in one sentence."
    import nsnet_study.data
    monkeypatch.setattr(nsnet_study.data, "NETWORK_TIMEOUT", 1)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does), never reads or answers
    start = time.monotonic()
    with pytest.raises(DownloadError, match="after 2 tries"):
        download_dataset("realfake-pairs-declan", to=tmp_path, mirror=f"http://127.0.0.1:{silent.getsockname()[1]}",
                         progress=False)
    assert time.monotonic() - start < 30  # 2 tries of a 1 s timeout, not the 60 s of before
    silent.close()


@pytest.mark.parametrize("case", ["no network", "unwritable output"])
def test_command_line_errors_are_one_line(case, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    to, mirror = (tmp_path, "http://127.0.0.1:9") if case == "no network" else (blocker / "data", SHARED_DATA.as_uri())
    done = subprocess.run([sys.executable, "-m", "nsnet_study.data", "download", "realfake-pairs-declan", "--to", str(to),
                           "--mirror", mirror], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr and last.startswith("python -m nsnet_study.data: error: "), done.stderr
    assert ("could not download" if case == "no network" else "cannot create") in last
