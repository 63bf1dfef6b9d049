"""What a reader follows: every relative link of the notebooks, README and guides resolves inside the repository, and
nothing a user needs is pointed to outside it (the project's design and sources are its own pages and public URLs)."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")  # markdown [text](target)
OUTSIDE = re.compile(r"\.\./shared/(?!data\b)|shared/data/README|shared/seeds|shared/DESIGN")  # the data root itself is a loader default


def _tracked(*patterns) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def _markdown_of(path: Path) -> str:
    "The prose a reader sees: a markdown file, or a notebook's markdown cells."
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    return "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "markdown")


def _links(text: str) -> list[str]:
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:|#", target)]


DOCUMENTS = _tracked("README.md", "docs/*.md", "docs/guides/*.md", "nbs/*.ipynb", "nbs/study/*.ipynb")


def github_anchor(heading: str) -> str:
    "The anchor the code host gives a markdown heading: lower case, punctuation dropped, spaces as hyphens."
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path) -> set[str]:
    return {github_anchor(line.lstrip("#")) for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"#+ ", line)}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    missing = [target for target in _links(_markdown_of(document)) if not (document.parent / target.split("#")[0]).exists()]
    assert not missing, f"{document.relative_to(ROOT)} links to files that do not exist: {missing}"
    anchored = [t for t in _links(_markdown_of(document)) if "#" in t and t.split("#")[0].endswith(".md")]
    lost = [t for t in anchored if t.split("#")[1] not in _anchors(document.parent / t.split("#")[0])]
    assert not lost, f"{document.relative_to(ROOT)} links to headings that do not exist (as the code host names them): {lost}"


def test_no_file_points_a_user_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}: {match.group(0)}" for path in _tracked("*.md", "*.ipynb", "*.py", "*.json", "*.txt", "*.ini")
             if not path.is_relative_to(ROOT / "tests") for match in [OUTSIDE.search(path.read_text(encoding="utf-8", errors="replace"))] if match]
    assert not found, found


def test_every_study_links_the_threats_page():
    for notebook in sorted((ROOT / "nbs" / "study").glob("[0-9]*.ipynb")):
        assert "](../../docs/guides/threats.md)" in _markdown_of(notebook), notebook.name


def test_headings_are_named_as_the_code_host_names_them():
    assert github_anchor("The models that ship (`nbs/study/16_shipped_models.ipynb`)") == "the-models-that-ship-nbsstudy16_shipped_modelsipynb"
    assert github_anchor(" Is the offline encoder a real CLIP?") == "is-the-offline-encoder-a-real-clip"


def test_the_scanner_catches_a_broken_link_and_an_outside_pointer(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("see [the design](../shared/DESIGN.md) and [here](missing.md) but not [web](https://example.org)")
    assert _links(page.read_text()) == ["../shared/DESIGN.md", "missing.md"]
    assert OUTSIDE.search(page.read_text()) and not OUTSIDE.search("read ../shared/data when present")
