"""The static HTML report (xlser.report.html) and, on the finished demo, both reports."""

from __future__ import annotations

import base64
import html.parser
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from xlser.errors import InputError
from xlser.report.html import build_report, markdown_table_to_html
from xlser.report.tables import to_markdown


class _Tables(html.parser.HTMLParser):
    """Collects every table's cell text and every <img> src, to compare with the inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.captions: list[str] = []
        self.imgs: list[str] = []
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "caption":
            self._in_caption = True
            self.captions.append("")
        elif tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell or []))
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self.captions[-1] += data


def _parse(text: str) -> _Tables:
    p = _Tables()
    p.feed(text)
    return p


def test_markdown_table_round_trips_cells_and_escapes() -> None:
    df = pd.DataFrame({"model": ["W2V2-CN", "<b>x</b>"], "UA": ["61.2 ± 1.3", "50.0"]})
    out = markdown_table_to_html(to_markdown(df, caption="Table I & more"))
    parsed = _parse(out)
    assert parsed.tables == [[["model", "UA"], ["W2V2-CN", "61.2 ± 1.3"], ["<b>x</b>", "50.0"]]]
    assert parsed.captions == ["Table I & more"]
    assert "<b>x</b>" not in out  # escaped, not injected


def test_ragged_markdown_row_names_file_and_line(tmp_path: Path) -> None:
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |\n"
    with pytest.raises(InputError) as exc:
        markdown_table_to_html(text, tmp_path / "t.md")
    assert exc.value.line == 4 and "t.md" in str(exc.value)
    with pytest.raises(InputError, match="empty"):
        markdown_table_to_html("\n\n", "x.md")


def test_summary_markdown_with_headings_prose_and_two_tables() -> None:
    text = (
        "# Welch's tests\n\n**SIMULATED listeners**\n\nSome prose.\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n**Second**\n| c |\n|---|\n| 3 |\n"
    )
    parsed = _parse(markdown_table_to_html(text))
    assert parsed.tables == [[["a", "b"], ["1", "2"]], [["c"], ["3"]]]
    assert parsed.captions == ["Second"]  # a bold line directly before a table is its caption
    out = markdown_table_to_html(text)
    assert "<h3>Welch&#x27;s tests</h3>" in out and "<p><strong>SIMULATED listeners</strong></p>" in out
    assert "<p>Some prose.</p>" in out
    # only prose (e.g. no significant test): rendered, not an error
    assert _parse(markdown_table_to_html("0 of 12 tests significant.\n")).tables == []


def _png(path: Path) -> bytes:
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path, format="png")
    plt.close(fig)
    return path.read_bytes()


def test_report_embeds_tables_and_inlined_figures(tmp_path: Path) -> None:
    md = tmp_path / "t1.md"
    md.write_text(to_markdown(pd.DataFrame({"k": ["a"], "v": [1]}), caption="cap"))
    csv = tmp_path / "best.csv"
    pd.DataFrame({"model": ["M"], "layer": [3], "val_ua": [0.51234]}).to_csv(csv, index=False)
    png = tmp_path / "f.png"
    raw = _png(png)
    out = build_report({"Table I": md, "Best": csv}, {"Figure 1": png}, tmp_path / "r" / "index.html")
    text = out.read_text()
    parsed = _parse(text)
    assert [["k", "v"], ["a", "1"]] in parsed.tables
    assert [["model", "layer", "val_ua"], ["M", "3", "0.5123"]] in parsed.tables
    assert len(parsed.imgs) == 1
    assert base64.b64decode(parsed.imgs[0].split(",", 1)[1]) == raw
    assert "DEMO" not in text and "SIMULATED" not in text
    assert not list((tmp_path / "r").glob(".*"))  # no temp leftovers (atomic write)


def test_report_marks_demo_and_simulated_sections(tmp_path: Path) -> None:
    md = tmp_path / "t.md"
    md.write_text("| a |\n|---|\n| 1 |\n")
    out = build_report(
        {"Table I: PEFT": md, "Table II: human listeners' UA": md},
        {},
        tmp_path / "index.html",
        demo=True,
        simulated=True,
    )
    text = out.read_text()
    assert "<h2>Table I: PEFT [DEMO]</h2>" in text
    assert "<h2>Table II: human listeners&#x27; UA [DEMO] [SIMULATED]</h2>" in text
    assert text.count('class="banner"') == 2


def test_rehearsal_report_says_what_its_numbers_measure(tmp_path: Path) -> None:
    """tools/rehearsal.py's config has a demo section (its simulated listeners): its report is
    marked REHEARSAL, not DEMO (no eSpeak NG speech or demo models in it)."""
    md = tmp_path / "t.md"
    md.write_text("| a |\n|---|\n| 1 |\n")
    text = build_report(
        {"Cost": md, "Table II: human listeners' UA": md},
        {},
        tmp_path / "index.html",
        demo=True,
        simulated=True,
        rehearsal=True,
    ).read_text()
    assert "<h2>Cost [REHEARSAL]</h2>" in text and "[DEMO]" not in text and "eSpeak" not in text
    assert "<h2>Table II: human listeners&#x27; UA [REHEARSAL] [SIMULATED]</h2>" in text
    assert "cost table" in text and text.count('class="banner"') == 2


def test_non_png_figure_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "f.png"
    bad.write_text("not a png")
    with pytest.raises(InputError, match="PNG"):
        build_report({}, {"F": bad}, tmp_path / "index.html")
    assert not (tmp_path / "index.html").exists()


@pytest.mark.e2e
def test_demo_static_report(demo_run: Path) -> None:
    text = (demo_run / "results/report/index.html").read_text()
    parsed = _parse(text)
    # Figure 1, Table III heatmaps, SED timelines, the demo models' pre-training, the job times
    assert len(parsed.tables) >= 6 and len(parsed.imgs) == 5  # Welch summary may hold no table
    assert "pre-training" in text
    assert "DEMO" in text and "SIMULATED" in text
    table1 = pd.read_csv(demo_run / "results/tables/table1_peft.csv")
    n_experiments = len(table1.drop_duplicates(["model", "setting", "train", "test"]))  # the CSV is long
    assert any(len(t) == n_experiments + 1 for t in parsed.tables)


@pytest.mark.e2e
def test_snakemake_report_builds_on_finished_demo(demo_run: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import snakemake

    snakemake(demo_run, "--report", "results/report.html", timeout=600)
    text = (demo_run / "results/report.html").read_text(errors="replace")
    assert len(text) > 10_000
    for caption in ("Figure 1", "Table I"):
        assert caption in text
