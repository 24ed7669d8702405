"""Atomic output and contract-checked CSV input.

Snakemake takes any existing output file as done, so every writer here writes to a
temporary sibling and renames it into place only once it is complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from xlser.errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes it private; outputs get the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_csv(df: pd.DataFrame, path: str | Path, **kwargs: Any) -> None:
    """Write a CSV atomically (no index); a failed write is an InputError (`write_failure`)."""
    try:
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False, **kwargs)
    except OSError as exc:
        raise InputError(path, write_failure(path, exc, "this file")) from None


def write_text(text: str, path: str | Path) -> None:
    """Write a text file atomically; a failed write is an InputError (`write_failure`)."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(path, write_failure(path, exc, "this file")) from None


_WRITE_HINTS = {
    errno.ENOSPC: "free disk space",
    errno.EDQUOT: "raise the disk quota",
    errno.EFBIG: "raise the file-size limit (ulimit -f)",
    errno.EROFS: "make the results folder writable",
    errno.EACCES: "make the results folder writable",
}


def write_failure(path: str | Path, exc: OSError, what: str) -> str:
    """`writing <what> failed (<reason>); <free space> ...`: the message of an OSError while
    writing an output, with the free space of the folder it was written to."""
    reason = exc.strerror or str(exc)
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free on {folder}"
    except OSError:
        free = f"free space of {folder} unknown"
    hint = _WRITE_HINTS.get(exc.errno or 0, "check the results folder")
    return f"writing {what} failed ({reason}); {free}; {hint}, then re-run"


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically, pretty-printed so results diff well."""
    write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n", path)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_csv(
    path: str | Path,
    required: Sequence[str],
    *,
    dtype: dict[str, Any] | None = None,
    nonempty: bool = True,
    keep_default_na: bool = True,
) -> pd.DataFrame:
    """Read a CSV and check that it holds the columns of its contract.

    Errors name the file and, for missing values, the first offending line (header = line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        df = pd.read_csv(path, dtype=dtype, keep_default_na=keep_default_na)
    except UnicodeDecodeError as exc:
        raise encoding_error(path, exc) from None
    except pd.errors.EmptyDataError:
        raise InputError(path, f"file is empty; expected a header with columns {list(required)}") from None
    except pd.errors.ParserError as exc:
        raise InputError(path, f"not a valid CSV file ({exc})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; expected at least {list(required)}", line=1)
    if nonempty and df.empty:
        raise InputError(path, "holds a header but no rows")
    return df


def encoding_error(path: str | Path, exc: UnicodeDecodeError, encoding: str = "utf-8") -> InputError:
    """An InputError for a text file that is not valid `encoding`, naming its first bad line
    (pandas reports only a byte offset inside its read buffer, without the file)."""
    line = None
    try:
        for i, raw in enumerate(Path(path).read_bytes().splitlines(), start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                line = i
                break
    except OSError:
        pass
    byte = exc.object[exc.start : exc.start + 1]
    name = encoding.upper()
    return InputError(path, f"not {name} text ({exc.reason}: byte {byte!r}); save the file as {name}", line=line)


def check_text(path: str | Path, encoding: str = "utf-8") -> None:
    """Raise the `encoding_error` InputError (file and line) if `path` is not `encoding` text;
    for readers that stream a file (csv module) and would fail mid-way with a bare error."""
    try:
        Path(path).read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise encoding_error(path, exc, "utf-8" if encoding == "utf-8-sig" else encoding) from None


def check_no_missing(df: pd.DataFrame, columns: Sequence[str], path: str | Path) -> None:
    """Raise on the first empty cell among `columns`, naming its CSV line (header = line 1)."""
    for col in columns:
        bad = df.index[df[col].isna()]
        if len(bad):
            raise InputError(path, f"empty value in column '{col}'", line=int(bad[0]) + 2)
