"""Round trip through the real webMUSHRA: kits in, listeners' clicks out, Table II and t-tests checked.

    .venv/bin/python tools/webmushra_roundtrip.py /path/to/webMUSHRA [--scratch DIR] [--port N]

What it does (loopback only; every wait bounded; the given webMUSHRA folder is not touched):

1. copies the webMUSHRA folder into a scratch folder;
2. builds two fixture corpora (tone bursts, 4 emotions, 2 listening stimuli per emotion each)
   and two kits with `xlser.human.kit.build_kit`: `rt_cn` (Chinese labels and question,
   English interface, an instruction and a training page) and `rt_de` (German labels and
   interface, loudness-normalised): both play the same utterances under the same keys, so
   installing both checks that they share no audio file;
3. installs both kits into the copy as the kit README says and serves it with
   `php -S 127.0.0.1:<port>`;
4. answers every test in headless Chromium (tools/webmushra_browser.py, run by the selenium
   venv's python) by a known plan: per listener, which answer each (corpus, emotion, rank)
   stimulus gets;
5. ingests the lss.csv files webMUSHRA's write.php wrote (`xlser.human.ingest`) and checks
   that the answers are exactly the plan, and that Table II (`xlser.human.tables.table2`) and
   Welch's t-tests (`xlser.human.welch`) equal the plan's numbers computed here by hand
   (per-class counts from the plan, UA, mean, sample SD, Welch's t and df) to 1e-6.

Needs: php-cli, chromium, chromium-driver (Debian), and selenium in its own venv
(default ~/.cache/xlser/roundtrip-venv: `python3 -m venv ... && .../pip install selenium`).
Not part of CI. Exit 0 and "ROUND TRIP OK" when every check holds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from xlser.human.ingest import ingest, manifests_by_corpus
from xlser.human.kit import KitSpec, audio_dir, build_kit, read_kit
from xlser.human.tables import table2
from xlser.human.welch import listener_prf, welch_tests

EMO = ["angry", "happy", "neutral", "sad"]
SR = 16000
CORPORA = {"RT-CN": "CN", "RT-DE": "DE"}
PER_EMOTION = 2  # listening stimuli per emotion and corpus
FIELD = "email"

# The plan: listener -> group and the answers that differ from the truth, keyed by
# (corpus, true emotion, rank of the utterance within its emotion); every other stimulus is
# answered right. Chosen so UAs differ within each group (Table II has an SD, the t-tests a variance).
PLAN = {
    "cn01": ("CN", {}),
    "cn02": ("CN", {("RT-CN", "angry", 0): "happy", ("RT-DE", "angry", 0): "happy", ("RT-DE", "angry", 1): "happy"}),
    "cn03": ("CN", {("RT-CN", "sad", 1): "neutral", ("RT-DE", "happy", 0): "angry", ("RT-DE", "sad", 0): "neutral"}),
    "de01": ("DE", {("RT-CN", e, r): "neutral" for e in ("angry", "happy", "sad") for r in range(PER_EMOTION)}),
    "de02": ("DE", {("RT-CN", "happy", 1): "sad", ("RT-DE", "neutral", 0): "sad"}),
    "de03.x@y_z-1": ("DE", {("RT-CN", "angry", 1): "sad"}),  # every character webMUSHRA keeps: @ . _ -
}
TESTS = {
    "rt_cn": {
        "id": "rt_cn",
        "name": "xlser round trip (CN)",
        "groups": ["CN"],
        "labels": {"angry": "生气", "happy": "高兴", "neutral": "中性", "sad": "伤心"},
        "question": "说话人表达的是哪种情绪？",
        "language": "en",
        "instructions": "<p>Listen to each recording and choose the emotion.</p>",
        "training_per_emotion": 1,
    },
    "rt_de": {
        "id": "rt_de",
        "name": "xlser Rundlauf (DE)",
        "groups": ["DE"],
        "language": "de",
        "labels": {"angry": "wütend", "happy": "fröhlich", "neutral": "neutral", "sad": "traurig"},
        "question": "Welche Emotion drückt der Sprecher aus?",
        "loudness_normalise": True,
    },
}


def fixture_corpora(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Manifests and listening tables: 3 utterances per emotion (one left for the training page)."""
    manifests, listening = {}, {}
    for corpus, lang in CORPORA.items():
        d = root / "corpora" / corpus
        (d / "wav").mkdir(parents=True)
        rows = []
        for e_i, emo in enumerate(EMO):
            for i in range(PER_EMOTION + 1):
                utt = f"{corpus.lower()}_{emo}_{i}"
                t = np.arange(int(0.25 * SR)) / SR
                wav = (0.05 + 0.08 * e_i) * np.sin(2 * np.pi * (180 + 60 * i + 20 * e_i) * t)
                sf.write(str(d / "wav" / f"{utt}.wav"), wav.astype(np.float32), SR, subtype="FLOAT")
                rows.append(
                    {
                        "utt_id": utt,
                        "corpus": corpus,
                        "lang": lang,
                        "speaker": f"s{i % 2}",
                        "emotion": emo,
                        "path": str(d / "wav" / f"{utt}.wav"),
                        "duration_s": len(wav) / SR,
                        "sample_rate": SR,
                    }
                )
        man = pd.DataFrame(rows)
        man.to_csv(d / "manifest.csv", index=False)
        manifests[corpus] = d / "manifest.csv"
        listening[corpus] = root / f"{corpus}.listening.csv"
        man.groupby("emotion").head(PER_EMOTION)[["utt_id", "emotion", "speaker"]].to_csv(
            listening[corpus], index=False
        )
    return manifests, listening


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(root: Path, port: int, log: Path) -> subprocess.Popen:
    """`php -S` on loopback; returns once it answers (at most 20 s)."""
    proc = subprocess.Popen(
        ["php", "-S", f"127.0.0.1:{port}", "-t", str(root)], cwd=root, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"php -S on 127.0.0.1:{port} did not answer (log: {log})")


def planned_answer(listener: str, corpus: str, emotion: str, rank: int) -> str:
    return PLAN[listener][1].get((corpus, emotion, rank), emotion)


def hand_table(stimuli: dict[str, tuple[str, str]], truth: dict[tuple[str, str], str]) -> pd.DataFrame:
    """Per (listener, corpus, emotion): recall and precision counted from the plan."""
    rank = {}
    for corpus in CORPORA:
        for emo in EMO:
            utts = sorted(u for (c, u), e in truth.items() if c == corpus and e == emo)
            rank.update({(corpus, u): i for i, u in enumerate(utts)})
    rows = []
    for lis, (group, _) in PLAN.items():
        for corpus in CORPORA:
            pairs = [
                (e, planned_answer(lis, corpus, e, rank[(corpus, u)])) for (c, u), e in truth.items() if c == corpus
            ]
            for emo in EMO:
                hits = sum(t == emo and p == emo for t, p in pairs)
                told = sum(p == emo for _, p in pairs)
                rows.append(
                    {
                        "listener": lis,
                        "group": group,
                        "corpus": corpus,
                        "lang": CORPORA[corpus],
                        "emotion": emo,
                        "recall": hits / sum(t == emo for t, _ in pairs),
                        "precision": hits / told if told else 0.0,
                    }
                )
    return pd.DataFrame(rows)


def check(ok: bool, what: str, failures: list[str]) -> None:
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("webmushra", type=Path, help="a webMUSHRA folder (copied, never modified)")
    ap.add_argument("--scratch", type=Path, help="work folder (default: a new temporary one, kept)")
    ap.add_argument("--port", type=int, default=0, help="loopback port for php -S (default: a free one)")
    ap.add_argument(
        "--browser-python",
        type=Path,
        default=Path.home() / ".cache/xlser/roundtrip-venv/bin/python",
        help="python with selenium",
    )
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "chromedriver")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for the whole browser run")
    args = ap.parse_args()
    if not (args.webmushra / "service" / "write.php").is_file():
        sys.exit(f"{args.webmushra}: not a webMUSHRA folder (no service/write.php)")
    for tool in ("php", args.chromium, args.chromedriver, str(args.browser_python)):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: install php-cli, chromium, chromium-driver and a selenium venv")
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="webmushra-roundtrip-"))
    scratch.mkdir(parents=True, exist_ok=True)
    web = scratch / "webmushra"
    if web.exists():
        shutil.rmtree(web)
    shutil.copytree(args.webmushra, web, ignore=shutil.ignore_patterns(".git"))
    for t in TESTS:
        shutil.rmtree(web / "results" / t, ignore_errors=True)
    failures: list[str] = []

    manifests, listening = fixture_corpora(scratch)
    kits = {}
    n_files = sum(1 for f in (web / "configs").rglob("*") if f.is_file())
    for tid, test in TESTS.items():
        kits[tid] = scratch / "kits" / tid
        build_kit(kits[tid], KitSpec.from_config(test), listening, manifests, EMO, listener_column=FIELD)
        n_files += sum(1 for f in (kits[tid] / "configs").rglob("*") if f.is_file())
        shutil.copytree(kits[tid] / "configs", web / "configs", dirs_exist_ok=True)
    check(
        sum(1 for f in (web / "configs").rglob("*") if f.is_file()) == n_files,
        "two kits installed into one webMUSHRA: no file overwritten",
        failures,
    )

    truth = {}
    for corpus, path in listening.items():
        df = pd.read_csv(path, dtype=str)
        truth.update({(corpus, u): e for u, e in zip(df["utt_id"], df["emotion"], strict=True)})
    stim_all: dict[str, tuple[str, str]] = {}
    sessions = []
    for tid, kit in kits.items():
        _, pages, stim, _ = read_kit(kit, tid)
        stim_all.update(stim)
        for lis, (group, _) in PLAN.items():
            if group not in TESTS[tid]["groups"]:
                continue
            answers = {}
            for p in pages:
                corpus, utt = stim[p.stimulus]
                emo = truth[(corpus, utt)]
                rank = sorted(u for (c, u), e in truth.items() if c == corpus and e == emo).index(utt)
                answers[p.stimulus] = planned_answer(lis, corpus, emo, rank)
            sessions.append(
                {"test_id": tid, "listener": lis, "answers": answers, "lss": str(web / "results" / tid / "lss.csv")}
            )

    port = args.port or free_port()
    server = serve(web, port, scratch / "php.log")
    try:
        spec = {
            "base": f"http://127.0.0.1:{port}",
            "chromium": args.chromium,
            "chromedriver": args.chromedriver,
            "listener_field": FIELD,
            "sessions": sessions,
        }
        (scratch / "browser_in.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        run = subprocess.run(
            [
                str(args.browser_python),
                str(Path(__file__).with_name("webmushra_browser.py")),
                str(scratch / "browser_in.json"),
                str(scratch / "browser_out.json"),
            ],
            timeout=args.timeout,
        )
        if run.returncode != 0:
            print(f"FAIL  the browser run (exit {run.returncode}); php log: {scratch / 'php.log'}")
            return 1
    finally:
        server.terminate()
        server.wait(timeout=10)
    met = json.loads((scratch / "browser_out.json").read_text(encoding="utf-8"))

    # -- what the listeners saw
    for s in met:
        likert = [p for p in s["pages"] if p["type"] == "likert_single_stimulus"]
        n_pages = len(read_kit(kits[s["test_id"]], s["test_id"])[1])
        check(
            len(likert) == n_pages and all(p["locked_until_played"] for p in likert),
            f"{s['test_id']} {s['listener']}: {len(likert)} of {n_pages} answer pages, each locked until played",
            failures,
        )
    first_cn = next(s for s in met if s["test_id"] == "rt_cn")
    texts = " ".join(p.get("text", "") for p in first_cn["pages"])
    check(
        "@ . _ -" in texts and "Examples" in texts,
        "instruction page names the listener-id characters; training page has its caption",
        failures,
    )

    for s in met:
        finish = s["pages"][-1].get("text", "")
        send = {"en": "Send Results", "de": "Ergebnisse senden"}[TESTS[s["test_id"]]["language"]]
        check(
            "Thank you for taking part!" in finish and send in finish,
            f"{s['test_id']} {s['listener']}: finish page thanks the listener, button in the kit's language ({send!r})",
            failures,
        )

    # -- what write.php wrote
    lss = {tid: web / "results" / tid / "lss.csv" for tid in TESTS}
    raw = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in lss.values()])
    clicked = {(s["listener"], p["stimulus"], p["answer"]) for s in met for p in s["pages"] if "answer" in p}
    written = set(zip(raw[FIELD], raw["stimuli"], raw["stimuli_rating"], strict=True))
    check(
        written == clicked and len(raw) == len(clicked),
        f"lss.csv holds exactly the {len(clicked)} clicks (listener, stimulus, answer), ratings unpadded",
        failures,
    )
    sent = {(s["listener"], k, v) for s in sessions for k, v in s["answers"].items()}
    check(clicked == sent, "the clicks are the plan", failures)

    # -- ingestion, Table II, t-tests against the plan by hand
    listeners = scratch / "listeners.csv"
    pd.DataFrame(
        [{"listener": lis, "group": g, "gender": "x", "background": "roundtrip"} for lis, (g, _) in PLAN.items()]
    ).to_csv(listeners, index=False)
    resp, drops = ingest(
        list(lss.values()),
        [],
        listeners,
        [k / "stimuli.csv" for k in kits.values()],
        manifests_by_corpus(list(manifests.values())),
        EMO,
        listener_column=FIELD,
    )
    check(not drops and len(resp) == len(sent), f"ingested {len(resp)} answers, none dropped", failures)
    corpora = {c: {"lang": lang} for c, lang in CORPORA.items()}
    hand = hand_table(stim_all, truth)
    ua_hand = hand.groupby(["listener", "group", "lang"])["recall"].mean().reset_index()
    _, t2 = table2(resp, corpora, EMO)
    worst = 0.0
    for (grp, lang), g in ua_hand.groupby(["group", "lang"]):
        x = g["recall"].to_numpy()
        mean, sd = 100 * x.sum() / len(x), 100 * math.sqrt(((x - x.mean()) ** 2).sum() / (len(x) - 1))
        row = t2[(t2["group"] == grp) & (t2["lang"] == lang)].iloc[0]
        worst = max(worst, abs(row["ua_mean"] - mean), abs(row["ua_std"] - sd))
        print(
            f"      Table II {grp} listeners on {lang}: {row['ua_mean']:.4f} ± {row['ua_std']:.4f} "
            f"(by hand {mean:.4f} ± {sd:.4f})"
        )
    check(worst < 1e-6, f"Table II = the plan by hand (largest difference {worst:.2e})", failures)
    tests = welch_tests(listener_prf(resp, corpora, EMO), EMO)
    worst, n = 0.0, 0
    for r in tests[
        tests["family"].str.startswith("groups/") & tests["metric"].isin(["recall", "precision"]) & tests["t"].notna()
    ].itertuples():
        sel = hand[(hand["corpus"] == r.corpus_a) & (hand["emotion"] == r.emotion)]
        a = sel[sel["group"] == r.a][r.metric].to_numpy()
        b = sel[sel["group"] == r.b][r.metric].to_numpy()
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        t = (a.mean() - b.mean()) / math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        worst = max(worst, abs(r.t - t), abs(r.df - df))
        n += 1
    check(
        n > 0 and worst < 1e-6,
        f"{n} Welch's t-tests (groups, recall and precision) = the plan by hand (largest difference {worst:.2e})",
        failures,
    )
    check(
        all(not (kits[t] / audio_dir(t) / ".snakemake_timestamp").exists() for t in TESTS),
        "no stray files in the audio folders",
        failures,
    )
    print(f"scratch folder: {scratch}")
    if failures:
        print(f"ROUND TRIP FAILED: {len(failures)} check(s)")
        return 1
    print("ROUND TRIP OK")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
