"""One exception type for bad user input, so messages always name file, line and expectation."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input that the user must fix: names the file, the line (1-based) and what was expected."""

    def __init__(self, path: str | Path | None, message: str, line: int | None = None) -> None:
        where = str(path) if path is not None else "<input>"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
