"""raw.csv -> manifest.csv: every utterance as a 16 kHz mono float32 wav.

Work is spread over a process pool (`threads:` of the rule); wavs are written into a
temporary folder renamed into place at the end, so a failed job leaves nothing finished.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from xlser.contracts import read_table
from xlser.data.audio import load_audio, save_audio
from xlser.data.audiocheck import check_min_length
from xlser.data.manifest import write_manifest
from xlser.errors import InputError
from xlser.io import write_failure

log = logging.getLogger(__name__)


def _convert(args: tuple[str, str, int]) -> tuple[str, float]:
    """One file; any failure comes back as an InputError (it pickles, so a worker process's
    error reaches the user with the file's name): a bad source names the source, a failed
    write (full disk, quota) names the file written, the system's reason and the source."""
    src, dst, sr = args
    import torch

    torch.set_num_threads(1)
    try:
        wav, _ = load_audio(src, target_sr=sr)
        check_min_length(src, len(wav), sr)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(src, f"cannot resample to {sr} Hz ({type(exc).__name__}: {exc})") from None
    try:
        save_audio(dst, wav, sr)
    except OSError as exc:
        raise InputError(dst, f"{write_failure(dst, exc, 'the resampled audio')} (converting {src})") from None
    return dst, len(wav) / sr


def resample_corpus(
    raw_csv: str | Path, manifest_csv: str | Path, wav_dir: str | Path, sample_rate: int = 16000, workers: int = 1
) -> pd.DataFrame:
    """Convert every utterance of `raw_csv`; write `manifest_csv` with paths into `wav_dir`."""
    raw = read_table(raw_csv, "manifest")
    wav_dir = Path(wav_dir)
    tmp_dir = wav_dir.with_name(f".{wav_dir.name}.part")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    try:
        tmp_dir.mkdir(parents=True)
    except OSError as exc:
        raise InputError(tmp_dir, write_failure(tmp_dir / "x", exc, "the resampled audio's folder")) from None
    corpora = sorted(set(raw["corpus"].astype(str)))
    jobs = [(p, str(tmp_dir / f"{u}.wav"), sample_rate) for u, p in zip(raw["utt_id"], raw["path"])]
    try:
        if workers > 1 and len(jobs) > 1:
            try:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    results = list(
                        tqdm(pool.map(_convert, jobs, chunksize=8), total=len(jobs), desc="resample", mininterval=2.0)
                    )
            except BrokenProcessPool as exc:
                # a worker died (killed, out of memory, crash in a decoder): no file to blame for sure
                raise RuntimeError(
                    f"a resampling worker died ({exc}) while converting {raw_csv}; "
                    f"re-run with --cores 1 to find the file, or give the job more memory"
                ) from None
        else:
            results = [_convert(j) for j in tqdm(jobs, desc="resample", mininterval=2.0)]
        shutil.rmtree(wav_dir, ignore_errors=True)
        os.replace(tmp_dir, wav_dir)
    except InputError as exc:  # the file is named; the user also needs the corpus it belongs to
        raise exc.noted(", ".join(f"corpus {c}, config corpora.{c}" for c in corpora)) from None
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    out = raw.copy()
    out["path"] = [str(wav_dir / Path(dst).name) for dst, _ in results]
    out["duration_s"] = [round(d, 6) for _, d in results]
    out["sample_rate"] = sample_rate
    write_manifest(out, manifest_csv)  # a failed write: an InputError naming it (xlser.io.write_csv)
    log.info("resampled %d utterances to %d Hz (%.1f s of audio)", len(out), sample_rate, out["duration_s"].sum())
    return out
