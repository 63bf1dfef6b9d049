"""The data command line and the HTTP download path, against loopback stand-ins for the upstream hosts."""
import functools
import http.server
import subprocess
import sys
import threading

import pytest

from conftest import SHARED_DATA
from nsnet_study.data import dataset_dir, download_dataset, load_shared_dataset
from nsnet_study.storage import sha256_file


@pytest.fixture
def loopback_mirror():
    "An HTTP server on 127.0.0.1 serving ../shared/data, standing in for the upstream raw-file host."
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SHARED_DATA))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download_verifies_and_resumes(loopback_mirror, tmp_path):
    folder = download_dataset("cnndetection-ranking", to=tmp_path, mirror=loopback_mirror, progress=False)
    records = load_shared_dataset("cnndetection-ranking", data=tmp_path)
    assert len(records) == 400 and all(r.path.is_file() for r in records)
    assert all(sha256_file(r.path) == r.sha256 for r in records[::37])
    assert all(r.crop == (66, 66, 290, 290) for r in records)
    (folder / "images" / records[5].path.name).unlink()
    download_dataset("cnndetection-ranking", to=tmp_path, mirror=loopback_mirror, progress=False)
    assert records[5].path.is_file()


def test_failed_download_leaves_the_set_unmarked(tmp_path):
    with pytest.raises(Exception):
        download_dataset("cnndetection-ranking", to=tmp_path, mirror="http://127.0.0.1:9", progress=False)
    assert not (tmp_path / "cnndetection_ranking" / "MANIFEST.csv").exists()


def test_cli_download_and_list(tmp_path):
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=300)
    done = run([sys.executable, "-m", "nsnet_study.data", "download", "realfake-pairs-declan",
                "--to", str(tmp_path), "--mirror", SHARED_DATA.as_uri()])
    assert done.returncode == 0, done.stderr
    assert dataset_dir("realfake-pairs-declan", data=tmp_path) == tmp_path / "realfake_pairs_declan"
    listing = run([sys.executable, "-m", "nsnet_study.data", "list", "--data", str(tmp_path)])
    assert listing.returncode == 0
    assert "realfake-pairs-declan" in listing.stdout and "cnndetection-ranking     missing" in listing.stdout
    unknown = run([sys.executable, "-m", "nsnet_study.data", "download", "dall-e", "--to", str(tmp_path)])
    assert unknown.returncode == 2 and "unknown data set" in unknown.stderr


def test_missing_data_error_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        dataset_dir("imagenet-samples", data=tmp_path)
    assert "\n" not in str(error.value) and "download imagenet-samples" in str(error.value)


def test_packaged_manifests_match_shared_data():
    "The manifests shipped in the package are the shared data's (same files, same sha256)."
    from nsnet_study.data import SHARED_DATASETS, packaged_manifest
    import pandas as pd
    for name, spec in SHARED_DATASETS.items():
        shared = pd.read_csv(SHARED_DATA / spec.folder / "MANIFEST.csv", dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(packaged_manifest(name), shared)
