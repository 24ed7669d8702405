"""A static, self-contained HTML report: every table (from its Markdown) and figure (inlined PNG).

Why besides `snakemake --report`: one file that opens anywhere (mail, a laptop without
Snakemake), with no JavaScript, and that says loudly when its numbers come from the demo.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from xlser.errors import InputError
from xlser.io import write_text

_CSS = """body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}caption{font-weight:bold;text-align:left;
padding:.3em 0}.banner{background:#fde2e2;border:2px solid #c00;padding:.6em 1em;font-weight:bold}
img{max-width:100%}figure{margin:1.5em 0}figcaption{font-style:italic}"""


def _cells(line: str) -> list[str]:
    """The cells of one Markdown table row '| a | b |'."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_html(rows: list[tuple[int, list[str]]], caption: str | None, path: str | Path) -> str:
    """One HTML table from Markdown pipe rows (first = header; '|---|' rows are skipped)."""
    header, body = None, []
    for lineno, cells in rows:
        if all(c and set(c) <= set("-: ") for c in cells):
            if header is None:
                raise InputError(path, "separator row before a header row", line=lineno)
            continue
        if header is None:
            header = cells
        elif len(cells) != len(header):
            raise InputError(path, f"table row has {len(cells)} cells, header has {len(header)}", line=lineno)
        else:
            body.append(cells)
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header or []) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body]
    out.append("</tbody></table>")
    return "\n".join(out)


def markdown_table_to_html(text: str, path: str | Path = "<markdown>") -> str:
    """HTML for a Markdown file written by xlser (`tables.to_markdown`, summaries).

    Pipe rows become tables (first row = header); a bold line right before a table becomes
    its caption; '#' lines headings; other lines paragraphs. Everything is HTML-escaped.
    A file with neither a table nor text is an error (an empty table file means a broken stage).
    """
    out: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    pending_bold: str | None = None

    def flush_bold() -> None:
        nonlocal pending_bold
        if pending_bold is not None:
            out.append(f"<p><strong>{html.escape(pending_bold)}</strong></p>")
            pending_bold = None

    lines = text.splitlines() + [""]
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("|"):
            rows.append((lineno, _cells(line)))
            continue
        if rows:
            out.append(_table_html(rows, pending_bold, path))
            rows, pending_bold = [], None
        if not line:
            continue
        if line.startswith("**") and line.endswith("**") and len(line) > 4:
            flush_bold()
            pending_bold = line.strip("*").strip()
            continue
        flush_bold()
        if line.startswith("#"):
            level = min(6, 2 + len(line) - len(line.lstrip("#")))
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        else:
            out.append(f"<p>{html.escape(line)}</p>")
    flush_bold()
    if not out:
        raise InputError(path, "empty Markdown: expected a table ('| col | col |' rows) or text")
    return "\n".join(out)


def table_to_html(path: str | Path) -> str:
    """HTML for a table file: Markdown (.md, as written by xlser.report.tables) or CSV (read by pandas)."""
    path = Path(path)
    if path.suffix == ".csv":
        import pandas as pd

        return pd.read_csv(path).to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")
    return markdown_table_to_html(path.read_text(encoding="utf-8"), path)


def png_to_html(path: str | Path, alt: str) -> str:
    """An <img> with the PNG inlined as base64, so the report is one file."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InputError(path, "expected a PNG image (file does not start with the PNG signature)")
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def build_report(
    tables: dict[str, str | Path],
    figures: dict[str, str | Path],
    out_path: str | Path,
    *,
    demo: bool = False,
    simulated: bool = False,
    rehearsal: bool = False,
    title: str = "xlser results",
) -> Path:
    """Write the HTML report: one section per table/figure, in the order given.

    `demo` marks every section DEMO (synthetic speech, tiny demo models), `rehearsal` marks
    it REHEARSAL instead (tools/rehearsal.py: synthetic tones, random weights) and
    `simulated` marks the listening-test results SIMULATED, so no such number is mistaken
    for the study's.
    """
    mark = " [REHEARSAL]" if rehearsal else " [DEMO]" if demo else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title + mark)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title + mark)}</h1>",
    ]
    if rehearsal:
        parts.append(
            '<p class="banner">REHEARSAL: these results come from tools/rehearsal.py: the '
            "protocol run on synthetic tones in the real corpora's layouts and sizes, with "
            "randomly initialised checkpoints of the study's architectures. They measure what "
            "the run costs (the cost table), not anything about emotion recognition.</p>"
        )
    elif demo:
        parts.append(
            '<p class="banner">DEMO: these results come from the embedded demo: synthetic '
            "eSpeak NG speech and tiny models pre-trained for seconds on their own language's "
            "synthetic speech. They prove the workflow runs, not anything about emotion "
            "recognition.</p>"
        )
    if simulated:
        parts.append(
            '<p class="banner">SIMULATED: the listening-test responses are simulated listeners, not people.</p>'
        )
    for name, path in tables.items():
        label = name + mark
        if simulated and _is_human(name):
            label += " [SIMULATED]"
        parts.append(f"<section><h2>{html.escape(label)}</h2>")
        parts.append(table_to_html(path))
        parts.append("</section>")
    for name, path in figures.items():
        label = name + mark
        if simulated and _is_human(name):
            label += " [SIMULATED]"
        parts.append(
            f"<section><h2>{html.escape(label)}</h2><figure>{png_to_html(path, name)}"
            f"<figcaption>{html.escape(label)}</figcaption></figure></section>"
        )
    parts.append("</body></html>")
    write_text("\n".join(parts) + "\n", out_path)
    return Path(out_path)


def _is_human(name: str) -> bool:
    """Sections built from listening-test responses (Tables II, III and Welch's tests)."""
    n = name.lower()
    return any(k in n for k in ("table ii", "table 2", "table iii", "table 3", "welch", "human", "listen"))
