"""Fine-tuning data: one corpus partition of one fold, read lazily as 16 kHz waveforms.

Batches are length-bucketed (sorted by duration, filled up to a padded-seconds budget) so
little compute is spent on padding; training batches are redrawn every epoch (see
`xlser.models.batching`). The collator normalises each utterance on its own samples and pads; the
model (`xlser.models.encoder`) takes valid lengths from `lengths`, so no attention mask is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from xlser import paths
from xlser.contracts import read_table
from xlser.data.audio import load_audio
from xlser.data.manifest import read_manifest
from xlser.errors import InputError
from xlser.models.batching import length_buckets
from xlser.models.encoder import prepare

log = logging.getLogger(__name__)


def corpus_files(manifests: Sequence[str], splits: Sequence[str]) -> dict[str, tuple[str, str]]:
    """corpus -> (manifest, splits), the corpus read from each path by its pattern (xlser.paths:
    MANIFEST, SPLITS), so the rule's inputs need no order."""
    found: dict[str, dict[str, str]] = {}
    for kind, pattern, files in (("manifest", paths.MANIFEST, manifests), ("splits", paths.SPLITS, splits)):
        for p in files:
            wildcards = paths.parse(pattern, p)
            if wildcards is None:
                raise InputError(p, f"cannot tell the corpus of this {kind}: expected a path like {pattern}")
            found.setdefault(wildcards["corpus"], {})[kind] = str(p)
    out = {}
    for corpus, d in found.items():
        if set(d) != {"manifest", "splits"}:
            raise InputError(
                d.get("manifest") or d.get("splits"), f"corpus {corpus} needs both a manifest and a splits file"
            )
        out[corpus] = (d["manifest"], d["splits"])
    return out


@dataclass
class Partition:
    """Utterances of one partition: path, duration, label index; `lang` of the corpus."""

    name: str
    table: pd.DataFrame
    lang: str = ""
    cache: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    def keys(self, idx: Sequence[int]) -> list[tuple[str, float | None, float | None]]:
        """What identifies each row's audio: (path, segment start, segment end). Rows of other
        partitions and folds with the same key are the same utterance (the CNN feature cache's key)."""
        t = self.table
        seg = "seg_start" in t and "seg_end" in t
        out = []
        for i in idx:
            start, end = (t["seg_start"].iat[i], t["seg_end"].iat[i]) if seg else (None, None)
            out.append(
                (
                    str(t["path"].iat[i]),
                    None if start is None or pd.isna(start) else float(start),
                    None if end is None or pd.isna(end) else float(end),
                )
            )
        return out


def load_partition(
    manifest_path: str, splits_path: str, fold: int, partition: str, emotions: Sequence[str], sample_rate: int = 16000
) -> Partition:
    """Rows of `partition` in `fold` (or, for a corpus with fewer folds, fold mod n), labelled."""
    man = read_manifest(manifest_path)
    spl = read_table(splits_path, "splits")
    folds = sorted(spl["fold"].astype(int).unique())
    if not folds:
        raise InputError(splits_path, "no rows: expected utt_id, fold, partition per utterance and fold", line=2)
    use = fold if fold in folds else folds[fold % len(folds)]
    if use != fold:
        log.warning("%s has no fold %d; using its fold %d", splits_path, fold, use)
    ids = spl.loc[(spl["fold"].astype(int) == use) & (spl["partition"] == partition), "utt_id"].astype(str)
    table = man.set_index(man["utt_id"].astype(str)).reindex(ids)
    unknown = table["path"].isna()
    if unknown.any():
        bad = ids[unknown.to_numpy()].iloc[0]
        line = int(spl.index[spl["utt_id"].astype(str) == bad][0]) + 2
        raise InputError(splits_path, f"utt_id '{bad}' is not in {manifest_path}", line=line)
    table = table.reset_index(drop=True)
    keep = table["emotion"].isin(list(emotions))
    if (~keep).any():
        log.warning(
            "%s: %d %s utterances with emotions outside %s skipped",
            manifest_path,
            int((~keep).sum()),
            partition,
            list(emotions),
        )
    table = table[keep].reset_index(drop=True)
    if table.empty:
        raise InputError(splits_path, f"fold {use} has no '{partition}' utterances with emotions {list(emotions)}")
    sr = pd.to_numeric(table["sample_rate"], errors="coerce")
    if (sr != sample_rate).any():
        log.warning("%s: some audio is not %d Hz; it is resampled on loading", manifest_path, sample_rate)
    table["label"] = table["emotion"].map({e: i for i, e in enumerate(emotions)}).astype(int)
    table["duration_s"] = pd.to_numeric(table["duration_s"]).astype(float)
    lang = str(table["lang"].iloc[0]) if "lang" in table else ""
    name = Path(manifest_path).parent.name
    return Partition(
        name=f"{name}:{partition}",
        table=table[
            ["utt_id", "path", "duration_s", "emotion", "label"] + [c for c in ("seg_start", "seg_end") if c in table]
        ],
        lang=lang,
    )


def batches(part: Partition, batch_size: int, max_seconds: float, seed: int | None = None) -> list[list[int]]:
    """Length-bucketed batches of row indices; with `seed` (a function of the run's seed and the
    epoch), batches redrawn within length buckets and shuffled."""
    return length_buckets(part.table["duration_s"].tolist(), max_seconds, max_items=batch_size, shuffle_seed=seed)


class Collator:
    """Rows -> model inputs normalised per utterance and zero-padded, sample lengths, labels.

    `clip_normalised`: the normalised waveform clipped to +-1 (`peft.clip_normalised_waveform`,
    the study's 16-bit PCM storage of it), for training, validation, test and the stimuli."""

    def __init__(
        self, feature_extractor: Any, sample_rate: int = 16000, cache: bool = True, clip_normalised: bool = False
    ):
        self.fe = feature_extractor
        self.sr = int(getattr(feature_extractor, "sampling_rate", sample_rate) or sample_rate)
        self.cache = cache
        self.clip_normalised = clip_normalised

    def wav(self, part: Partition, i: int) -> np.ndarray:
        row = part.table.iloc[i]
        key = str(row["path"])
        if key in part.cache:
            return part.cache[key]
        wav, _ = load_audio(key, self.sr)
        if "seg_start" in row and pd.notna(row.get("seg_start")) and pd.notna(row.get("seg_end")):
            wav = wav[int(float(row["seg_start"]) * self.sr) : int(float(row["seg_end"]) * self.sr)]
        if self.cache:
            part.cache[key] = wav
        return wav

    def __call__(self, part: Partition, idx: Sequence[int]) -> dict[str, torch.Tensor | None]:
        values, lengths = prepare(self.fe, [self.wav(part, i) for i in idx], self.clip_normalised)
        return {
            "input_values": values,
            "attention_mask": None,  # the valid part of each row is `lengths`
            "lengths": lengths,
            "labels": torch.tensor(part.table["label"].to_numpy()[list(idx)], dtype=torch.long),
        }

    def rows(self, items: Sequence[tuple[Partition, Sequence[int]]]) -> dict[str, torch.Tensor | None]:
        """One padded batch of the rows of several partitions (in order), as `__call__` makes of one."""
        wavs = [self.wav(part, i) for part, idx in items for i in idx]
        values, lengths = prepare(self.fe, wavs, self.clip_normalised)
        labels = [torch.tensor(part.table["label"].to_numpy()[list(idx)], dtype=torch.long) for part, idx in items]
        return {"input_values": values, "attention_mask": None, "lengths": lengths, "labels": torch.cat(labels)}
