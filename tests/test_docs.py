"""The documentation site (`make docs`): it builds from the notebooks and guides, and a reader's browser finds what it promises."""
import functools
import html
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from conftest import ROOT

pytest.importorskip("myst_nb", reason="the docs dependencies are not installed (make setup installs them)")
pytestmark = pytest.mark.xdist_group("docs")  # one build of the site for the module's tests
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "The site built into a temporary folder: (its path, the build's stdout)."
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(out), "--execute", EXECUTED],
                           capture_output=True, text=True, cwd=ROOT)
    assert built.returncode == 0, built.stderr[-2000:]
    return out, built.stdout


EXECUTED = "00b_storage"  # `make docs` executes every library notebook; the test's build one, whose outputs the browser test reads
STUDIES = sorted(p.stem for p in (ROOT / "nbs" / "study").glob("[0-9]*.ipynb") if p.name[:2] != "20")  # 20 needs a GPU: not run


def _answer() -> str:
    "README's rendered answer (between its says:summary markers), as plain words."
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- says:summary -->", 1)[1].split("<!-- /says:summary -->", 1)[0]
    block = re.sub(r"^\s*- ", "", block, flags=re.M)  # a list's markers
    return _plain(re.sub(r"[*_`]|\]\([^)]*\)|\[", "", block))


def _plain(text: str) -> str:
    "Words as a reader sees them: no tags, entities decoded, quotes and dashes as typed, single spaces."
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"\s+", " ", text.translate(str.maketrans("‘’“”–—", "''\"\"--"))).strip()


def _article(page: str) -> str:
    "The page's own content (not the sidebar of every page, which lists the captions too)."
    return page.split('<article class="bd-article"', 1)[1].split("</article>", 1)[0]


def _output_images(page: str) -> int:
    "Images inside the notebook's outputs (not the Colab badge of its first cell)."
    return sum(cell.count("<img") for cell in re.split(r'<div class="cell_output', page)[1:])


def test_the_site_builds_with_api_pages_guides_and_search(site):
    out, stdout = site
    assert (out / "index.html").is_file() and (out / "searchindex.js").is_file()
    metrics = (out / "_generated" / "library" / "08_metrics.html").read_text(encoding="utf-8")
    assert "across_seeds" in metrics and "test_train_ratio" in metrics  # show_doc with its docments
    executed = _plain(_article((out / "_generated" / "library" / f"{EXECUTED}.html").read_text(encoding="utf-8")))
    assert '"rows": [ 0.3333, { "y": 2.0 } ]' in executed and "not executed" not in stdout, stdout[-500:]  # its examples' outputs
    for guide in ("install", "design", "scoring", "reproducing", "caches", "colab", "gpus", "benchmarks", "threats", "glossary"):
        assert (out / "guides" / f"{guide}.html").is_file(), guide


def test_every_study_page_shows_its_figures_from_the_committed_notebooks(site):
    "Built from a checkout as committed (no make reproduce): each study page has its figures, in its outputs."
    out, _ = site
    for study in STUDIES:
        page = (out / "_generated" / "studies" / f"{study}.html").read_text(encoding="utf-8")
        assert _output_images(page) >= 1, f"{study}: no figure in its outputs"
        assert "../../guides/threats.html" in page, f"{study}: its Threats link does not lead to the threats page"


def test_the_front_page_leads_with_the_answer_and_the_ladder(site):
    out, _ = site
    page = _article((out / "index.html").read_text(encoding="utf-8"))
    text, answer = _plain(page), _answer()
    first = re.split(r"(?<=\.) ", answer)[0][:60]
    assert len(first) > 20 and first in text, f"the front page does not say README's answer ({first!r})"
    assert text.index(first) < text.index("The studies") < text.index("Guides"), "the answer first, then the studies, then the guides"
    assert "10_gap_decomposed.png" in page and 'href="results.html"' in page


@pytest.fixture(scope="module")
def served(site):
    "The built site on 127.0.0.1 (a port of its own), stopped after the module."
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site[0]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
def test_a_reader_finds_every_link_the_api_and_search(served, site):
    from playwright.sync_api import sync_playwright
    shots = ROOT / "runs" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        seen, todo, broken = set(), [served + "index.html"], []
        while todo:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            answer = page.goto(url)
            if answer is None or answer.status != 200:
                broken.append(url)
                continue
            missing = page.evaluate("[...document.images].filter(i => i.src.startsWith(location.origin))"  # the Colab badge is the web's
                                    ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            broken += [f"{url}: image {src}" for src in missing]
            for href in page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
                target = urljoin(url, href).split("#")[0]
                if urlparse(target).netloc == urlparse(served).netloc and target.endswith(".html"):
                    todo.append(target)
        assert not broken, broken
        page.goto(served + f"_generated/library/{EXECUTED}.html")  # an API page shows its examples' results
        outputs = page.locator(".cell_output")
        assert outputs.count() >= 3, f"{EXECUTED}: {outputs.count()} outputs shown"
        assert page.locator(".cell_output", has_text='"rows": [').first.is_visible()  # write_json's example, as it printed
        page.screenshot(path=str(shots / "docs_library_outputs.png"))
        page.goto(served + "_generated/library/13_scoring.html")
        assert page.locator("text=files, folders").first.is_visible()  # detect's parameter table (docments)
        page.screenshot(path=str(shots / "docs_detect.png"))
        page.goto(served + "search.html?q=null+space")
        page.wait_for_selector("#search-results li", timeout=30_000)
        assert "nullspace" in page.inner_html("#search-results")
        page.screenshot(path=str(shots / "docs_search.png"))
        for study in STUDIES:
            page.goto(served + f"_generated/studies/{study}.html")
            assert page.locator(".cell_output img").count() >= 1, f"{study}: no figure"
            assert page.locator("text=What it says").count() >= 1, f"{study}: no What it says"
        browser.close()
