"""Which files of a real corpus its manifest depends on, and a cheap fingerprint of them.

A real corpus is no rule's output, so Snakemake cannot see an edited label table or a
replaced WAV by itself. `fingerprint()` lists the audio and label files a scan of the
format may read and hashes `(relative path, size, mtime_ns)` of each: no file is opened
(only stat'ed), so 35,000 files take a fraction of a second. The `scan_corpus` rule passes
it as a param: Snakemake's `params` rerun trigger then re-plans exactly that corpus's scan,
and everything after it, when a file is edited, added, removed or replaced.

What it does not see: a file rewritten with the same size and its old mtime restored
(`cp -p`, `touch -r`) - use `--forcerun scan_corpus` then.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

AUDIO = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aif", ".aiff", ".au", ".sph"})


def _walk(top: str, suffixes: Iterable[str]) -> Iterator[str]:
    """Files under `top` (recursively) whose lower-case suffix is one of `suffixes`.
    Plain strings, not Paths: pathlib's parsing would dominate the time on 35,000 files."""
    wanted = frozenset(suffixes)
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for e in entries:
            if e.is_dir():
                stack.append(e.path)
            elif os.path.splitext(e.name)[1].lower() in wanted:
                yield e.path


def _esd(root: str, spec: Mapping[str, Any]) -> Iterator[str]:
    wanted = {str(s).strip().zfill(4) for s in spec.get("speakers") or []}
    for spk in os.scandir(root) if os.path.isdir(root) else []:
        if spk.is_dir() and (not wanted or spk.name in wanted):
            yield from _walk(spk.path, AUDIO | {".txt"})


def _iemocap(root: str, spec: Mapping[str, Any]) -> Iterator[str]:
    for sess in Path(root).glob("Session*"):
        yield from _walk(os.path.join(sess, "dialog", "EmoEvaluation"), {".txt"})
        yield from _walk(os.path.join(sess, "sentences", "wav"), AUDIO)


def _anywhere(root: str, spec: Mapping[str, Any]) -> Iterator[str]:
    yield from _walk(root, AUDIO)


def _zed(root: str, spec: Mapping[str, Any]) -> Iterator[str]:
    from xlser.data.corpora.zed import _resolve

    table = os.path.join(root, "ZED.json")
    yield table
    try:
        with open(table, encoding="utf-8") as fh:
            data = json.load(fh)
        yield from (str(_resolve(Path(root), str(item["wav"]))) for item in data.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # the scan reports what is wrong with the file; its stat is in the fingerprint


def _csv(root: str, spec: Mapping[str, Any]) -> Iterator[str]:
    from xlser.data.corpora.locate import locate

    table = os.path.join(root, spec.get("table", "labels.csv"))
    yield table
    try:
        with open(table, encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                p = (rec.get("path") or "").strip()
                if p not in ("", "."):
                    full = os.path.join(root, p)  # an absolute p stays as it is
                    # a name on disk in another Unicode form is the file the scan reads (`locate`)
                    yield full if os.path.exists(full) else str(locate(Path(full))[0])
    except (OSError, ValueError, csv.Error):
        return


_LISTERS = {"esd": _esd, "iemocap": _iemocap, "pavoque": _anywhere, "zed": _zed, "csv": _csv}


def _files(fmt: str, root: str, spec: Mapping[str, Any] | None) -> list[str]:
    lister = _LISTERS.get(fmt, _anywhere)
    return sorted({os.path.normpath(f) for f in lister(root, spec or {})})


def corpus_files(fmt: str, root: str | Path, spec: Mapping[str, Any] | None = None) -> list[Path]:
    """The audio and label files a scan of format `fmt` under `root` may read (a superset:
    e.g. every audio file of a PAVOQUE root, every wav of an IEMOCAP session)."""
    return [Path(f) for f in _files(fmt, os.path.expanduser(str(root)), spec)]


def fingerprint(fmt: str, root: str | Path, spec: Mapping[str, Any] | None = None) -> str:
    """`"<n> files, sha1 <hex>"` over (path relative to root, size, mtime_ns) of `corpus_files`;
    a missing file counts as such, so its appearance changes the fingerprint too."""
    root = os.path.normpath(os.path.expanduser(str(root)))
    files = _files(fmt, root, spec)
    prefix = root + os.sep
    h = hashlib.sha1()
    for f in files:
        try:
            st = os.stat(f)
            entry = f"{st.st_size}\t{st.st_mtime_ns}"
        except OSError:
            entry = "missing"
        name = f[len(prefix) :] if f.startswith(prefix) else f
        h.update(f"{name}\t{entry}\n".encode("utf-8", "surrogateescape"))
    return f"{len(files)} files, sha1 {h.hexdigest()}"
