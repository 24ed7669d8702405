"""The demo's report as a reader sees it: opened in headless Chromium (Debian's `chromium`,
driven over the DevTools protocol, tests/chromium_cdp.py). No console errors; every image
decodes, with a non-trivial size; every table-of-contents link, clicked with the mouse, brings
its section into view; a full-page screenshot is saved. Skipped only where no Chromium is
installed (`make test` installs Debian's where it can)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from chromium_cdp import Browser, find_chromium

IMAGES = """Promise.all([...document.images].map(i => i.decode().then(() => true, () => false).then(ok => ({
    alt: i.alt, ok, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
    shownWidth: i.getBoundingClientRect().width, shownHeight: i.getBoundingClientRect().height}))))"""

LANDED = """(() => {
    const t = document.getElementById(%s);
    if (!t) return {exists: false};
    const r = t.getBoundingClientRect(), root = document.scrollingElement;
    return {exists: true, top: r.top, height: innerHeight, hash: location.hash, scrollY: scrollY,
            atBottom: scrollY + innerHeight >= root.scrollHeight - 1};
})()"""


def _link_centre(b: Browser, href: str) -> tuple[float, float]:
    b.evaluate("window.scrollTo(0, 0)")
    box = b.evaluate(
        f"(() => {{ const r = document.querySelector('#contents a[href={json.dumps(href)}]').getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2, r.bottom <= innerHeight]; })()"
    )
    assert box[2], f"contents link {href} is not on the first screen"
    return box[0], box[1]


def _landed(b: Browser, href: str) -> dict:
    """Where the target of `href` is after the click (polled until the fragment changes)."""
    for _ in range(50):
        where = b.evaluate(LANDED % json.dumps(href[1:]))
        if where.get("hash") == href:
            return where
        b.evaluate("new Promise(r => setTimeout(r, 20))")
    return where


@pytest.mark.e2e
def test_the_demo_report_in_a_browser(demo_run: Path, tmp_path: Path) -> None:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium: install Debian's `chromium` (make test does where it can)")
    report = demo_run / "results/report/index.html"
    with Browser(binary, width=1280, height=900) as b:
        b.open(report.as_uri())
        assert b.evaluate("document.title").startswith("xlser results")
        images = b.evaluate(IMAGES)
        assert len(images) == 5, images
        for img in images:
            assert img["ok"], f"image does not decode: {img}"
            assert min(img["naturalWidth"], img["naturalHeight"]) > 100, img
            assert min(img["shownWidth"], img["shownHeight"]) > 100, img
        links = b.evaluate("[...document.querySelectorAll('#contents a')].map(a => a.getAttribute('href'))")
        assert len(links) == 8 and all(h.startswith("#") for h in links), links
        for href in links:
            b.click(*_link_centre(b, href))
            where = _landed(b, href)
            assert where["exists"] and where["hash"] == href, (href, where)
            # the section's top at the top of the window, or (near the end of the page) in it
            in_view = abs(where["top"]) <= 12 or (where["atBottom"] and 0 <= where["top"] < where["height"])
            assert in_view and where["scrollY"] > 0, (href, where)
        shot = b.screenshot(tmp_path / "report.png", full_page=True)
        assert not b.console_errors(), b.console_errors()
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])
    assert width == 1280 and height > 3000, (width, height)
    print(f"full-page screenshot: {shot}")
