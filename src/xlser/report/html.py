"""HTML building blocks of the static report: tables (from Markdown, CSV or rows) and inlined PNGs.

Why besides `snakemake --report`: one file that opens anywhere (mail, a laptop without
Snakemake), with no JavaScript, and that says loudly when its numbers come from the demo.
The document itself (title block, contents, sections) is `xlser.report.document`.
"""

from __future__ import annotations

import base64
import html
import re
import struct
from collections.abc import Sequence
from pathlib import Path

from xlser.errors import InputError


class Raw(str):
    """A table cell that is already HTML (e.g. `<strong>`), inserted unescaped."""


def _cells(line: str) -> list[str]:
    """The cells of one Markdown table row '| a | b |'."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def rows_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str | None = None) -> str:
    """One HTML table: a header row, body rows (plain text escaped, `Raw` cells as given; numbers
    right-aligned, text left), wrapped so that a wide table scrolls sideways instead of widening
    the page."""
    out = ['<div class="scroll"><table>']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows]
    out.append("</tbody></table></div>")
    return "\n".join(out)


NUMBER = re.compile(r"[<>≤≥]?\s*[-+−]?\d[\d,.]*(\s*±\s*\d[\d.]*)?\s*%?|[-–]")


def _cell(value: str) -> str:
    text = value if isinstance(value, Raw) else html.escape(str(value))
    plain = re.sub(r"<[^>]+>", "", text)
    return f'<td class="num">{text}</td>' if NUMBER.fullmatch(html.unescape(plain).strip()) else f"<td>{text}</td>"


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
    return rows_table(header or [], body, caption)


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

        df = pd.read_csv(path)
        rows = [["" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v) for v in r] for r in df.values]
        return rows_table([str(c) for c in df.columns], rows)
    return markdown_table_to_html(path.read_text(encoding="utf-8"), path)


def png_size(data: bytes, path: str | Path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header; anything else is an InputError naming the file."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR" or len(data) < 24:
        raise InputError(path, "expected a PNG image (file does not start with the PNG signature and header)")
    return struct.unpack(">II", data[16:24])


def png_to_html(path: str | Path, alt: str) -> str:
    """An <img> with the PNG inlined as base64, so the report is one file; its pixel size is set
    (as the largest it is shown at), so the page is laid out before the image decodes and a
    link into the page lands where it points."""
    data = Path(path).read_bytes()
    width, height = png_size(data, path)
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" width="{width}" height="{height}" src="data:image/png;base64,{b64}">'
