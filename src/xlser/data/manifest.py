"""Reading manifests (raw.csv / manifest.csv): contract-checked, audio paths made absolute.

A manifest's `path` may be absolute or relative to the folder of the CSV itself, so that
results/ can be moved or shared between machines.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlser.contracts import read_table, validate_table
from xlser.io import write_csv


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest; `path` column returned absolute."""
    path = Path(path)
    df = read_table(path, "manifest")
    base = path.resolve().parent
    df["path"] = [p if Path(p).is_absolute() else str(base / p) for p in df["path"]]
    return df


def write_manifest(df: pd.DataFrame, path: str | Path) -> None:
    """Validate against the contract and write atomically; paths under the CSV's folder become relative."""
    path = Path(path)
    df = validate_table(df, "manifest", path)
    base = path.resolve().parent
    rel = []
    for p in df["path"]:
        pp = Path(p).resolve()
        rel.append(str(pp.relative_to(base)) if pp.is_relative_to(base) else str(pp))
    df = df.assign(path=rel)
    write_csv(df, path)
