"""One exception type for bad user input, so messages always name file, line and expectation."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad input that the user must fix: names the file, the line (1-based) and what was expected.

    It pickles with its file, line and message (`__reduce__`), so an error raised in a worker
    process (resampling pool, data loader) reaches the user intact instead of as a
    `TypeError` from unpickling and a `BrokenProcessPool`.
    """

    def __init__(self, path: str | Path | None, message: str, line: int | None = None) -> None:
        where = str(path) if path is not None else "<input>"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.message, self.line), self.__dict__)


class ConfigError(ValueError):
    """A configuration the schema accepts but the workflow cannot run: the message names the
    config key path (`sed.corpus`, `peft.experiments[2].model`) and what was expected."""
