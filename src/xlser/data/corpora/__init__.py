"""Corpus adapters: each reads one corpus in its real on-disk layout into manifest rows.

`scan_corpus(name, cfg, emotions)` dispatches on `cfg['format']` (esd, pavoque, iemocap,
zed, csv) and returns a DataFrame under the manifest contract, with absolute audio paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import soundfile as sf

from xlser.contracts import validate_table
from xlser.data.audiocheck import check_min_length, constant_value
from xlser.data.corpora.labels import LabelMapper
from xlser.data.wavheader import check_not_truncated
from xlser.errors import InputError

log = logging.getLogger(__name__)

Row = dict[str, Any]


def audio_info(path: Path) -> tuple[float, int]:
    """Duration (s) and sample rate of an audio file; unreadable or empty audio is an error."""
    if not path.is_file():
        raise InputError(path, "audio file not found")
    check_not_truncated(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InputError(path, f"unreadable audio ({exc})") from None
    if info.frames == 0:
        raise InputError(path, "empty audio (0 samples)")
    check_min_length(path, info.frames, int(info.samplerate))
    return info.frames / info.samplerate, int(info.samplerate)


def row(utt_id: str, speaker: str, emotion: str, path: Path, **extra: Any) -> Row:
    """One manifest row (corpus and lang are added by scan_corpus)."""
    duration, sr = audio_info(path)
    path = path if path.is_absolute() else path.resolve()  # adapters build on the resolved root
    return {
        "utt_id": utt_id,
        "speaker": speaker,
        "emotion": emotion,
        "path": str(path),
        "duration_s": round(duration, 6),
        "sample_rate": sr,
        **extra,
    }


def _speaker_id(fmt: str, speaker: object) -> str:
    """A `speakers` entry as the manifest names the speaker (ESD's folders: `1` is `0001`)."""
    s = str(speaker).strip()
    return s.zfill(4) if fmt == "esd" else s


def select_speakers(rows: list[Row], listed: Iterable[object] | None, fmt: str, root: Path, key: str) -> list[Row]:
    """The rows of the `speakers` listed (all without a list). A listed speaker with no row
    (not in the corpus, or none of their utterances has a configured emotion) is an error
    naming the key: a corpus is never silently smaller than configured."""
    if not listed:
        return rows
    have = sorted({str(r["speaker"]) for r in rows})
    wanted = [_speaker_id(fmt, s) for s in listed]
    for i, (raw, spk) in enumerate(zip(listed, wanted, strict=True)):
        if spk not in have:
            on_disk = sorted(p.name for p in root.iterdir() if p.is_dir()) if fmt == "esd" else have
            where = (
                f"a speaker folder with utterances of a configured emotion (folders: {', '.join(on_disk[:30])})"
                if fmt == "esd"
                else f"a speaker of the corpus (speakers: {', '.join(have[:30])}{' ...' if len(have) > 30 else ''})"
            )
            raise InputError(
                root,
                f"config {key}[{i}]: '{raw}' is not {where}; fix the name or remove it from {key}",
            )
    keep = set(wanted)
    return [r for r in rows if str(r["speaker"]) in keep]


def drop_silent(rows: list[Row], strict: bool) -> list[Row]:
    """The rows whose audio holds a signal. A recording of one value throughout (all zeros,
    or a DC offset alone: a failed recording or export) is no speech: it is named and left out
    with a warning, or with `strict` an error naming every such file."""
    silent = []
    for r in rows:
        value = constant_value(r["path"])
        if value is not None:
            silent.append((r, value))
    if not silent:
        return rows
    named = ", ".join(f"{r['path']} ({'all zeros' if v == 0 else f'constant {v:.6g}'})" for r, v in silent[:20])
    named += " ..." if len(silent) > 20 else ""
    what = f"{len(silent)} recording(s) hold no signal, only one sample value throughout: {named}"
    fix = "re-export them from the corpus release, or remove them (or their label lines) from the corpus"
    if strict:
        raise InputError(silent[0][0]["path"], f"{what}; {fix} (strict: true)")
    log.warning("%s; left out of the manifest (strict: true makes this an error); %s", what, fix)
    bad = {id(r) for r, _ in silent}
    return [r for r in rows if id(r) not in bad]


def _adapters() -> dict[str, Callable[[Path, dict[str, Any], LabelMapper], Iterable[Row]]]:
    from xlser.data.corpora import esd, iemocap, pavoque, table, zed

    return {"esd": esd.scan, "pavoque": pavoque.scan, "iemocap": iemocap.scan, "zed": zed.scan, "csv": table.scan}


def scan_corpus(name: str, cfg: dict[str, Any], emotions: list[str]) -> pd.DataFrame:
    """Scan one configured corpus into manifest rows (validated, sorted by utt_id)."""
    fmt = cfg["format"]
    adapters = _adapters()
    if fmt not in adapters:
        raise InputError(
            None,
            f"corpus {name}: unknown format '{fmt}' (config corpora.{name}.format; expected one of {sorted(adapters)})",
        )
    root = Path(cfg["root"]).expanduser().resolve()  # once: the adapters' paths are then absolute
    if not root.is_dir():
        raise InputError(
            root, f"corpus root of '{name}' does not exist (config: corpora.{name}.root); point it at the corpus folder"
        )
    extra = {"exc": "happy"} if fmt == "iemocap" and cfg.get("merge_excited") else None
    mapper = LabelMapper(
        fmt, emotions, cfg.get("label_map"), cfg.get("strict", False), extra=extra, key=f"corpora.{name}.label_map"
    )
    try:
        rows = list(adapters[fmt](root, cfg, mapper))
        mapper.check_met(fmt, root)
        rows = select_speakers(rows, cfg.get("speakers"), fmt, root, f"corpora.{name}.speakers")
        rows = drop_silent(rows, bool(cfg.get("strict", False)))
    except InputError as exc:  # the adapters know the file; the user also needs the corpus and its config
        raise exc.noted(f"corpus {name}, config corpora.{name}") from None
    mapper.report(name)
    if not rows:
        raise InputError(
            root,
            f"corpus '{name}' ({fmt}): no utterances with a label in {emotions} were found; "
            f"check corpora.{name}.root, .format and .label_map",
        )
    df = pd.DataFrame(rows)
    df.insert(1, "corpus", name)
    df.insert(2, "lang", cfg["lang"])
    dup = df[df.duplicated("utt_id", keep=False)]
    if len(dup):
        first = dup.iloc[0]["utt_id"]
        srcs = dup[dup["utt_id"] == first]["path"].tolist()
        raise InputError(srcs[-1], f"duplicate utt_id '{first}' in corpus '{name}', also from {srcs[0]}")
    df = df.sort_values("utt_id", kind="stable").reset_index(drop=True)
    counts = df.groupby("emotion").size().to_dict()
    log.info("%s: %d utterances, %d speakers; per emotion %s", name, len(df), df["speaker"].nunique(), counts)
    return validate_table(df, "manifest")
