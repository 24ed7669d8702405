"""The demo corpora: real layouts that the real adapters read, determinism, and emotions that
a probe on simple prosodic features tells apart well above chance (else the demo shows nothing)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xlser.data.corpora import scan_corpus
from xlser.demo.corpora import build_demo_corpus
from xlser.demo.espeak import ESpeak, Prosody
from xlser.metrics import ua

EMO = ["angry", "happy", "neutral", "sad"]
SR = 22050


def corpus(tmp_path, name, fmt, voice, lang, **spec):
    cfg = {"format": fmt, "root": str(tmp_path / name), "lang": lang}
    if fmt == "csv":
        cfg |= {
            "table": "labels.csv",
            "label_map": {"negation": "angry", "expectation": "happy", "question": "neutral", "sad": "sad"},
        }
    build_demo_corpus(tmp_path / name, name, {"voice": voice, **spec}, cfg, EMO, SR, seed=7)
    return cfg


def prosodic_features(path: str) -> np.ndarray:
    """f0 mean/std/range (autocorrelation on voiced 40 ms frames), RMS mean/std, duration, voiced ratio."""
    y, sr = sf.read(path, dtype="float32")
    hop, win = int(0.01 * sr), int(0.04 * sr)
    f0s, rms = [], []
    for s in range(0, len(y) - win, hop):
        fr = y[s : s + win] * np.hanning(win)
        e = float(np.sqrt(np.mean(fr**2)))
        rms.append(e)
        if e < 0.02:
            continue
        ac = np.correlate(fr, fr, "full")[win - 1 :]
        lo, hi = int(sr / 400), int(sr / 60)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            f0s.append(sr / lag)
    f0 = np.array(f0s) if f0s else np.zeros(1)
    rms_a = np.array(rms)
    return np.array(
        [
            f0.mean(),
            f0.std(),
            np.percentile(f0, 90) - np.percentile(f0, 10),
            rms_a.mean(),
            rms_a.std(),
            len(y) / sr,
            len(f0s) / max(1, len(rms)),
        ]
    )


def test_espeak_synthesises_every_demo_language():
    eng = ESpeak.get()
    assert eng.sample_rate == SR
    for voice, text in [
        ("cmn", "我们明天去公园"),
        ("yue", "我哋听日去公园"),
        ("de+m3", "Wir gehen"),
        ("en+f2", "We go"),
    ]:
        y = eng.synth(text, voice, Prosody())
        assert 0.3 < len(y) / SR < 5 and np.abs(y).max() > 0.1
    slow = eng.synth("We are going to the park", "en", Prosody(rate=100))
    fast = eng.synth("We are going to the park", "en", Prosody(rate=300))
    assert len(slow) > 1.8 * len(fast)  # the rate control really acts
    with pytest.raises(ValueError, match="no voice"):
        eng.synth("x", "klingon", Prosody())


def test_esd_layout_read_by_the_real_adapter(tmp_path):
    cfg = corpus(tmp_path, "DEMO-CN", "esd", "cmn", "CN", speakers=2, per_speaker_emotion=3)
    root = tmp_path / "DEMO-CN"
    assert sorted(p.name for p in (root / "0001").iterdir()) == [
        "0001.txt",
        "Angry",
        "Happy",
        "Neutral",
        "Sad",
        "Surprise",
    ]
    first = (root / "0001" / "0001.txt").read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert first[0] == "0001_000001" and first[2] == "中立"
    assert sf.info(str(root / "0001" / "Angry" / "0001_000004.wav")).samplerate == SR
    df = scan_corpus("DEMO-CN", cfg, EMO)
    assert len(df) == 2 * 4 * 3 and df["emotion"].value_counts().to_dict() == dict.fromkeys(EMO, 6)
    assert df["text"].notna().all()


def test_pavoque_iemocap_csv_zed_layouts(tmp_path):
    de = scan_corpus("D", corpus(tmp_path, "D", "pavoque", "de", "DE", speakers=1, per_speaker_emotion=2), EMO)
    assert len(de) == 8 and sf.info(de["path"][0]).subtype == "PCM_24"
    assert (tmp_path / "D" / "Recordings" / "Poker").is_dir()  # unused style written and dropped
    en_cfg = corpus(tmp_path, "E", "iemocap", "en", "EN", sessions=2, per_speaker_emotion=2)
    en = scan_corpus("E", {**en_cfg, "dialogs": "improvised", "listening_dialogs": "improvised"}, EMO)
    assert len(en) == 2 * 2 * 4 * 2 and set(en["session"]) == {"Ses01", "Ses02"}
    assert set(en["speaker"]) == {"Ses01F", "Ses01M", "Ses02F", "Ses02M"}
    assert not en["utt_id"].str.contains("script").any()  # improvised only
    scripted = scan_corpus("E", {**en_cfg, "improvised_only": False}, EMO)
    assert scripted["utt_id"].str.contains("script").sum() == 2 * 2 * 2
    tj = scan_corpus("T", corpus(tmp_path, "T", "csv", "yue", "TJ", speakers=2, per_speaker_emotion=2), EMO)
    assert len(tj) == 16 and "negation" in (tmp_path / "T" / "labels.csv").read_text()
    zcfg = corpus(tmp_path, "Z", "zed", "en", "EN", speakers=2, per_emotion=2)
    meta = json.loads((tmp_path / "Z" / "ZED.json").read_text())
    item = next(iter(meta.values()))
    assert item["wav"].startswith("datafolder/") and set(item) == {"wav", "duration", "emotion", "transcription"}
    z = scan_corpus("Z", zcfg, EMO)
    assert sorted(z["emotion"].unique()) == ["angry", "happy", "sad"] and len(z) == 6
    for r in z.itertuples():
        assert 0.5 < r.seg_start < r.seg_end < r.duration_s - 0.5
        # the emotional segment differs acoustically from its neutral context (louder or softer)
        y, sr = sf.read(r.path)
        mid = y[int(r.seg_start * sr) : int(r.seg_end * sr)]
        head = y[: int((r.seg_start - 0.15) * sr)]
        assert abs(np.sqrt(np.mean(mid**2)) / np.sqrt(np.mean(head**2)) - 1) > 0.05 or r.emotion == "happy"


def test_same_seed_same_files(tmp_path):
    def digest(root):
        return {
            p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    corpus(tmp_path / "a", "X", "pavoque", "de", "DE", speakers=1, per_speaker_emotion=2)
    corpus(tmp_path / "b", "X", "pavoque", "de", "DE", speakers=1, per_speaker_emotion=2)
    assert digest(tmp_path / "a" / "X") == digest(tmp_path / "b" / "X")


def test_prosodic_probe_tells_emotions_apart(tmp_path):
    cfg = corpus(tmp_path, "C", "esd", "cmn", "CN", speakers=4, per_speaker_emotion=8)
    df = scan_corpus("C", cfg, EMO)
    X = np.stack([prosodic_features(p) for p in df["path"]])
    y = df["emotion"].to_numpy()
    pred = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), X, y, cv=4)
    score = ua(y, pred, EMO)
    assert score > 0.7, f"prosodic probe UA {score:.2f} (chance 0.25)"


def test_languages_voice_emotions_differently(tmp_path):
    """Trained on one language, the prosodic probe loses accuracy on another: most on the dialect."""
    feats = {}
    for name, voice, lang in [("CN", "cmn", "CN"), ("TJ", "yue", "TJ")]:
        cfg = corpus(tmp_path, name, "csv", voice, lang, speakers=2, per_speaker_emotion=10)
        df = scan_corpus(name, cfg, EMO)
        feats[name] = (np.stack([prosodic_features(p) for p in df["path"]]), df["emotion"].to_numpy())
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    mono = ua(feats["CN"][1], cross_val_predict(clf, *feats["CN"], cv=4), EMO)
    cross = ua(feats["TJ"][1], clf.fit(*feats["CN"]).predict(feats["TJ"][0]), EMO)
    assert mono > cross + 0.15, (mono, cross)
