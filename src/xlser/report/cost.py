"""What a run cost, per rule, and what the full-scale run will cost (the rehearsal's table).

Why: a researcher with a GPU node needs to know before spending it where the time goes.
Measured per rule, from Snakemake's benchmark files (`results/benchmarks/**.tsv`: `s`,
`max_rss`), the jobs' usage files (`logs/**.usage.json`, xlser.smk: CUDA's peak memory)
and the manifests (audio seconds): jobs, wall time (total and median per job), peak
memory, audio seconds processed and the throughput in audio seconds per second.

Forecast of the full-scale run (the protocol at scale 1), per rule, from the measured
per-job times under these assumptions (each row names its own in `scales_with`):
- `audio`: time grows with the audio a job reads (scan, resample, features: the corpus's
  utterance count at full scale over the rehearsal's; diarize: the SED subset's);
- `epochs x utterances`: fine-tunes and probes grow with epochs x training and validation
  utterances (full: the forecast's epoch budget, `forecast` in config/rehearsal.yaml), and
  fine-tuning with its jobs (the protocol's folds over the rehearsal's);
- `fixed`: everything else (splits, tables, report) takes what it took.
Per-job overhead does not scale: a fine-tune's is its job time less its training time
(metrics.json `wall_time_s`); other rules' is the quickest job of the `fixed` rules
(interpreter start, imports: the model loading of feature and diarization jobs is scaled
with the rest, so those rows err high). `forecast_wall_s` is job time summed; the whole run's wall time
forecast divides it by the parallelism the rehearsal reached (job time / wall time).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xlser.io import write_csv, write_text
from xlser.report.tables import to_markdown

COLUMNS = ["rule", "jobs", "wall_total_s", "wall_median_s", "max_rss_mb", "audio_s", "audio_s_per_s",
           "gpu_mem_peak_mb", "device", "scales_with", "forecast_jobs", "forecast_wall_s"]
AUDIO_RULES = {"scan_corpus", "resample_corpus", "extract_features", "diarize"}
TRAIN_RULES = {"finetune", "probe_layers"}
_RULE = re.compile(r"^\s*rule\s+(\w+)\s*:")
_STRING = re.compile(r"""^\s*(?:\w+\s*=\s*)?["']([^"']+)["']""")


def benchmark_patterns(rules_dir: str | Path) -> list[tuple[str, re.Pattern[str]]]:
    """(rule, regex of its benchmark path with named wildcards) from the rule files."""
    out = []
    for smk in sorted(Path(rules_dir).glob("*.smk")):
        rule, want = None, False
        for line in smk.read_text(encoding="utf-8").splitlines():
            m = _RULE.match(line)
            if m:
                rule, want = m.group(1), False
            elif line.strip() == "benchmark:":
                want = True
            elif want and line.strip():
                s = _STRING.match(line)
                if s and rule:
                    parts = re.split(r"\{(\w+)\}", s.group(1))
                    rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+?)" for i, p in enumerate(parts))
                    out.append((rule, re.compile(f"^{rx}$")))
                want = False
    return sorted(out, key=lambda r: r[1].groups)  # a literal path before a pattern that also matches it


def _number(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def read_jobs(workdir: str | Path, rules_dir: str | Path) -> pd.DataFrame:
    """One row per benchmarked job: rule, wildcards, s, max_rss_mb, gpu_mem_mb, device."""
    wd = Path(workdir)
    patterns = benchmark_patterns(rules_dir)
    usage: dict[tuple[str, str], dict[str, Any]] = {}
    for p in (wd / "logs").rglob("*.usage.json") if (wd / "logs").is_dir() else []:
        u = json.loads(p.read_text(encoding="utf-8"))
        usage[(u["rule"], json.dumps(u.get("wildcards", {}), sort_keys=True))] = u
    rows = []
    for tsv in sorted((wd / "results" / "benchmarks").rglob("*.tsv")) if (wd / "results" / "benchmarks").is_dir() else []:
        rel = tsv.relative_to(wd).as_posix()
        match = next(((r, m) for r, rx in patterns if (m := rx.match(rel))), None)
        if match is None:
            continue
        rule, m = match
        bench = pd.read_csv(tsv, sep="\t")
        if bench.empty:
            continue
        wc = {k: v for k, v in m.groupdict().items()}
        u = usage.get((rule, json.dumps(wc, sort_keys=True)), {})
        rows.append({"rule": rule, "wildcards": wc, "s": _number(bench["s"].iloc[-1]),
                     "max_rss_mb": _number(bench.get("max_rss", pd.Series([math.nan])).iloc[-1]),
                     "gpu_mem_mb": _number(u.get("cuda_max_allocated_mb")), "device": u.get("device", "")})
    return pd.DataFrame(rows, columns=["rule", "wildcards", "s", "max_rss_mb", "gpu_mem_mb", "device"])


class Audio:
    """Audio seconds from the run's manifests and splits."""

    def __init__(self, workdir: Path, cfg: Mapping[str, Any]) -> None:
        self.wd, self.cfg = workdir, cfg
        self._m: dict[str, pd.DataFrame] = {}
        self._s: dict[str, pd.DataFrame] = {}

    def manifest(self, corpus: str) -> pd.DataFrame:
        if corpus not in self._m:
            p = self.wd / "results" / "corpora" / corpus / "manifest.csv"
            self._m[corpus] = pd.read_csv(p, usecols=["utt_id", "duration_s"]) if p.exists() else pd.DataFrame(
                {"utt_id": [], "duration_s": []})
        return self._m[corpus]

    def seconds(self, corpus: str, ids: Any = None) -> float:
        m = self.manifest(corpus)
        return float(m["duration_s"].sum() if ids is None else m.loc[m["utt_id"].isin(set(ids)), "duration_s"].sum())

    def partition(self, corpus: str, fold: int, part: str) -> float:
        if corpus not in self._s:
            p = self.wd / "results" / "splits" / f"{corpus}.csv"
            self._s[corpus] = pd.read_csv(p) if p.exists() else pd.DataFrame({"utt_id": [], "fold": [], "partition": []})
        s = self._s[corpus]
        return self.seconds(corpus, s.loc[(s["fold"] == fold) & (s["partition"] == part), "utt_id"])

    def finetune_metrics(self, wc: Mapping[str, str]) -> dict[str, Any]:
        """A fine-tune's metrics.json ({} if it did not finish): epochs, training wall_time_s."""
        p = self.wd / "results" / "peft" / wc["model"] / f"{wc['train']}__{wc['test']}" / wc["strategy"] \
            / f"fold{wc['fold']}" / "metrics.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    def job(self, rule: str, wc: Mapping[str, str]) -> tuple[float, float]:
        """(audio seconds processed, epochs) of one job; nan where the rule reads no audio."""
        if rule in ("scan_corpus", "resample_corpus", "extract_features"):
            return self.seconds(wc["corpus"]), 1.0
        if rule == "diarize":
            p = self.wd / "results" / "sed" / "subset.csv"
            ids = pd.read_csv(p)["utt_id"] if p.exists() else []
            return self.seconds(self.cfg["sed"]["corpus"], ids), 1.0
        if rule == "finetune":
            met = self.finetune_metrics(wc)
            if not met:
                return math.nan, math.nan
            epochs = float(met.get("epochs", 0))
            f = int(wc["fold"])
            on_target = self.cfg["splits"].get("cross_val_on", "source") == "target"
            val = self.partition(wc["test"] if on_target else wc["train"], f, "val")
            return epochs * (self.partition(wc["train"], f, "train") + val) + self.partition(wc["test"], f, "test"), epochs
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


def forecast_factor(rule: str, wc: Mapping[str, str], epochs_run: float, spec: Mapping[str, Any],
                    cfg: Mapping[str, Any], protocol: Mapping[str, Any], audio: Audio) -> tuple[float, str]:
    """(full-scale time / measured time) of one job, and what it scales with."""
    if rule in ("scan_corpus", "resample_corpus", "extract_features"):
        c = wc["corpus"]
        n = len(audio.manifest(c))
        full = full_utterances(spec["corpora"][c], list(cfg["emotions"]), cfg["corpora"][c])
        return (full / n if n else 1.0), "audio"
    if rule == "diarize":
        return protocol["sed"].get("per_emotion", 8) / cfg["sed"].get("per_emotion", 8), "audio"
    if rule in TRAIN_RULES:
        n_emo = len(cfg["emotions"])
        utts = lambda c: c["splits"]["train_per_emotion"] * n_emo + c["splits"]["val"]  # noqa: E731
        key = "finetune_epochs" if rule == "finetune" else "probe_epochs"
        full_epochs = float(spec.get("forecast", {}).get(key, 100))
        run_epochs = epochs_run if rule == "finetune" and epochs_run == epochs_run and epochs_run > 0 \
            else float(cfg["probe"].get("max_epochs", 100))
        return full_epochs * utts(protocol) / (run_epochs * utts(cfg)), "epochs x utterances"
    return 1.0, "fixed"


def cost_table(workdir: str | Path, rules_dir: str | Path, spec: Mapping[str, Any], cfg: Mapping[str, Any],
               protocol: Mapping[str, Any]) -> pd.DataFrame:
    """The per-rule table (COLUMNS) and a TOTAL row; see the module docstring."""
    wd = Path(workdir)
    jobs = read_jobs(wd, rules_dir)
    audio = Audio(wd, cfg)
    folds_full = len(protocol.get("peft", {}).get("folds", [0])) or 1
    folds_run = len(cfg.get("peft", {}).get("folds", [0])) or 1
    # per-job overhead (interpreter start, imports): the quickest job of the rules that do little
    # else; it does not grow with the scale
    small = jobs.loc[~jobs["rule"].isin(AUDIO_RULES | TRAIN_RULES), "s"]
    overhead = float(small.min()) if len(small) else 0.0
    rows = []
    for rule, g in jobs.groupby("rule", sort=False):
        aud, fc = [], []
        scales = "fixed"
        for _, j in g.iterrows():
            a, ep = audio.job(rule, j["wildcards"])
            f, scales = forecast_factor(rule, j["wildcards"], ep, spec, cfg, protocol, audio)
            aud.append(a)
            fixed = min(j["s"], overhead)
            if rule == "finetune":  # its own training time is measured: the rest is per-job overhead
                train_s = float(audio.finetune_metrics(j["wildcards"]).get("wall_time_s", j["s"] - fixed))
                fixed = max(0.0, j["s"] - train_s)
            fc.append(fixed + f * (j["s"] - fixed) if scales != "fixed" else j["s"])
        job_ratio = folds_full / folds_run if rule == "finetune" else 1.0
        a_sum = float(np.nansum(aud)) if not all(math.isnan(x) for x in aud) else math.nan
        gpu = g["gpu_mem_mb"].max()
        rows.append({"rule": rule, "jobs": len(g), "wall_total_s": g["s"].sum(), "wall_median_s": g["s"].median(),
                     "max_rss_mb": g["max_rss_mb"].max(), "audio_s": a_sum,
                     "audio_s_per_s": a_sum / g["s"].sum() if g["s"].sum() > 0 else math.nan,
                     "gpu_mem_peak_mb": gpu, "device": ",".join(sorted({d for d in g["device"] if d})),
                     "scales_with": scales, "forecast_jobs": int(round(len(g) * job_ratio)),
                     "forecast_wall_s": float(np.sum(fc)) * job_ratio})
    df = pd.DataFrame(rows, columns=COLUMNS).sort_values("wall_total_s", ascending=False)
    total = {"rule": "TOTAL", "jobs": df["jobs"].sum(), "wall_total_s": df["wall_total_s"].sum(),
             "wall_median_s": math.nan, "max_rss_mb": df["max_rss_mb"].max(), "audio_s": df["audio_s"].sum(),
             "audio_s_per_s": math.nan, "gpu_mem_peak_mb": df["gpu_mem_peak_mb"].max(),
             "device": ",".join(sorted({d for x in df["device"] for d in str(x).split(",") if d})),
             "scales_with": "", "forecast_jobs": df["forecast_jobs"].sum(), "forecast_wall_s": df["forecast_wall_s"].sum()}
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def write_cost(workdir: str | Path, rules_dir: str | Path, spec: Mapping[str, Any], cfg: Mapping[str, Any],
               protocol: Mapping[str, Any], run: Mapping[str, Any]) -> Path:
    """`results/tables/cost.{csv,md}` and `results/figures/cost.png` under `workdir`."""
    wd = Path(workdir)
    df = cost_table(wd, rules_dir, spec, cfg, protocol)
    csv = wd / "results" / "tables" / "cost.csv"
    write_csv(df.round(3), csv)
    tot = df.iloc[-1]
    wall = float(run.get("workflow_s") or 0.0)
    parallel = tot["wall_total_s"] / wall if wall > 0 else 1.0
    forecast_wall = tot["forecast_wall_s"] / max(parallel, 1.0)
    lines = [f"Rehearsal at scale {run.get('scale')} with --cores {run.get('cores')}: workflow wall time "
             f"{wall:.0f} s (inputs built in {run.get('build_s', 0):.0f} s), job time {tot['wall_total_s']:.0f} s "
             f"(parallelism {parallel:.1f}), exit status {run.get('returncode')}.",
             f"Forecast of the full-scale run: job time {tot['forecast_wall_s'] / 3600:.1f} h, wall time about "
             f"{forecast_wall / 3600:.1f} h at the same parallelism, on the same device(s) "
             f"({tot['device'] or 'cpu'}).",
             "Assumptions (xlser.report.cost): `audio` rows scale with the corpus's utterances, `epochs x "
             "utterances` rows with the epoch budget (" + json.dumps(dict(spec.get("forecast", {}))) +
             ") x training and validation utterances (fine-tunes also with folds), `fixed` rows not at all."]
    text = "\n\n".join(lines) + "\n\n" + to_markdown(df.round(2), caption="Cost per rule (measured; forecast at scale 1)")
    write_text(text, wd / "results" / "tables" / "cost.md")
    _figure(df, wd / "results" / "figures" / "cost.png")
    return csv


def _figure(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df[df["rule"] != "TOTAL"].iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(d) + 1.2))
    y = np.arange(len(d))
    ax.barh(y - 0.2, d["wall_total_s"].clip(lower=0.01), 0.4, label="measured (rehearsal)")
    ax.barh(y + 0.2, d["forecast_wall_s"].clip(lower=0.01), 0.4, label="forecast (scale 1)")
    ax.set_yticks(y, d["rule"])
    ax.set_xscale("log")
    ax.set_xlabel("job time per rule, s (log)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
