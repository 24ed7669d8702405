"""The documentation holds together: the README stays short, every relative link and anchor in
README.md, docs/ and config/README.md (and every docs page the report captions name) resolves,
and the README's Protocol index lists every entry of docs/protocol.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = CODE_BLOCK.sub("", page.read_text(encoding="utf-8"))
    return {slug(m.group(2)) for m in re.finditer(r"^(#{1,6}) +(.+?) *#*$", text, re.M)}


def test_readme_is_at_most_200_lines() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    text = CODE_BLOCK.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: " + ", ".join(broken)


def test_protocol_index_lists_every_entry() -> None:
    entries = {slug(h) for h in re.findall(r"^### +(.+)$", (ROOT / "docs/protocol.md").read_text(), re.M)}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = readme[readme.index("## Protocol") :]
    linked = set(re.findall(r"\(docs/protocol\.md#([^)]+)\)", index))
    assert entries == linked, f"not in the index: {sorted(entries - linked)}; no entry: {sorted(linked - entries)}"


def test_results_gallery_block_and_its_figures() -> None:
    text = (ROOT / "docs/output.md").read_text(encoding="utf-8")
    assert text.count("<!-- RESULTS-GALLERY") == 1 and text.count("<!-- /RESULTS-GALLERY -->") == 1
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (ROOT / "docs" / image).is_file(), image


def test_report_captions_name_existing_docs_pages() -> None:
    for rst in sorted((ROOT / "workflow/report").glob("*.rst")):
        for page, anchor in re.findall(r"docs/([\w.-]+\.md)(?:#([\w-]+))?", rst.read_text(encoding="utf-8")):
            assert (ROOT / "docs" / page).is_file(), f"{rst.name}: docs/{page}"
            assert not anchor or anchor in anchors(ROOT / "docs" / page), f"{rst.name}: docs/{page}#{anchor}"
