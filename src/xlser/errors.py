"""One exception type for bad user input, so messages always name file, line and expectation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class InputError(ValueError):
    """Bad input that the user must fix: names the file, the line (1-based) and what was expected.

    It pickles with its file, line and message (`__reduce__`), so an error raised in a worker
    process (resampling pool, data loader) reaches the user intact instead of as a
    `TypeError` from unpickling and a `BrokenProcessPool`.
    """

    def __init__(self, path: str | Path | None, message: str, line: int | None = None) -> None:
        where = str(path) if path is not None else ""
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.message, self.line), self.__dict__)

    def noted(self, note: str) -> InputError:
        """The same error with `note` (the corpus and config key it concerns) appended: raised
        where that context is known, around code that only knows the file."""
        return type(self)(self.path, f"{self.message} [{note}]", self.line)


class ConfigError(ValueError):
    """A configuration the schema accepts but the workflow cannot run: the message names the
    config key path (`sed.corpus`, `peft.experiments[2].model`) and what was expected."""


def require_finite(values: Any, path: str | Path | None, what: str, fix: str = "") -> None:
    """Raise an InputError naming `path` and `what` if `values` (array, tensor, list, scalar)
    holds NaN or inf: one NaN sample or feature turns every score trained on it into chance
    level without an error, so audio, features and training losses are checked where made."""
    arr = np.asarray(values.detach().float().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        hint = f"; {fix}" if fix else ""
        raise InputError(
            path, f"{what}: {int(bad.sum())} of {arr.size} values are NaN or inf (the first at index {first}){hint}"
        )
