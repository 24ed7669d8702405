"""The static HTML report (xlser.report.html) and, on the finished demo, both reports."""

from __future__ import annotations

import base64
import html.parser
import re
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from xlser.errors import InputError
from xlser.report.html import markdown_table_to_html
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


def _png(path: Path, size: tuple[float, float] = (1, 1)) -> bytes:
    fig, ax = plt.subplots(figsize=size)
    ax.plot([0, 1], [1, 0])
    fig.savefig(path, format="png")
    plt.close(fig)
    return path.read_bytes()


def _welch_csv(path: Path) -> Path:
    """welch_tests.csv with the study's tests 1 and 2 and a third, plain test, in two families."""
    rows = []
    for i, (family, study) in enumerate((("groups/X-DE", 1), ("groups/X-DE", 2), ("corpora/CN", None))):
        rows.append(
            {
                "family": family,
                "study_test": study,
                "emotion": "happy",
                "metric": "recall",
                "a": "CN",
                "corpus_a": "X-DE",
                "b": "DE" if family.startswith("groups") else "CN",
                "corpus_b": "X-DE" if family.startswith("groups") else "X-CN",
                "n_a": 6,
                "n_b": 6,
                "mean_a": 0.2 + i / 10,
                "mean_b": 0.9,
                "t": -7.25 + i,
                "df": 5.04,
                "p": 0.0004 * (i + 1) ** 4,
                "p_holm": 0.0012 * (i + 1) ** 4,
                "t_student": -7.25 + i,
                "df_student": 10.0,
                "p_student": 0.00002,
                "hedges_g": -3.5,
                "t_study": {1: -7.511, 2: -5.614}.get(study),
                "p_study": "<0.001" if study else None,
                "simulated": True,
            }
        )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _inputs(tmp_path: Path) -> dict[str, Path]:
    """One small file per report input, as the stages write them."""
    md = tmp_path / "t.md"
    md.write_text(to_markdown(pd.DataFrame({"k": ["a"], "v": [1]}), caption="cap"))
    t3 = tmp_path / "t3.md"
    t3.write_text(to_markdown(pd.DataFrame({"panel": ["ours: human CN"], "angry": ["0.72"]})))
    best = tmp_path / "best_layers.csv"
    best.write_text(
        "model,setting,train,test,layer,val_ua,test_ua,test_ua_std,layer_ge1,val_ua_ge1,test_ua_ge1\n"
        "M,mono,A,A,0,0.8125,0.578125,0.287262,2,0.75,0.6\n"
    )
    layerwise = tmp_path / "layerwise.csv"
    pd.DataFrame(
        {
            "model": "M",
            "setting": "mono",
            "train": "A",
            "test": "A",
            "layer": [0, 1, 2],
            "ua_mean": [0.578125, 0.5, 0.6],
            "ua_std": [0.287262, 0.1, 0.05],
            "val_ua_mean": [0.8125, 0.7, 0.75],
        }
    ).to_csv(layerwise, index=False)
    pre = tmp_path / "pretraining.csv"
    pre.write_text("model,test_lang,ctc_loss\nM,cmn,3.1\n")
    inputs = {"table1": md, "table2": md, "table3": t3, "table4": md, "cost": md, "pretraining": pre}
    inputs |= {"best_layers": best, "layerwise": layerwise, "welch": _welch_csv(tmp_path / "welch.csv")}
    for key in ("figure1", "table3_png", "sed_png", "pretraining_png", "cost_png"):
        _png(tmp_path / f"{key}.png", (2, 1.5))
        inputs[key] = tmp_path / f"{key}.png"
    return inputs


def _sections(text: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', text)


def test_report_is_a_document_title_contents_sections_in_the_study_order(tmp_path: Path) -> None:
    from xlser.report.document import Meta, build_report

    captions = {
        "figure1": "Figure 1: probes. Files: ``docs/output.md#layerwise``; ``probe.head``.{% if x %}DEMO{% endif %}"
    }
    meta = Meta(configfiles=["config/config.yaml"], generated="2026-01-02 03:04 UTC", code="xlser 0.1.0, sources abc")
    out = build_report(
        _inputs(tmp_path),
        tmp_path / "r" / "index.html",
        demo=True,
        simulated=True,
        meta=meta,
        captions=captions,
        docs="../../docs",
    )
    text = out.read_text()
    order = ["layerwise", "table1", "table2", "table3", "ttests", "table4", "demo", "cost"]
    assert _sections(text) == order  # the study's order, the demo's models and the cost last
    toc = text[text.index('<nav id="contents">') : text.index("</nav>")]
    assert re.findall(r'href="#([^"]+)"', toc) == order  # every section once in the contents, in order
    assert text.index("</nav>") < text.index("<section")
    header = text[: text.index("</header>")]
    for shown in ("config/config.yaml", "2026-01-02 03:04 UTC", "xlser 0.1.0, sources abc", "DEMO:", "SIMULATED:"):
        assert shown in header
    assert text.count('class="banner"') == 2 and "<h1>xlser results [DEMO]</h1>" in text
    assert "<h2>Table II: human listeners&#x27; UA [DEMO] [SIMULATED]</h2>" in text
    assert "<h2>Table I: parameter-efficient fine-tuning (UA %) [DEMO]</h2>" in text  # models: not simulated
    # Figure 1 with its caption (docs link, code; the Jinja demo note dropped), then the best layers,
    # then the layer-wise numbers folded away
    fig1 = _section(text, "layerwise")
    assert fig1.index("<figure") < fig1.index("Best layer per experiment") < fig1.index("<details>")
    assert '<a href="../../docs/output.md#layerwise"><code>docs/output.md#layerwise</code></a>' in fig1
    assert "<code>probe.head</code>" in fig1 and "DEMO{%" not in fig1 and "{%" not in text
    best = _parse(fig1).tables[0]
    assert best[1] == ["M", "mono", "A → A", "0", "81.2", "57.8 ± 28.7", "2", "75.0", "60.0"]
    per_layer = fig1[fig1.index("<details>") :]
    assert "<strong>57.8 ± 28.7</strong>" in per_layer and "<em>60.0 ± 5.0</em>" in per_layer
    # Table III: the heatmaps shown wide, their numbers folded
    t3 = _section(text, "table3")
    assert '<figure class="wide">' in t3 and t3.index("<figure") < t3.index("<details>") < t3.index("ours: human CN")
    # Table IV with the timelines; the cost table, then its figure
    assert _section(text, "table4").count("<img") == 1 and _section(text, "cost").count("<img") == 1
    assert len(_parse(text).imgs) == 5


def _section(text: str, sid: str) -> str:
    start = text.index(f'<section id="{sid}">')
    return text[start : text.index("</section>", start)]


def test_the_study_s_four_t_tests_beside_ours_and_every_family_folded(tmp_path: Path) -> None:
    from xlser.report.document import build_report

    out = build_report({"welch": _welch_csv(tmp_path / "w.csv")}, tmp_path / "index.html", simulated=True)
    sec = _section(out.read_text(), "ttests")
    study_part, families = sec[: sec.index("<details>")], sec[sec.index("<details>") :]
    (study,) = _parse(study_part).tables
    assert study[0][:3] == ["test", "the study's test", "ours: comparison"] and study[0][-2:] == ["study t", "study p"]
    assert [r[0] for r in study[1:]] == ["1", "2", "3", "4"]  # the study's four; ours has data for two
    assert study[1][1] == "recall of happy on DE data, CN vs DE listeners"
    assert study[1][2:7] == ["CN vs DE listeners on X-DE", "0.20 vs 0.90", "-7.250", "5.0", "< 0.001"]
    assert study[1][-2:] == ["-7.511", "<0.001"] and study[3][2] == "(no data)" and study[4][-2:] == ["-2.708", "0.022"]
    assert re.findall(r"<summary>(.*?)</summary>", families) == [
        "groups/X-DE: 2 tests, 2 significant at Holm p &lt; 0.05",
        "corpora/CN: 1 tests, 0 significant at Holm p &lt; 0.05",
    ]
    assert len(_parse(families).tables) == 2 and "CN listeners: X-DE vs X-CN" in families


def test_sections_without_inputs_are_left_out_with_their_contents_entry(tmp_path: Path) -> None:
    from xlser.report.document import build_report

    md = tmp_path / "t.md"
    md.write_text("| a |\n|---|\n| 1 |\n")
    text = build_report({"cost": md, "table1": md}, tmp_path / "index.html").read_text()
    assert _sections(text) == ["table1", "cost"]
    assert re.findall(r'href="#([^"]+)"', text) == ["table1", "cost"]
    assert "DEMO" not in text and "SIMULATED" not in text and 'class="banner"' not in text
    assert not list(tmp_path.glob(".*"))  # no temp leftovers (atomic write)
    with pytest.raises(ValueError, match="unknown report inputs"):
        build_report({"tabel1": md}, tmp_path / "x.html")


def test_rehearsal_report_says_what_its_numbers_measure(tmp_path: Path) -> None:
    """tools/rehearsal.py's config has a demo section (its simulated listeners): its report is
    marked REHEARSAL, not DEMO (no eSpeak NG speech or demo models in it)."""
    from xlser.report.document import build_report

    md = tmp_path / "t.md"
    md.write_text("| a |\n|---|\n| 1 |\n")
    text = build_report(
        {"cost": md, "table2": md}, tmp_path / "index.html", demo=True, simulated=True, rehearsal=True
    ).read_text()
    assert "<h2>What this run cost, per rule [REHEARSAL]</h2>" in text and "[DEMO]" not in text
    assert "eSpeak" not in text
    assert "<h2>Table II: human listeners&#x27; UA [REHEARSAL] [SIMULATED]</h2>" in text
    assert "cost table" in text and text.count('class="banner"') == 2


def test_figures_are_inlined_with_their_pixel_size_and_non_png_is_rejected(tmp_path: Path) -> None:
    from xlser.report.document import build_report

    png = tmp_path / "f.png"
    raw = _png(png, (2, 1))
    text = build_report({"cost_png": png, "cost": _inputs(tmp_path)["cost"]}, tmp_path / "ok.html").read_text()
    (src,) = _parse(text).imgs
    assert base64.b64decode(src.split(",", 1)[1]) == raw
    assert 'width="200" height="100"' in text  # matplotlib's 100 dpi: the page is laid out before decoding
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    with pytest.raises(InputError, match="PNG"):
        build_report({"cost": _inputs(tmp_path)["cost"], "cost_png": bad}, tmp_path / "index.html")
    assert not (tmp_path / "index.html").exists()


def test_code_version_names_the_package_git_and_a_hash_of_the_sources(tmp_path: Path) -> None:
    from xlser.report.document import code_version

    plain = code_version(tmp_path)  # not a git checkout: the package version and the sources' hash
    assert re.fullmatch(r"xlser \S+, sources [0-9a-f]{12}", plain)
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists() and shutil.which("git"):
        assert re.fullmatch(r"xlser \S+, git \S+, sources [0-9a-f]{12}", code_version(root))


@pytest.mark.e2e
def test_demo_static_report(demo_run: Path) -> None:
    text = (demo_run / "results/report/index.html").read_text()
    parsed = _parse(text)
    # Figure 1, Table III heatmaps, SED timelines, the demo models' pre-training, the job times
    assert len(parsed.tables) >= 6 and len(parsed.imgs) == 5
    order = ["layerwise", "table1", "table2", "table3", "ttests", "table4", "demo", "cost"]
    assert _sections(text) == order
    assert re.findall(r'href="#([^"]+)"', text[text.index('<nav id="contents">') : text.index("</nav>")]) == order
    header = text[: text.index("</header>")]
    assert "config/config.yaml, tests/e2e.yaml" in header and re.search(r"sources [0-9a-f]{12}", header)
    assert "DEMO" in header and "SIMULATED" in header
    table1 = pd.read_csv(demo_run / "results/tables/table1_peft.csv")
    n_experiments = len(table1.drop_duplicates(["model", "setting", "train", "test"]))  # the CSV is long
    assert any(len(t) == n_experiments + 1 for t in _parse(_section(text, "table1")).tables)
    assert "lora params" in _section(text, "table1")
    welch = pd.read_csv(demo_run / "results/stats/welch_tests.csv")
    families = re.findall(r"<summary>(.*?):", _section(text, "ttests"))
    assert families == list(dict.fromkeys(welch["family"]))  # every family, folded


@pytest.mark.e2e
def test_snakemake_report_builds_on_finished_demo(demo_run: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import snakemake

    snakemake(demo_run, "--report", "results/report.html", timeout=600)
    text = (demo_run / "results/report.html").read_text(errors="replace")
    assert len(text) > 10_000
    for caption in ("Figure 1", "Table I"):
        assert caption in text
