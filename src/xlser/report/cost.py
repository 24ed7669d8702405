"""What a run cost, per rule, and what the full-scale run will cost (the rehearsal's table).

Why: a researcher with a GPU node needs to know before spending it where the time goes.
Rule `cost_table` (report.smk) writes it for every run, from the benchmark files of the
jobs the report rests on, and the report shows it; the rehearsal adds the forecast.
Measured per rule, from Snakemake's benchmark files (`results/benchmarks/**.tsv`: `s`,
`max_rss`), the jobs' records (`logs/**.usage.json`, xlser.smk: each job's rule, wildcards
and benchmark file, written when it starts; CUDA's peak memory, when it ends) and the
manifests (audio seconds): jobs, wall time (total and median per job), peak memory, audio
seconds processed and the throughput in audio seconds per second. A benchmark file is
costed as the job that recorded it. A job that left no record (run before jobs recorded
themselves) is read by the benchmark pattern xlser.paths declares for its rule, the most
specific where several match (`results/benchmarks/sed/table4.tsv` is table4_eder's, not a
diarizer's named `table4`); a file no declared pattern matches, or two equally, is named
among those not costed.

Forecast of the full-scale run (the protocol at scale 1; only where the config has a
`rehearsal` section, the `basis` of `forecast_basis`), per rule, from the measured
per-job times under these assumptions (each row names its own in `scales_with`):
- `audio`: time grows with the audio a job reads (scan, resample, features: the corpus's
  utterance count at full scale over the rehearsal's; diarize: the SED subset's);
- `epochs x utterances`: fine-tunes and probes grow with epochs x training and validation
  utterances (full: the forecast's epoch budget, `forecast` in config/rehearsal.yaml), and
  fine-tuning with its folds (the protocol's over the rehearsal's);
- `fixed`: everything else (splits, tables, report) takes what it took.
Per-job overhead does not scale: a fine-tune's is its job time less its training time
(metrics.json `wall_time_s`); other rules' is the quickest job of the `fixed` rules
(interpreter start, imports: the model loading of feature and diarization jobs is scaled
with the rest, so those rows err high). `forecast_wall_s` is job time summed; the whole run's wall time
forecast divides it by the parallelism the rehearsal reached (job time / wall time, the
wall time being the span from the first job's start to the last one's end).

Fine-tuning, bound and expected, separate and stacked (`finetune_forecast`). Each measured
fine-tuning job (`finetune`: one fold; `finetune_stacked`: the folds of one experiment and
strategy, trained together, its time shared by them) gives one model's training time per
epoch at full scale, `p` (a stack's time over its models and over the stack's step ratio).
The forecast then runs the protocol's folds of that experiment and strategy for E epochs:
the bound, E = the epoch budget (`finetune_epochs`); the expected time, E = the expected
stopping epoch (`finetune_expected_epochs`, two_stage `two_stage_expected_epochs`: the
study's logs), at most the budget. `separate`: each fold its own job (overhead + p x E);
`stacked`: one job (overhead + folds x `stack_step_ratio` x p x E), the ratio being the
time per utterance-step of a stacked step over that of separate steps (measured with
`benchmarks/bench_peft.py --stack`; the schema's default is a CPU figure). The fine-tuning
row shows the mode the run used (`forecast_wall_s` bound, `forecast_expected_s` expected);
the text gives all four. A stacked job is one row of its rule (`finetune_stacked`), its
audio the sum of its folds'; the per-fold time of a stacked model is not measured apart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xlser import paths
from xlser.config import schema_defaults
from xlser.contracts import load_schema
from xlser.io import atomic_path, write_csv, write_text
from xlser.report.tables import to_markdown
from xlser.smk import job_record

if TYPE_CHECKING:
    from xlser.config import Settings

COLUMNS = [
    "rule",
    "jobs",
    "wall_total_s",
    "wall_median_s",
    "max_rss_mb",
    "audio_s",
    "audio_s_per_s",
    "gpu_mem_peak_mb",
    "device",
    "scales_with",
    "forecast_jobs",
    "forecast_wall_s",
    "forecast_expected_s",
]
FORECAST = ("scales_with", "forecast_jobs", "forecast_wall_s", "forecast_expected_s")
AUDIO_RULES = {"scan_corpus", "resample_corpus", "extract_features", "diarize"}
FINETUNE_RULES = {"finetune": "separate", "finetune_stacked": "stacked"}  # rule -> peft.training
TRAIN_RULES = {*FINETUNE_RULES, "probe_layers"}
AFTER_RULES = {"cost_table", "report_html"}  # run after the results the table costs: never in it
NO_BENCHMARK = "no benchmark file (made with --touch, or elsewhere)"
NO_RECORD = "neither a job record beside its log nor a rule's benchmark pattern (xlser.paths)"


def _number(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def job_records(workdir: str | Path) -> dict[str, dict[str, Any]]:
    """benchmark file (relative to `workdir`) -> the record of the job that wrote it (xlser.smk:
    rule, wildcards, benchmark, CUDA peaks), the latest where a job ran more than once. A record
    written before records named their benchmark file (CUDA jobs only) gets its rule's."""
    logs = Path(workdir) / paths.LOGS
    found = sorted(logs.rglob("*.usage.json"), key=lambda p: p.stat().st_mtime) if logs.is_dir() else []
    out = {}
    for p in found:
        rec = json.loads(p.read_text(encoding="utf-8"))
        bench = rec.get("benchmark") or job_record(rec["rule"], rec.get("wildcards", {}))["benchmark"]
        if bench:
            out[bench] = rec | {"benchmark": bench}
    return out


def record_by_path(rel: str) -> dict[str, Any] | None:
    """The record of a job that wrote none (run before jobs recorded themselves): the rule whose
    declared benchmark pattern matches `rel`, the one with the fewest wildcards where several
    do; None where none matches or two match alike."""
    hits = sorted(
        (len(wc), rule, wc) for rule in paths.JOBS if (wc := paths.parse(paths.benchmark(rule), rel)) is not None
    )
    if not hits or (len(hits) > 1 and hits[0][0] == hits[1][0]):
        return None
    _, rule, wc = hits[0]
    return {"rule": rule, "wildcards": wc, "benchmark": rel}


def read_jobs(workdir: str | Path, files: list[str] | None = None) -> pd.DataFrame:
    """One row per benchmarked job (those of `files`, paths relative to `workdir`, or every
    recorded job under it but AFTER_RULES'): rule, wildcards, s, max_rss_mb, gpu_mem_mb,
    device, end (mtime, epoch s). `attrs["uncosted"]`: {file: why} of the benchmark files
    named (or, without `files`, found) that are not costed."""
    wd = Path(workdir)
    records = job_records(wd)
    uncosted: dict[str, str] = {}
    if files is None:
        bench_dir = wd / paths.BENCHMARKS
        found = sorted(p.relative_to(wd).as_posix() for p in bench_dir.rglob("*.tsv")) if bench_dir.is_dir() else []
        records |= {f: rec for f in found if f not in records and (rec := record_by_path(f))}
        uncosted = {f: NO_RECORD for f in found if f not in records}
        files = [f for f in found if f in records and records[f]["rule"] not in AFTER_RULES]
    rows = []
    for rel in files:
        tsv = wd / rel
        if not tsv.exists():
            uncosted[rel] = NO_BENCHMARK
            continue
        rec = records.get(rel) or record_by_path(rel)
        if rec is None:
            uncosted[rel] = NO_RECORD
            continue
        bench = pd.read_csv(tsv, sep="\t")
        if bench.empty:
            continue
        rows.append(
            {
                "rule": rec["rule"],
                "wildcards": dict(rec["wildcards"]),
                "s": _number(bench["s"].iloc[-1]),
                "max_rss_mb": _number(bench.get("max_rss", pd.Series([math.nan])).iloc[-1]),
                "gpu_mem_mb": _number(rec.get("cuda_max_allocated_mb")),
                "device": rec.get("device", ""),
                "end": tsv.stat().st_mtime,
            }
        )
    df = pd.DataFrame(rows, columns=["rule", "wildcards", "s", "max_rss_mb", "gpu_mem_mb", "device", "end"])
    df.attrs["uncosted"] = uncosted
    return df


def _peft_folds(cfg: Mapping[str, Any]) -> int:
    """Fine-tuned folds: `peft.folds`, else every CV fold (xlser.config)."""
    return len(cfg.get("peft", {}).get("folds", range(int(cfg["splits"]["folds"])))) or 1


def forecast_assumptions(basis: Mapping[str, Any]) -> dict[str, Any]:
    """`basis` with the schema's defaults (`rehearsal` section) for the keys a rehearsal
    written before they existed lacks (the expected stopping epochs, the stack's step ratio)."""
    props = load_schema("config")["properties"]["rehearsal"]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v} | dict(basis)


def cost_settings(settings: Settings) -> dict[str, Any]:
    """The few config values the cost table reads (rule cost_table's params)."""
    s = settings
    folds = s.peft.folds if s.peft.folds is not None else range(s.splits.folds)
    # without a `sed` section no diarization job is costed: the schema's default stands in
    per_emotion = s.sed.per_emotion if s.sed.per_emotion is not None else schema_defaults("sed")["per_emotion"]
    return {
        "emotions": list(s.emotions),
        "train_per_emotion": int(s.splits.train_per_emotion),
        "val": int(s.splits.val),
        "cross_val_on": s.splits.cross_val_on,
        "probe_max_epochs": int(s.probe.max_epochs),
        "peft_folds": len(folds) or 1,
        "peft_fold_list": [int(f) for f in folds],  # the folds of a stacked job
        "sed_corpus": s.sed.corpus or "",
        "sed_per_emotion": int(per_emotion),
    }


class Audio:
    """Audio seconds from the run's manifests and splits (`cfg`: cost_settings)."""

    def __init__(self, workdir: Path, cfg: Mapping[str, Any]) -> None:
        self.wd, self.cfg = workdir, cfg
        self._m: dict[str, pd.DataFrame] = {}
        self._s: dict[str, pd.DataFrame] = {}

    def manifest(self, corpus: str) -> pd.DataFrame:
        if corpus not in self._m:
            p = self.wd / paths.fill(paths.MANIFEST, corpus=corpus)
            self._m[corpus] = (
                pd.read_csv(p, usecols=["utt_id", "duration_s"])
                if p.exists()
                else pd.DataFrame({"utt_id": [], "duration_s": []})
            )
        return self._m[corpus]

    def seconds(self, corpus: str, ids: Any = None) -> float:
        m = self.manifest(corpus)
        return float(m["duration_s"].sum() if ids is None else m.loc[m["utt_id"].isin(set(ids)), "duration_s"].sum())

    def partition(self, corpus: str, fold: int, part: str) -> float:
        if corpus not in self._s:
            p = self.wd / paths.fill(paths.SPLITS, corpus=corpus)
            self._s[corpus] = (
                pd.read_csv(p) if p.exists() else pd.DataFrame({"utt_id": [], "fold": [], "partition": []})
            )
        s = self._s[corpus]
        return self.seconds(corpus, s.loc[(s["fold"] == fold) & (s["partition"] == part), "utt_id"])

    def finetune_metrics(self, wc: Mapping[str, str]) -> dict[str, Any]:
        """A fine-tune's metrics.json ({} if it did not finish): epochs, training wall_time_s."""
        p = self.wd / paths.fill(paths.PEFT_METRICS, **wc)
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    def fold_wildcards(self, rule: str, wc: Mapping[str, str]) -> list[dict[str, str]]:
        """The wildcards of each fold model a fine-tuning job trained: its own (`finetune`), or
        one per fine-tuned fold (`finetune_stacked`, whose job has no fold wildcard)."""
        if rule == "finetune_stacked":
            return [{**wc, "fold": str(f)} for f in self.cfg.get("peft_fold_list", [])]
        return [dict(wc)]

    def finetune_training(self, rule: str, wc: Mapping[str, str]) -> tuple[float, float, int]:
        """(training time s, epochs, fold models) of a finished fine-tuning job, from its
        metrics.json files; nan where one is missing. A stacked model's `wall_time_s` is the
        stack's time while it trained, so the stack's is the largest, as are its epochs."""
        mets = [self.finetune_metrics(w) for w in self.fold_wildcards(rule, wc)]
        if not mets or not all(mets):
            return math.nan, math.nan, len(mets)
        return (
            max(float(m.get("wall_time_s", math.nan)) for m in mets),
            max(float(m.get("epochs", 0)) for m in mets),
            len(mets),
        )

    def finetune_audio(self, wc: Mapping[str, str]) -> float:
        """Audio seconds one fold model processed: epochs x (train + val) + test."""
        met = self.finetune_metrics(wc)
        if not met:
            return math.nan
        epochs = float(met.get("epochs", 0))
        f = int(wc["fold"])
        on_target = self.cfg["cross_val_on"] == "target"
        val = self.partition(wc["test"] if on_target else wc["train"], f, "val")
        return epochs * (self.partition(wc["train"], f, "train") + val) + self.partition(wc["test"], f, "test")

    def job(self, rule: str, wc: Mapping[str, str]) -> tuple[float, float]:
        """(audio seconds processed, epochs) of one job; nan where the rule reads no audio."""
        if rule in ("scan_corpus", "resample_corpus", "extract_features"):
            return self.seconds(wc["corpus"]), 1.0
        if rule == "diarize":
            p = self.wd / paths.SED_SUBSET
            ids = pd.read_csv(p)["utt_id"] if p.exists() else []
            return self.seconds(self.cfg["sed_corpus"], ids), 1.0
        if rule in FINETUNE_RULES:
            _, epochs, _ = self.finetune_training(rule, wc)
            return sum(self.finetune_audio(w) for w in self.fold_wildcards(rule, wc)), epochs
        return math.nan, math.nan


def full_utterances(spec: Mapping[str, Any], emotions: list[str], corpus_cfg: Mapping[str, Any]) -> int:
    """Utterances of the study's emotions in a real corpus (the rehearsal spec's real sizes)."""
    w = spec["writer"]
    if w in ("esd", "csv"):
        return int(spec["speakers"]) * int(spec["per_speaker_emotion"]) * len(emotions)
    if w == "pavoque":
        return sum(int(c) for e, c in spec["counts"].items() if e in emotions)
    if w == "iemocap":
        keep = {"neu", "hap", "ang", "sad"} | ({"exc"} if corpus_cfg.get("merge_excited") else set())
        return sum(int(c) for lab, c in spec["counts"].items() if lab in keep)
    if w == "zed":
        return int(spec["per_emotion"]) * 3
    return 0


def forecast_basis(
    spec: Mapping[str, Any], cfg: Mapping[str, Any], protocol: Mapping[str, Any], scale: float
) -> dict[str, Any]:
    """The full-scale run the forecast is of: the config's `rehearsal` section (schema: rehearsal).

    From the rehearsal spec (real corpus sizes, epoch budget) and the protocol at scale 1, so
    that the workflow's cost rule needs neither file."""
    emotions = list(cfg["emotions"])
    fc = forecast_assumptions(spec.get("forecast", {}))
    return {
        "scale": float(scale),
        "utterances": {c: full_utterances(spec["corpora"][c], emotions, cfg["corpora"][c]) for c in cfg["corpora"]},
        "train_per_emotion": int(protocol["splits"]["train_per_emotion"]),
        "val": int(protocol["splits"]["val"]),
        "peft_folds": _peft_folds(protocol),
        "sed_per_emotion": int(protocol.get("sed", {}).get("per_emotion", 8)),
        "finetune_epochs": int(fc["finetune_epochs"]),
        "probe_epochs": int(fc["probe_epochs"]),
        "finetune_expected_epochs": int(fc["finetune_expected_epochs"]),
        "two_stage_expected_epochs": int(fc["two_stage_expected_epochs"]),
        "stack_step_ratio": float(fc["stack_step_ratio"]),
    }


def utterance_factor(basis: Mapping[str, Any], cfg: Mapping[str, Any]) -> float:
    """Training and validation utterances per epoch at full scale over the run's."""
    n_emo = len(cfg["emotions"])
    run_utts = cfg["train_per_emotion"] * n_emo + cfg["val"]
    return (basis["train_per_emotion"] * n_emo + basis["val"]) / run_utts


def forecast_factor(
    rule: str, wc: Mapping[str, str], epochs_run: float, basis: Mapping[str, Any], cfg: Mapping[str, Any], audio: Audio
) -> tuple[float, str]:
    """(full-scale time / measured time) of one job, and what it scales with (`cfg`: cost_settings);
    a fine-tune's at the epoch budget (`finetune_forecast` has its expected time too)."""
    if rule in ("scan_corpus", "resample_corpus", "extract_features"):
        c = wc["corpus"]
        n = len(audio.manifest(c))
        return (basis["utterances"][c] / n if n else 1.0), "audio"
    if rule == "diarize":
        return basis["sed_per_emotion"] / cfg["sed_per_emotion"], "audio"
    if rule in TRAIN_RULES:
        tuning = rule in FINETUNE_RULES
        full_epochs = float(basis["finetune_epochs"] if tuning else basis["probe_epochs"])
        measured = tuning and epochs_run == epochs_run and epochs_run > 0
        run_epochs = epochs_run if measured else float(cfg["probe_max_epochs"])
        return full_epochs * utterance_factor(basis, cfg) / run_epochs, "epochs x utterances"
    return 1.0, "fixed"


def expected_epochs(strategy: str, basis: Mapping[str, Any]) -> float:
    """The expected stopping epoch of one fine-tune at full scale, at most the budget."""
    e = basis["two_stage_expected_epochs"] if strategy == "two_stage" else basis["finetune_expected_epochs"]
    return float(min(e, basis["finetune_epochs"]))


def finetune_forecast(
    s: float,
    train_s: float,
    n_models: int,
    epochs_run: float,
    strategy: str,
    basis: Mapping[str, Any],
    cfg: Mapping[str, Any],
) -> dict[str, float]:
    """Full-scale time of what one measured fine-tuning job stands for (its share of an
    experiment and strategy's folds: 1/folds of a `finetune`, all of a `finetune_stacked`),
    trained separately and stacked, to the epoch budget (`bound`) and to the expected stopping
    epoch (`expected`); `<mode>_jobs`, the jobs it makes. `s`: the job's time, `train_s` its
    training time (the rest is per-job overhead, not scaled), `n_models` the fold models it
    trained in `epochs_run` epochs (a stack: its last model's). One model's time per epoch at
    full scale is the job's training time x utterances / (epochs x models x the step ratio of
    a stack of more than one); a stack of the protocol's folds costs folds x ratio of it."""
    ratio = float(basis["stack_step_ratio"])
    overhead = max(0.0, s - train_s)
    per_epoch = train_s * utterance_factor(basis, cfg) / (epochs_run * n_models * (ratio if n_models > 1 else 1.0))
    share = n_models / cfg["peft_folds"]
    n_full = int(basis["peft_folds"])
    stack = n_full * (ratio if n_full > 1 else 1.0)
    out = {"separate_jobs": share * n_full, "stacked_jobs": share}
    for kind, epochs in (("bound", float(basis["finetune_epochs"])), ("expected", expected_epochs(strategy, basis))):
        out[f"separate_{kind}"] = share * n_full * (overhead + per_epoch * epochs)
        out[f"stacked_{kind}"] = share * (overhead + stack * per_epoch * epochs)
    return out


def _finetune_row(
    rule: str, g: pd.DataFrame, basis: Mapping[str, Any], cfg: Mapping[str, Any], audio: Audio, overhead: float
) -> dict[str, float]:
    """`finetune_forecast` summed over a fine-tuning rule's jobs. A job without metrics.json
    (stopped) is taken as trained all its time for the probes' epoch budget, as before."""
    total: dict[str, float] = {}
    for _, j in g.iterrows():
        train_s, epochs, n = audio.finetune_training(rule, j["wildcards"])
        if not (train_s == train_s and epochs == epochs and epochs > 0):
            train_s, epochs = j["s"] - min(j["s"], overhead), float(cfg["probe_max_epochs"])
        one = finetune_forecast(j["s"], train_s, max(n, 1), epochs, j["wildcards"]["strategy"], basis, cfg)
        total = {k: total.get(k, 0.0) + v for k, v in one.items()}
    return total


def _rule_row(rule: str, g: pd.DataFrame, audio: Audio) -> dict[str, Any]:
    """The measured columns of one rule's row."""
    aud = [audio.job(rule, j["wildcards"])[0] for _, j in g.iterrows()]
    a_sum = float(np.nansum(aud)) if not all(math.isnan(x) for x in aud) else math.nan
    return {
        "rule": rule,
        "jobs": len(g),
        "wall_total_s": g["s"].sum(),
        "wall_median_s": g["s"].median(),
        "max_rss_mb": g["max_rss_mb"].max(),
        "audio_s": a_sum,
        "audio_s_per_s": a_sum / g["s"].sum() if g["s"].sum() > 0 else math.nan,
        "gpu_mem_peak_mb": g["gpu_mem_mb"].max(),
        "device": ",".join(sorted({d for d in g["device"] if d})),
    }


def _forecast_row(
    rule: str, g: pd.DataFrame, basis: Mapping[str, Any], cfg: Mapping[str, Any], audio: Audio, overhead: float
) -> tuple[dict[str, Any], dict[str, float]]:
    """The forecast columns of one rule's row (a fine-tuning rule: its own mode), and a
    fine-tuning rule's `finetune_forecast` totals ({} for another rule)."""
    if rule in FINETUNE_RULES:
        ft = _finetune_row(rule, g, basis, cfg, audio, overhead)
        mode = FINETUNE_RULES[rule]
        cols = {
            "scales_with": "epochs x utterances",
            "forecast_jobs": round(ft[f"{mode}_jobs"]),
            "forecast_wall_s": ft[f"{mode}_bound"],
            "forecast_expected_s": ft[f"{mode}_expected"],
        }
        return cols, ft
    fc, scales = [], "fixed"
    for _, j in g.iterrows():
        _, ep = audio.job(rule, j["wildcards"])
        f, scales = forecast_factor(rule, j["wildcards"], ep, basis, cfg, audio)
        fixed = min(j["s"], overhead)
        fc.append(fixed + f * (j["s"] - fixed) if scales != "fixed" else j["s"])
    wall = float(np.sum(fc))
    return {"scales_with": scales, "forecast_jobs": len(g), "forecast_wall_s": wall, "forecast_expected_s": wall}, {}


def cost_table(
    workdir: str | Path,
    cfg: Mapping[str, Any],
    basis: Mapping[str, Any] | None = None,
    files: list[str] | None = None,
) -> pd.DataFrame:
    """The per-rule table (COLUMNS) and a TOTAL row; see the module docstring. `cfg`: the
    run's cost_settings. Without a `basis` (a run that is not a rehearsal) the forecast
    columns are empty. `attrs`: `span_s`, the jobs' wall time (job_span); `uncosted`, the
    benchmark files not costed and why (read_jobs); `finetune`, fine-tuning's full-scale
    forecast in both modes (`finetune_forecast`'s keys, summed; {} without a basis)."""
    wd = Path(workdir)
    jobs = read_jobs(wd, files)
    audio = Audio(wd, cfg)
    basis = forecast_assumptions(basis) if basis is not None else None
    # per-job overhead (interpreter start, imports): the quickest job of the rules that do little
    # else; it does not grow with the scale
    small = jobs.loc[~jobs["rule"].isin(AUDIO_RULES | TRAIN_RULES), "s"]
    overhead = float(small.min()) if len(small) else 0.0
    rows, finetune = [], {}
    for rule, g in jobs.groupby("rule", sort=False):
        row = _rule_row(rule, g, audio)
        if basis is not None:
            cols, ft = _forecast_row(rule, g, basis, cfg, audio, overhead)
            row |= cols
            finetune = {k: finetune.get(k, 0.0) + v for k, v in ft.items()}
        rows.append(row)
    df = pd.DataFrame(rows, columns=COLUMNS).sort_values("wall_total_s", ascending=False)
    total = {
        "rule": "TOTAL",
        "jobs": df["jobs"].sum(),
        "wall_total_s": df["wall_total_s"].sum(),
        "wall_median_s": math.nan,
        "max_rss_mb": df["max_rss_mb"].max(),
        "audio_s": df["audio_s"].sum(),
        "audio_s_per_s": math.nan,
        "gpu_mem_peak_mb": df["gpu_mem_peak_mb"].max(),
        "device": ",".join(sorted({d for x in df["device"] for d in str(x).split(",") if d})),
        "scales_with": "",
        **{c: df[c].sum() if basis is not None else math.nan for c in FORECAST[1:]},
    }
    out = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    out.attrs["span_s"] = job_span(jobs)
    out.attrs["uncosted"] = jobs.attrs["uncosted"]
    out.attrs["finetune"] = finetune
    return out


def job_span(jobs: pd.DataFrame) -> float:
    """Wall time of `jobs` (read_jobs) from the first one's start (end - s) to the last one's
    end; 0 with no job."""
    return float(jobs["end"].max() - (jobs["end"] - jobs["s"]).min()) if len(jobs) else 0.0


def write_cost(
    workdir: str | Path,
    cfg: Mapping[str, Any],
    basis: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    files: list[str] | None = None,
    out: Mapping[str, str | Path] | None = None,
) -> Path:
    """The cost table: `out` csv, md and png (default: the cost_table rule's, under `workdir`).

    `run` (the rehearsal tool's, for a run it stopped or that failed): scale, cores, build_s,
    workflow_s, returncode of its last Snakemake invocation. The wall time is the jobs' span
    (job_span): a run resumed over several invocations is not one invocation's time."""
    wd = Path(workdir)
    out = dict(out or {})
    csv = Path(out.get("csv", wd / f"{paths.COST_TABLE}.csv"))
    md = Path(out.get("md", wd / f"{paths.COST_TABLE}.md"))
    png = Path(out.get("png", wd / paths.COST_FIGURE))
    df = cost_table(wd, cfg, basis, files)
    write_csv(df.round(3), csv)
    tot = df.iloc[-1]
    run = dict(run or {})
    wall = float(df.attrs["span_s"])
    parallel = tot["wall_total_s"] / wall if wall > 0 else 1.0
    head = (
        f"Rehearsal at scale {run.get('scale', basis['scale'] if basis else '?')}"
        + (f" with --cores {run['cores']}" if "cores" in run else "")
        + ": "
        if basis is not None
        else "This run: "
    )
    lines = [
        head + f"{int(tot['jobs'])} jobs, wall time {wall:.0f} s (first job's start to last one's end), "
        f"job time {tot['wall_total_s']:.0f} s (parallelism {parallel:.1f})."
        + (f" The last Snakemake invocation ran {float(run['workflow_s']):.0f} s" if "workflow_s" in run else "")
        + (
            f" (inputs built in {float(run.get('build_s', 0)):.0f} s)"
            if "workflow_s" in run and "build_s" in run
            else ""
        )
        + (f", exit status {run['returncode']}." if "returncode" in run else "." if "workflow_s" in run else "")
    ]
    cols = COLUMNS
    if basis is not None:
        lines += _forecast_lines(tot, parallel, forecast_assumptions(basis), df.attrs["finetune"])
    else:
        cols = [c for c in COLUMNS if c not in FORECAST]
    lines += _uncosted(df.attrs["uncosted"], len(files) if files is not None else None)
    caption = "Cost per rule (measured" + ("; forecast at scale 1)" if basis is not None else ")")
    text = "\n\n".join(lines) + "\n\n" + to_markdown(df[cols].round(2), caption=caption)
    write_text(text, md)
    _figure(df, png, forecast=basis is not None)
    return csv


def _forecast_lines(
    tot: pd.Series, parallel: float, basis: Mapping[str, Any], finetune: Mapping[str, float]
) -> list[str]:
    """The forecast's sentences: the whole run (bound and expected), fine-tuning in both modes
    (a small table), the assumptions."""
    par = max(parallel, 1.0)
    lines = [
        f"Forecast of the full-scale run: job time {tot['forecast_wall_s'] / 3600:.1f} h at the epoch budget "
        f"(bound), {tot['forecast_expected_s'] / 3600:.1f} h expected with early stopping; wall time about "
        f"{tot['forecast_wall_s'] / par / 3600:.1f} h (bound), {tot['forecast_expected_s'] / par / 3600:.1f} h "
        f"(expected) at the same parallelism, on the same device(s) ({tot['device'] or 'cpu'})."
    ]
    if finetune:
        rows = "\n".join(
            f"| {mode} | {finetune[f'{mode}_jobs']:.0f} | {finetune[f'{mode}_bound'] / 3600:.1f} "
            f"| {finetune[f'{mode}_expected'] / 3600:.1f} |"
            for mode in ("separate", "stacked")
        )
        lines.append(
            "Fine-tuning at scale 1 (`peft.training`; the run's own mode is its rule's row):\n\n"
            "| training | jobs | bound, h | expected, h |\n|---|---|---|---|\n" + rows
        )
    lines.append(
        "Assumptions (xlser.report.cost): `audio` rows scale with the corpus's utterances, `epochs x "
        f"utterances` rows with epochs (bound: the budget, fine-tunes {basis['finetune_epochs']}, probes "
        f"{basis['probe_epochs']}; expected: fine-tunes stop at epoch {basis['finetune_expected_epochs']}, "
        f"two_stage at {basis['two_stage_expected_epochs']}, as the study's logs show; probes at the budget) "
        "x training and validation utterances (fine-tunes also with folds), `fixed` rows not at all. A stacked "
        f"job's time is shared by its folds; a stacked step costs {basis['stack_step_ratio']:g} x the separate "
        "steps' time per utterance-step (`stack_step_ratio`)."
    )
    return lines


def _uncosted(uncosted: Mapping[str, str], named: int | None) -> list[str]:
    """One sentence per reason the table leaves jobs out (`named`: the jobs the workflow named)."""
    lines = []
    for why in (NO_BENCHMARK, NO_RECORD):
        hit = [f for f, w in uncosted.items() if w == why]
        if hit:
            of = f" of {named}" if named is not None else ""
            lines.append(f"Not costed: {len(hit)}{of} jobs have {why}, e.g. {', '.join(hit[:3])}.")
    return lines


def _figure(df: pd.DataFrame, path: Path, forecast: bool = True) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df[df["rule"] != "TOTAL"].iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(d) + 1.2))
    y = np.arange(len(d))
    if forecast:
        ax.barh(y - 0.2, d["wall_total_s"].clip(lower=0.01), 0.4, label="measured (rehearsal)")
        ax.barh(y + 0.2, d["forecast_wall_s"].clip(lower=0.01), 0.4, label="forecast (scale 1)")
    else:
        ax.barh(y, d["wall_total_s"].clip(lower=0.01), 0.6, label="measured")
    ax.set_yticks(y, d["rule"])
    ax.set_xscale("log")
    ax.set_xlabel("job time per rule, s (log)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
