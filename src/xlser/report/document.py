"""The HTML report as a document a researcher reads: a title block (config, date, code version,
DEMO/REHEARSAL banner), a table of contents, then one section per result, each figure beside the
table it illustrates, the long tables behind a figure folded away (`<details>`), the cost last.

Section order follows the study: Figure 1 with the layer-wise table and the best layers, Table I,
Table II, Table III's heatmaps (numbers folded), the t-tests (the study's four as a short table
beside the study's values; every family folded), Table IV with the SED timelines, the demo
models' pre-training (demo only), the run's cost. A section whose inputs the configuration
does not make is left out, and so is its contents entry. Captions are the `snakemake --report`
captions (`workflow/report/*.rst`), so both reports say the same and link the same docs pages.
Still one self-contained file with no JavaScript.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from xlser.io import write_text
from xlser.report.html import Raw, png_to_html, rows_table, table_to_html

INPUTS = (
    "figure1",
    "layerwise",
    "best_layers",
    "table1",
    "table2",
    "table3",
    "table3_png",
    "welch",
    "table4",
    "sed_png",
    "pretraining",
    "pretraining_png",
    "cost",
    "cost_png",
)

CSS = """body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1.5em;color:#222;
line-height:1.45}h1{margin-bottom:.3em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
section,nav{scroll-margin-top:.5em}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}th{background:#eee}
td.num{text-align:right;white-space:nowrap}caption{font-weight:bold;text-align:left;padding:.3em 0}
.scroll{overflow-x:auto}.banner{background:#fde2e2;border:2px solid #c00;padding:.6em 1em;font-weight:bold}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.15em 1em;margin:1em 0}dl.meta dt{font-weight:bold}
dl.meta dd{margin:0}img{max-width:100%;height:auto}figure{margin:1.2em 0}
figcaption{font-size:.92em;color:#333;margin-top:.4em}figure.wide{width:94vw;margin-left:calc(50% - 47vw)}
figure.wide img{display:block;margin:0 auto}figure.wide figcaption{max-width:72em;margin:.4em auto 0}
details{margin:.8em 0;border:1px solid #ddd;border-radius:4px;padding:.3em .8em}
summary{cursor:pointer;font-weight:bold}nav ol{columns:2}code{font-size:.92em}
@media print{details{border:none}figure.wide{width:100%;margin-left:0}}"""

BANNERS = {
    "rehearsal": "REHEARSAL: these results come from tools/rehearsal.py: the protocol run on synthetic "
    "tones in the real corpora's layouts and sizes, with randomly initialised checkpoints of the "
    "study's architectures. They measure what the run costs (the cost table), not anything about "
    "emotion recognition.",
    "demo": "DEMO: these results come from the embedded demo: synthetic eSpeak NG speech and tiny "
    "models pre-trained for seconds on their own language's synthetic speech. They prove the "
    "workflow runs, not anything about emotion recognition.",
    "simulated": "SIMULATED: the listening-test responses are simulated listeners, not people.",
}


@dataclass(frozen=True)
class Meta:
    """The title block: config file(s), when the report was written, the code that made it."""

    configfiles: Sequence[str] = ()
    generated: str = ""
    code: str = ""


@dataclass(frozen=True)
class Context:
    """What every section builder reads: the input files, the marks, captions and the docs link."""

    inputs: Mapping[str, Path]
    mark: str = ""
    simulated: bool = False
    captions: Mapping[str, str] = field(default_factory=dict)
    docs: str | None = None  # href of the repository's docs/ folder, relative to the report

    def has(self, *keys: str) -> bool:
        return all(k in self.inputs for k in keys)

    def caption(self, name: str) -> str:
        """A `snakemake --report` caption (`workflow/report/<name>.rst`) as HTML, '' if none given."""
        text = self.captions.get(name)
        return rst_caption(text, self.docs) if text else ""

    def figure(self, key: str, alt: str, caption: str = "", wide: bool = False) -> str:
        cls = ' class="wide"' if wide else ""
        return f"<figure{cls}>{png_to_html(self.inputs[key], alt)}<figcaption>{caption}</figcaption></figure>"


def rst_caption(text: str, docs: str | None) -> str:
    """HTML of a report caption: the text before its Jinja blocks (the demo notes: the report has
    its own banners), ``code`` as <code>, and ``docs/<page>.md#anchor`` as a link to the page."""
    text = html.escape(text.split("{%", 1)[0].strip(), quote=False)

    def docs_link(m: re.Match) -> str:
        target = m.group(1)
        code = f"<code>docs/{target}</code>"
        return f'<a href="{html.escape(docs)}/{target}">{code}</a>' if docs else code

    text = re.sub(r"``docs/([\w.-]+\.md(?:#[\w-]+)?)``", docs_link, text)
    text = re.sub(r"``(.+?)``", r"<code>\1</code>", text)
    text = re.sub(r"(?<![\w`])`([^`]+?)`(?![\w`])", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return " ".join(text.split())


# ---------------------------------------------------------------- sections


def _pct(v: float, std: float | None = None) -> str:
    if pd.isna(v):
        return ""
    return f"{100 * v:.1f}" if std is None or pd.isna(std) else f"{100 * v:.1f} ± {100 * std:.1f}"


def _experiment(r: Mapping) -> str:
    return f"{r['train']} → {r['test']}"


def best_layers_table(path: str | Path) -> str:
    """best_layers.csv for a reader: per experiment the layer chosen by validation UA with its
    validation and test UA, and the best layer >= 1 (the layer of the strategies that adapt)."""
    df = pd.read_csv(path)
    ge1 = "layer_ge1" in df
    header = ["model", "setting", "train → test", "best layer", "val UA (%)", "test UA (%)"]
    header += ["best layer ≥ 1", "val UA there (%)", "test UA there (%)"] if ge1 else []
    rows = []
    for r in df.to_dict("records"):
        row = [r["model"], r["setting"], _experiment(r), str(r["layer"]), _pct(r["val_ua"])]
        row.append(_pct(r["test_ua"], r.get("test_ua_std")))
        if ge1:
            k = "" if pd.isna(r["layer_ge1"]) else str(int(r["layer_ge1"]))
            row += [k, _pct(r["val_ua_ge1"]), _pct(r["test_ua_ge1"])]
        rows.append(row)
    caption = "Best layer per experiment, by mean validation UA over folds (never test UA)"
    return rows_table(header, rows, caption + ("; and the best layer ≥ 1 (peft.adapting_layer)" if ge1 else ""))


def layerwise_table(path: str | Path, best: str | Path | None) -> str:
    """Figure 1's numbers: test UA (mean ± std over folds) per experiment (rows) and layer
    (columns); the chosen layer bold, the best layer >= 1 in italics where it differs."""
    df = pd.read_csv(path)
    chosen: dict[tuple, tuple] = {}
    if best is not None:
        b = pd.read_csv(best)
        for r in b.to_dict("records"):
            ge1 = r.get("layer_ge1")
            chosen[(r["model"], r["setting"], r["train"], r["test"])] = (r["layer"], None if pd.isna(ge1) else int(ge1))
    layers = sorted(df["layer"].unique())
    rows = []
    for key, g in df.groupby(["model", "setting", "train", "test"], sort=False):
        best_k, ge1_k = chosen.get(key, (None, None))
        cells = {int(r["layer"]): _pct(r["ua_mean"], r["ua_std"]) for r in g.to_dict("records")}
        row = [key[0], key[1], f"{key[2]} → {key[3]}"]
        for k in layers:
            cell = cells.get(int(k), "")
            tag = "strong" if k == best_k else "em" if k == ge1_k else None
            row.append(Raw(f"<{tag}>{html.escape(cell)}</{tag}>") if tag else cell)
        rows.append([str(c) if not isinstance(c, Raw) else c for c in row])
    header = ["model", "setting", "train → test", *[f"layer {int(k)}" for k in layers]]
    return rows_table(header, rows, "Test UA (%) per layer, mean ± std over folds")


def _layerwise(ctx: Context) -> str | None:
    if not ctx.has("figure1"):
        return None
    parts = [ctx.figure("figure1", "Figure 1: layer-wise UA", ctx.caption("figure1"), wide=True)]
    best = ctx.inputs.get("best_layers")
    if best is not None:
        parts.append(best_layers_table(best))
    if ctx.has("layerwise"):
        parts.append(
            "<details><summary>Test UA per layer: the numbers behind Figure 1 (bold: the layer chosen by "
            "validation UA; italics: the best layer ≥ 1 where it differs)</summary>"
            f"<p>{ctx.caption('layerwise')}</p>{layerwise_table(ctx.inputs['layerwise'], best)}</details>"
        )
    return "\n".join(parts)


def _table(key: str, caption: str) -> Callable[[Context], str | None]:
    """A section that is one table (Markdown as the stage wrote it) and its caption."""

    def build(ctx: Context) -> str | None:
        if not ctx.has(key):
            return None
        return f"<p>{ctx.caption(caption)}</p>\n{table_to_html(ctx.inputs[key])}"

    return build


def _table3(ctx: Context) -> str | None:
    if not ctx.has("table3_png"):
        return None
    parts = [ctx.figure("table3_png", "Table III: confusion matrices", ctx.caption("table3"), wide=True)]
    if ctx.has("table3"):
        parts.append(
            "<details><summary>The numbers behind the heatmaps (row-normalised, with the study's panels)"
            f"</summary>{table_to_html(ctx.inputs['table3'])}</details>"
        )
    return "\n".join(parts)


def _table4(ctx: Context) -> str | None:
    if not ctx.has("table4"):
        return None
    parts = [f"<p>{ctx.caption('table4')}</p>", table_to_html(ctx.inputs["table4"])]
    if ctx.has("sed_png"):
        parts.append(ctx.figure("sed_png", "Emotion diarization timelines", ctx.caption("sed_timeline")))
    return "\n".join(parts)


def _demo(ctx: Context) -> str | None:
    if not ctx.has("pretraining_png"):
        return None
    parts = [ctx.figure("pretraining_png", "Demo models: pre-training", ctx.caption("demo_pretraining"))]
    if ctx.has("pretraining"):
        parts.append(
            "<p><strong>Held-out CTC loss and phone error rate per model and language</strong></p>"
            + table_to_html(ctx.inputs["pretraining"])
        )
    return "\n".join(parts)


COST_CAPTION = (
    "Per rule: the jobs this run's results rest on, their job time (total and median), peak memory, "
    "audio seconds processed and CUDA peak, from each job's Snakemake benchmark; in a rehearsal, the "
    "forecast of the full-scale run. Files: ``docs/output.md#tables``; the rehearsal: ``docs/usage.md#rehearsal``."
)


def _cost(ctx: Context) -> str | None:
    if not ctx.has("cost"):
        return None
    parts = [f"<p>{rst_caption(COST_CAPTION, ctx.docs)}</p>", table_to_html(ctx.inputs["cost"])]
    if ctx.has("cost_png"):
        parts.append(ctx.figure("cost_png", "Job time per rule", "Job time per rule"))
    return "\n".join(parts)


def _ttests(ctx: Context) -> str | None:
    if not ctx.has("welch"):
        return None
    from xlser.report.ttests import ttests_html

    return f"<p>{ctx.caption('welch')}</p>\n{ttests_html(ctx.inputs['welch'])}"


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    build: Callable[[Context], str | None]
    human: bool = False  # built from listening-test answers: marked SIMULATED where they are


SECTIONS = (
    Section("layerwise", "Figure 1: layer-wise probing", _layerwise),
    Section("table1", "Table I: parameter-efficient fine-tuning (UA %)", _table("table1", "table1")),
    Section("table2", "Table II: human listeners' UA", _table("table2", "table2"), human=True),
    Section("table3", "Table III: confusions, humans and models", _table3, human=True),
    Section("ttests", "t-tests on the listening tests", _ttests, human=True),
    Section("table4", "Table IV: emotion diarization (EDER), models and listeners", _table4, human=True),
    Section("demo", "Demo models: pre-training", _demo),
    Section("cost", "What this run cost, per rule", _cost),
)


# ---------------------------------------------------------------- the document


def code_version(repo: str | Path | None = None) -> str:
    """The code that made the report: xlser's version, `git describe` of the repository the
    workflow runs from (where it is a git checkout and git is installed) and a hash of the
    package's sources (which also tells apart uncommitted states)."""
    import xlser

    pkg = Path(xlser.__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(p for p in pkg.rglob("*") if p.is_file() and p.suffix in {".py", ".yaml", ".csv"}):
        h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes() + b"\0")
    parts = [f"xlser {xlser.__version__}"]
    git = shutil.which("git")
    if repo is not None and git and (Path(repo) / ".git").exists():
        try:
            out = subprocess.run(
                [git, "-C", str(repo), "describe", "--always", "--dirty", "--tags"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout.strip()
            parts.append(f"git {out}")
        except (OSError, subprocess.SubprocessError):
            pass
    parts.append(f"sources {h.hexdigest()[:12]}")
    return ", ".join(parts)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _title_block(title: str, mark: str, banners: Sequence[str], meta: Meta) -> str:
    parts = [f"<header><h1>{html.escape(title + mark)}</h1>"]
    parts += [f'<p class="banner">{html.escape(BANNERS[b])}</p>' for b in banners]
    rows = [
        ("Config", ", ".join(meta.configfiles) or "(none given)"),
        ("Generated", meta.generated),
        ("Code", meta.code),
    ]
    parts.append(
        '<dl class="meta">' + "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>" for k, v in rows if v) + "</dl></header>"
    )
    return "\n".join(parts)


def build_document(ctx: Context, *, title: str, banners: Sequence[str], meta: Meta) -> str:
    """The whole page: title block, contents, the sections whose inputs exist, in order."""
    body, toc = [], []
    for s in SECTIONS:
        content = s.build(ctx)
        if content is None:
            continue
        label = s.title + ctx.mark + (" [SIMULATED]" if ctx.simulated and s.human else "")
        toc.append(f'<li><a href="#{s.id}">{html.escape(s.title)}</a></li>')
        body.append(f'<section id="{s.id}"><h2>{html.escape(label)}</h2>\n{content}\n</section>')
    nav = f'<nav id="contents"><h2>Contents</h2><ol>{"".join(toc)}</ol></nav>'
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title + ctx.mark)}</title><style>{CSS}</style></head><body>",
            _title_block(title, ctx.mark, banners, meta),
            nav,
            *body,
            "</body></html>",
        ]
    )


def build_report(
    inputs: Mapping[str, str | Path],
    out_path: str | Path,
    *,
    demo: bool = False,
    simulated: bool = False,
    rehearsal: bool = False,
    title: str = "xlser results",
    meta: Meta | None = None,
    captions: Mapping[str, str] | None = None,
    docs: str | None = None,
) -> Path:
    """Write the HTML report from the run's tables and figures (`inputs`, keys in `INPUTS`).

    `demo` marks every section DEMO (synthetic speech, tiny demo models), `rehearsal` marks it
    REHEARSAL instead (tools/rehearsal.py: synthetic tones, random weights) and `simulated`
    marks the listening-test results SIMULATED, so no such number is mistaken for the study's.
    `captions`: rst caption name -> text; `docs`: the docs folder's href relative to the report.
    """
    unknown = sorted(set(inputs) - set(INPUTS))
    if unknown:
        raise ValueError(f"unknown report inputs {unknown}: expected some of {list(INPUTS)}")
    mark = " [REHEARSAL]" if rehearsal else " [DEMO]" if demo else ""
    banners = (["rehearsal"] if rehearsal else ["demo"] if demo else []) + (["simulated"] if simulated else [])
    ctx = Context({k: Path(v) for k, v in inputs.items()}, mark, simulated, captions or {}, docs)
    page = build_document(ctx, title=title, banners=banners, meta=meta or Meta(generated=now(), code=code_version()))
    write_text(page + "\n", out_path)
    return Path(out_path)
