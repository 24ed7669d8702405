"""SED backends: speechbrain's own interface on a tiny checkpoint in its format (no network),
and the probe backend trained on concatenations, which must beat an all-neutral prediction."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from xlser.config import Optim
from xlser.data.manifest import write_manifest
from xlser.sed.backends import context_features, diarize, single_segment
from xlser.sed.eder import n_reference_frames, utterance_eder
from xlser.sed.sb_checkpoint import LABELS, write_sb_checkpoint

SR = 16000


@pytest.fixture(scope="module")
def tiny_wavlm(tmp_path_factory):
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    torch.manual_seed(0)
    cfg = WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32, 32, 32),
        conv_kernel=(10, 8, 4, 4),
        conv_stride=(5, 4, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_buckets=32,
        max_bucket_distance=80,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )
    path = tmp_path_factory.mktemp("wavlm")
    WavLMModel(cfg).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, return_attention_mask=True).save_pretrained(path)
    return path


@pytest.fixture
def no_hub(monkeypatch):
    """Any attempt to reach the Hugging Face hub fails the test."""
    import huggingface_hub

    def refuse(*a, **k):
        raise AssertionError(f"tried to download: {a} {k}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr("speechbrain.utils.fetching.huggingface_hub.hf_hub_download", refuse)


def tone(freq: float, seconds: float, amp: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f = freq * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))
    y = amp * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)) + 0.01 * rng.standard_normal(len(t))
    return y.astype(np.float32)


EMO_TONE = {"neutral": (140, 0.3), "angry": (900, 0.8), "happy": (2200, 0.5), "sad": (350, 0.1)}


def write_corpus(root, name, per_emotion, rng, emotions=("neutral", "angry", "happy", "sad")):
    rows = []
    for emo in emotions:
        for k in range(per_emotion):
            f, a = EMO_TONE[emo]
            y = tone(f * rng.uniform(0.9, 1.1), rng.uniform(0.8, 1.4), a, rng)
            p = root / name / f"{emo}_{k}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, y, SR)
            rows.append(
                {
                    "utt_id": f"{name}_{emo}_{k}",
                    "corpus": name,
                    "lang": "EN",
                    "speaker": f"s{k % 2}",
                    "emotion": emo,
                    "path": str(p),
                    "duration_s": len(y) / SR,
                    "sample_rate": SR,
                }
            )
    write_manifest(pd.DataFrame(rows), root / name / "manifest.csv")
    return root / name / "manifest.csv"


def write_zed(root, per_emotion, rng):
    rows = []
    for emo in ("angry", "happy", "sad"):
        for k in range(per_emotion):
            parts = [
                tone(EMO_TONE["neutral"][0], rng.uniform(1.0, 2.0), EMO_TONE["neutral"][1], rng),
                tone(EMO_TONE[emo][0], rng.uniform(1.0, 2.0), EMO_TONE[emo][1], rng),
                tone(EMO_TONE["neutral"][0], rng.uniform(1.0, 2.0), EMO_TONE["neutral"][1], rng),
            ]
            y = np.concatenate(parts)
            p = root / "zed" / f"{emo}_{k}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, y, SR)
            s = len(parts[0]) / SR
            rows.append(
                {
                    "utt_id": f"zed_{emo}_{k}",
                    "corpus": "ZED",
                    "lang": "EN",
                    "speaker": "z",
                    "emotion": emo,
                    "path": str(p),
                    "duration_s": len(y) / SR,
                    "sample_rate": SR,
                    "seg_start": s,
                    "seg_end": s + len(parts[1]) / SR,
                }
            )
    df = pd.DataFrame(rows)
    write_manifest(df, root / "zed" / "manifest.csv")
    df[["utt_id", "emotion", "seg_start", "seg_end", "duration_s", "path"]].to_csv(root / "subset.csv", index=False)
    return root / "zed" / "manifest.csv", root / "subset.csv", df


def test_speechbrain_backend_loads_local_checkpoint_offline(tmp_path, tiny_wavlm, no_hub):
    ckpt = write_sb_checkpoint(tmp_path / "ckpt", tiny_wavlm)
    assert {"hyperparams.yaml", "input_norm.ckpt", "label_encoder.txt", "model.ckpt", "wav2vec2.ckpt"} <= set(
        os.listdir(ckpt)
    )
    assert "'a' => 0\n'n' => 1\n'h' => 2\n's' => 3" in (ckpt / "label_encoder.txt").read_text()
    from xlser.sed.backends import SpeechBrainDiarizer

    model = SpeechBrainDiarizer(str(ckpt), tmp_path / "save", "cpu")
    assert (model.window, model.stride) == (0.02, 0.02)
    head = model.model.mods.output_mlp.w
    assert head.bias is None and tuple(head.weight.shape) == (4, 32)  # bias-free encoder_dim -> 4
    rng = np.random.default_rng(0)
    wav = rng.standard_normal(SR * 2).astype(np.float32) * 0.1
    frames = model.frames(wav)
    # 2 s: the recipe's 100 reference frames, the encoder's 99 (400-sample receptive field); padded later
    assert len(frames) == 99 == n_reference_frames(2.0) - 1
    assert set(frames) <= set(LABELS)
    # the same frames as speechbrain's own diarize_batch, which merges them into segments
    segs = model.model.diarize_batch(torch.from_numpy(wav)[None], torch.tensor([1.0]), ["u"])["u"]
    rebuilt = "".join(s["emotion"] * round((s["end"] - s["start"]) / 0.02) for s in segs)
    assert rebuilt == "".join(frames)


def test_speechbrain_backend_through_diarize(tmp_path, tiny_wavlm, no_hub):
    ckpt = write_sb_checkpoint(tmp_path / "ckpt", tiny_wavlm)
    manifest, subset, df = write_zed(tmp_path, 1, np.random.default_rng(1))
    out = tmp_path / "sed" / "SB" / "frames.json"
    diarize(
        subset,
        manifest,
        out,
        "SB",
        {"backend": "speechbrain", "source": str(ckpt)},
        0.02,
        0.02,
        ["angry", "happy", "sad"],
        None,
        "cpu",
        0,
    )
    doc = json.loads(out.read_text())
    assert doc["model"] == "SB" and doc["window"] == 0.02 and doc["decode"] == "argmax"
    for r in df.itertuples():
        n = len(doc["utterances"][r.utt_id]["frames"])
        assert n_reference_frames(r.duration_s) - 1 <= n <= n_reference_frames(r.duration_s)


def test_single_segment_decoding():
    p = np.tile([0.7, 0.1, 0.1, 0.1], (20, 1))
    p[8:13] = [0.2, 0.1, 0.6, 0.1]  # 5 frames of class 2
    p[3] = [0.3, 0.6, 0.05, 0.05]  # an isolated blip of class 1, weaker than the run
    assert "".join(map(str, single_segment(p))) == "0" * 8 + "2" * 5 + "0" * 7
    assert single_segment(p, min_frames=6).max() == 0  # too short: no segment
    assert single_segment(np.tile([0.6, 0.2, 0.1, 0.1], (10, 1))).max() == 0  # no evidence: all neutral


def test_context_features_are_local_mean_and_std():
    x = np.arange(20, dtype=np.float32)[:, None]
    f = context_features(x, [5])
    assert f.shape == (20, 3)
    assert f[10, 1] == pytest.approx(10.0) and f[10, 2] == pytest.approx(np.std([8, 9, 10, 11, 12]), rel=1e-4)


def test_probe_backend_beats_all_neutral(tmp_path, tiny_wavlm):
    rng = np.random.default_rng(0)
    train = [write_corpus(tmp_path, "C1", 8, rng)]
    manifest, subset, df = write_zed(tmp_path, 2, rng)
    out = tmp_path / "frames.json"
    spec = {
        "backend": "probe",
        "source": str(tiny_wavlm),
        "layer": 1,
        "train_corpora": ["C1"],
        "context_s": [0.1, 0.3],
        "max_per_emotion": 100,
        "min_segment_s": 0.1,
        "gap_s": 0.3,
        "repeats": 1,
    }
    probe = Optim(lr=1e-2, eps=1e-8, weight_decay=1e-5, batch_size=32, max_epochs=40, patience=5, seed=0)
    doc = diarize(subset, manifest, out, "P", spec, 0.02, 0.02, ["angry", "happy", "sad"], probe, "cpu", 0, train)
    assert doc["decode"] == "single_segment" and set(doc["labels"]) == {"n", "a", "h", "s"}
    model, neutral = [], []
    for r in df.itertuples():
        frames = doc["utterances"][r.utt_id]["frames"]
        assert len(frames) == n_reference_frames(r.duration_s) - 1
        model.append(utterance_eder(list(frames), r.duration_s, r.emotion, r.seg_start, r.seg_end))
        neutral.append(utterance_eder(["n"] * len(frames), r.duration_s, r.emotion, r.seg_start, r.seg_end))
    assert np.mean(model) < 0.5 * np.mean(neutral), (model, neutral)
