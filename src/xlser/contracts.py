"""The CSV contracts of DESIGN.md, checked whenever a stage reads or writes one.

Each contract is a JSON-schema (`xlser/schemas/<name>.schema.yaml`) describing one row,
plus a `unique` key. Checking is vectorised per column (row-by-row jsonschema would be
slow on large manifests); errors name the file and the CSV line (header = line 1).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from xlser.errors import InputError
from xlser.io import encoding_error

# Shipped inside the package, so the library finds them wherever it is installed or run from
# (`workflow/schemas` is a link to this folder, where the workflow catalog expects them).
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

_NUMERIC = {"number", "integer"}


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Load `xlser/schemas/<name>.schema.yaml`."""
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def validate_table(df: pd.DataFrame, name: str, path: str | Path | None = None) -> pd.DataFrame:
    """Check `df` against contract `name`; return it with the contract's types applied."""
    schema = load_schema(name)
    props: dict[str, dict[str, Any]] = schema.get("properties", {})
    missing = [c for c in schema["required"] if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing} of the '{name}' contract", line=1)
    df = df.copy()
    for col, spec in props.items():
        if col not in df.columns:
            continue
        kind = spec.get("type")
        nullable = isinstance(kind, list) and "null" in kind
        if isinstance(kind, list):
            kind = next(k for k in kind if k != "null")
        values = df[col]
        if col in schema["required"] and not nullable:
            _first_bad(values.isna(), path, f"empty value in required column '{col}'")
        present = values.notna()
        if kind in _NUMERIC:
            num = pd.to_numeric(values, errors="coerce")
            _first_bad(present & num.isna(), path, f"column '{col}' must be a {kind}")
            if kind == "integer":
                _first_bad(present & (num.round() != num), path, f"column '{col}' must be an integer")
            if "minimum" in spec:
                _first_bad(present & (num < spec["minimum"]), path, f"column '{col}' must be >= {spec['minimum']}")
            if "exclusiveMinimum" in spec:
                lo = spec["exclusiveMinimum"]
                _first_bad(present & (num <= lo), path, f"column '{col}' must be > {lo}")
            if "maximum" in spec:
                _first_bad(present & (num > spec["maximum"]), path, f"column '{col}' must be <= {spec['maximum']}")
            df[col] = num.astype(int if present.all() else "Int64") if kind == "integer" else num
        elif kind == "string":
            df[col] = values.where(~present, values.astype(str))
            if "enum" in spec:
                allowed = set(spec["enum"])
                _first_bad(present & ~df[col].isin(allowed), path, f"column '{col}' must be one of {sorted(allowed)}")
            if spec.get("minLength"):
                _first_bad(present & (df[col].str.len() < spec["minLength"]), path, f"column '{col}' must not be empty")
        elif kind == "boolean":
            df[col] = values.map(_to_bool)
    for key in schema.get("unique", []):
        cols = [key] if isinstance(key, str) else list(key)
        if all(c in df.columns for c in cols):
            dup = df.duplicated(cols, keep="first")
            if dup.any():
                i = int(dup.to_numpy().nonzero()[0][0])
                vals = ", ".join(f"{c}={df[c].iloc[i]!r}" for c in cols)
                raise InputError(path, f"duplicate {'/'.join(cols)} ({vals})", line=i + 2)
    return df


def _to_bool(v: Any) -> Any:
    if isinstance(v, str):
        return v.strip().lower() in {"true", "1", "yes"}
    return bool(v) if pd.notna(v) else v


def _first_bad(mask: pd.Series, path: str | Path | None, message: str) -> None:
    arr = mask.to_numpy()
    if arr.any():
        i = int(arr.nonzero()[0][0])
        raise InputError(path, message, line=i + 2)


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    """Read a CSV written under contract `name` and validate it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as exc:
        raise encoding_error(path, exc) from None
    except pd.errors.EmptyDataError:
        raise InputError(path, f"file is empty; expected the '{name}' contract's columns") from None
    props = load_schema(name).get("properties", {})
    for col in df.columns:  # extra columns (p_<emotion>, val_ua, ...): numeric where they are
        if col not in props:
            num = pd.to_numeric(df[col], errors="coerce")
            if num.notna().sum() == df[col].notna().sum():
                df[col] = num
    return validate_table(df, name, path)
