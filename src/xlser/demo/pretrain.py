"""Pre-training of the demo encoders on their own language: CTC on eSpeak NG's phonemes.

The study's premise is that each encoder was pre-trained on one language. The demo's tiny
wav2vec2 models get the same in miniature: each learns to transcribe, into phonemes, neutral
synthetic speech of its language (eSpeak NG, voice variants as speakers), on held-apart
sentences that are not the emotion corpora's (`sentences.PRETRAIN_SENTENCES`). Every model
shares one output vocabulary (the IPA symbols of all pre-training languages), so a model can
be scored on any language: its CTC loss and phone error rate on each language's held-out
sentences, spoken by held-out voices, measure how language-specific it became.

Synthesis runs in a fresh interpreter (eSpeak NG's output depends on what it said before in
the same process), so a data set is a function of its arguments. Training is seeded and runs
on CPU in well under a minute for the demo's sizes, with `THREADS` torch threads whatever the
job holds: a CPU reduction split over another number of threads sums in another order, and
over the training steps that gave other checkpoints (and Table I) on another core count.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xlser.demo.sentences import PRETRAIN_SENTENCES, pretrain_sentences

if TYPE_CHECKING:  # torch and transformers stay out of the synthesis subprocess
    import torch

log = logging.getLogger(__name__)

BLANK, UNK, WORD = "<pad>", "<unk>", "|"
#: stress marks carry no segment of their own: dropped from the phoneme strings
DROPPED = {"ˈ", "ˌ"}
INFO_FILE = "pretraining.json"  # in the model folder: language, voices and sentences it trained on
THREADS = 1  # torch threads of pre-training and scoring: checkpoints must not depend on the cores


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: str
    phonemes: str  # IPA, stress marks dropped, words separated by '|'
    wav: np.ndarray  # float32, 16 kHz


# ---- phonemes and vocabulary


def phonemize(engine: Any, text: str, lang: str) -> str:
    """eSpeak NG's IPA phonemes of `text` in language `lang`, words separated by '|'."""
    lib = engine.lib
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    engine.check_voice(lang)
    with engine._lock:
        if lib.espeak_SetVoiceByName(lang.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice '{lang}'")
        buf = ctypes.create_string_buffer(text.encode("utf-8") + b"\0")
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        parts = []
        while ptr.value:  # one clause per call; the pointer advances, NULL at the end
            out = lib.espeak_TextToPhonemes(ctypes.byref(ptr), 1, 0x02)  # UTF-8 text, IPA output
            parts.append((out or b"").decode("utf-8"))
    words = " ".join(parts).split()
    return WORD.join("".join(c for c in w if c not in DROPPED) for w in words)


def vocabulary(phoneme_strings: Sequence[str]) -> list[str]:
    """Blank (id 0), unknown, word separator, then every IPA symbol seen, sorted."""
    symbols = sorted({c for s in phoneme_strings for c in s} - {WORD})
    return [BLANK, UNK, WORD, *symbols]


def encode(phonemes: str, vocab: Sequence[str]) -> list[int]:
    ids = {s: i for i, s in enumerate(vocab)}
    return [ids.get(c, 1) for c in phonemes]


# ---- synthesis (in a fresh interpreter)


def _synth(langs: list[str], sets: list[list[Any]], seed: int, out: str) -> None:
    from xlser.data.audio import resample
    from xlser.demo.espeak import ESpeak

    engine = ESpeak.get()
    # phonemes first, for every pre-training language in a fixed order: the shared vocabulary
    all_ph = [phonemize(engine, t, lang) for lang in langs for t in PRETRAIN_SENTENCES[lang]]
    rng = np.random.default_rng(seed)
    wavs, meta = [], []
    for lang, texts, voices in sets:
        for text in texts:
            ph = phonemize(engine, text, lang)
            for v in voices:
                voice = f"{lang}+{v}" if v else lang
                wav = resample(engine.synth(text, voice), engine.sample_rate, 16000)
                wav = np.clip(wav + rng.normal(0, 0.003, size=wav.shape), -1, 1).astype(np.float32)
                wavs.append(wav)
                meta.append({"text": text, "voice": voice, "phonemes": ph, "lang": lang})
    np.savez(
        out,
        audio=np.concatenate(wavs),
        lengths=np.array([len(w) for w in wavs]),
        meta=json.dumps({"items": meta, "vocab": vocabulary(all_ph)}),
    )


def synthesize(
    sets: list[tuple[str, Sequence[str], Sequence[str]]], seed: int = 0
) -> tuple[list[list[Utterance]], list[str]]:
    """Neutral speech for each (language, sentences, voice variants) set, and the shared
    vocabulary of all pre-training languages. Each sentence is spoken by each variant."""
    langs = sorted(PRETRAIN_SENTENCES)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.npz")
        args = json.dumps([langs, [[lang, list(t), list(v)] for lang, t, v in sets], int(seed), out])
        proc = subprocess.run([sys.executable, "-m", "xlser.demo.pretrain", args])
        if proc.returncode != 0:
            raise RuntimeError(f"synthesis of demo pre-training speech failed (exit {proc.returncode}); see the log")
        with np.load(out) as z:
            audio, lengths, meta = z["audio"], z["lengths"], json.loads(str(z["meta"]))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    utts = [
        Utterance(m["text"], m["voice"], m["phonemes"], audio[bounds[i] : bounds[i + 1]])
        for i, m in enumerate(meta["items"])
    ]
    result, k = [], 0
    for _, texts, voices in sets:
        n = len(texts) * len(voices)
        result.append(utts[k : k + n])
        k += n
    return result, meta["vocab"]


# ---- model, training, scoring


def ctc_model(spec: dict[str, Any], vocab: Sequence[str]) -> torch.nn.Module:
    """A tiny `Wav2Vec2ForCTC` (or `WavLMForCTC`) of the demo spec, CNN started as a filterbank."""
    import torch
    from transformers import Wav2Vec2ForCTC, WavLMForCTC

    from xlser.demo.models import filterbank, tiny_config

    torch.manual_seed(int(spec["seed"]))
    cfg = tiny_config(spec)
    cfg.vocab_size, cfg.pad_token_id = len(vocab), 0
    cfg.ctc_loss_reduction, cfg.ctc_zero_infinity = "mean", True
    cls = WavLMForCTC if spec["type"] == "wavlm" else Wav2Vec2ForCTC
    model = cls(cfg)
    conv0 = model.base_model.feature_extractor.conv_layers[0].conv
    with torch.no_grad():
        conv0.weight.copy_(filterbank(conv0.out_channels, conv0.kernel_size[0]))
    return model


def _normalize(wav: np.ndarray) -> np.ndarray:
    """As the feature extractor's `do_normalize`: zero mean, unit variance per utterance."""
    return ((wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)).astype(np.float32)


def _batch(utts: Sequence[Utterance], vocab: Sequence[str]) -> dict[str, torch.Tensor]:
    import torch

    n = max(len(u.wav) for u in utts)
    x = torch.zeros(len(utts), n)
    mask = torch.zeros(len(utts), n, dtype=torch.long)
    labels = [encode(u.phonemes, vocab) for u in utts]
    m = max(len(lab) for lab in labels)
    y = torch.full((len(utts), m), -100, dtype=torch.long)
    for i, (u, lab) in enumerate(zip(utts, labels)):
        x[i, : len(u.wav)] = torch.from_numpy(_normalize(u.wav))
        mask[i, : len(u.wav)] = 1
        y[i, : len(lab)] = torch.tensor(lab)
    return {"input_values": x, "attention_mask": mask, "labels": y}


def train_ctc(
    model: torch.nn.Module,
    utts: Sequence[Utterance],
    vocab: Sequence[str],
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
) -> list[float]:
    """`steps` AdamW updates on seeded random batches (warm-up, then linear decay); the loss curve."""
    import torch

    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.05, (steps - s) / max(1, steps - warm))
    )
    model.train()
    curve = []
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            order += list(rng.permutation(len(utts)))
        idx, order = order[:batch_size], order[batch_size:]
        loss = model(**_batch([utts[i] for i in idx], vocab)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
    return curve


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def score(model: torch.nn.Module, utts: Sequence[Utterance], vocab: Sequence[str]) -> dict[str, float]:
    """Mean CTC loss per utterance and phone error rate (greedy decoding; word separators are
    symbols too) of `model` on `utts`, each utterance alone (no padding)."""
    import torch

    model.eval()
    losses, errors, total = [], 0, 0
    for u in utts:
        with torch.inference_mode():
            out = model(**_batch([u], vocab))
        losses.append(float(out.loss))
        best = out.logits[0].argmax(-1).tolist()
        hyp = [t for k, t in enumerate(best) if t != 0 and (k == 0 or t != best[k - 1])]
        ref = encode(u.phonemes, vocab)
        errors += edit_distance(hyp, ref)
        total += len(ref)
    return {"ctc_loss": float(np.mean(losses)), "per": errors / max(1, total), "n_utterances": len(utts)}


def save_checkpoint(model: torch.nn.Module, vocab: Sequence[str], info: dict[str, Any], out_dir: str | Path) -> Path:
    """`save_pretrained` of the ForCTC model, its feature extractor, CTC tokenizer and what it
    trained on (`pretraining.json`), written to a temporary sibling renamed at the end."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.eval().save_pretrained(tmp)
        Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=16000,
            padding_value=0.0,
            do_normalize=True,
            return_attention_mask=model.config.feat_extract_norm == "layer",
        ).save_pretrained(tmp)
        (tmp / "vocab.json").write_text(
            json.dumps({s: i for i, s in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8"
        )
        Wav2Vec2CTCTokenizer(
            str(tmp / "vocab.json"), unk_token=UNK, pad_token=BLANK, word_delimiter_token=WORD
        ).save_pretrained(tmp)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1, ensure_ascii=False), encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def pretrain_demo_model(
    out_dir: str | Path,
    spec: dict[str, Any],
    steps: int,
    batch_size: int,
    lr: float,
    voices: Sequence[str],
    curve_csv: str | Path | None = None,
) -> dict[str, Any]:
    """Pre-train the demo model `spec` (its `voice`: the eSpeak language) with CTC on its
    language's training sentences spoken by `voices`; save the checkpoint; the loss curve
    goes to `curve_csv` (step, loss)."""
    from xlser.io import write_csv

    lang = spec["voice"]
    train, _ = pretrain_sentences(lang)
    t0 = time.perf_counter()
    (utts,), vocab = synthesize([(lang, train, voices)], seed=int(spec["seed"]))
    t_synth = time.perf_counter() - t0
    from xlser.device import torch_threads

    with torch_threads(THREADS):
        model = ctc_model(spec, vocab)
        curve = train_ctc(model, utts, vocab, steps, batch_size, lr, seed=int(spec["seed"]))
    t_train = time.perf_counter() - t0 - t_synth
    info = {
        "lang": lang,
        "voices": list(voices),
        "sentences": list(train),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seconds_audio": round(sum(len(u.wav) for u in utts) / 16000, 1),
    }
    save_checkpoint(model, vocab, info, out_dir)
    log.info(
        "%s: %d utterances (%.0f s of speech, synthesised in %.1f s); %d CTC steps in %.1f s: loss %.2f -> %.2f "
        "(mean of the last 10 steps)",
        lang,
        len(utts),
        info["seconds_audio"],
        t_synth,
        steps,
        t_train,
        np.mean(curve[:10]),
        np.mean(curve[-10:]),
    )
    if curve_csv is not None:
        import pandas as pd

        write_csv(pd.DataFrame({"step": np.arange(1, len(curve) + 1), "loss": np.round(curve, 5)}), curve_csv)
    return {"curve": curve, "synth_s": t_synth, "train_s": t_train}


def heldout_table(model_dirs: dict[str, str | Path], voices: Sequence[str], seed: int = 0) -> Any:
    """Each pre-trained model scored on each of their languages' held-out sentences, spoken by
    `voices`: one row per (model, test language) with CTC loss and phone error rate.

    A held-out sentence that a model trained on is an error: the measure would not be held out.
    """
    import pandas as pd
    from transformers import AutoModelForCTC

    from xlser.device import torch_threads

    info = {}
    for name, d in model_dirs.items():
        path = Path(d) / INFO_FILE
        if not path.is_file():
            raise ValueError(f"{d}: no {INFO_FILE}; not a pre-trained demo model")
        info[name] = json.loads(path.read_text(encoding="utf-8"))
    langs = sorted({i["lang"] for i in info.values()})
    held = {lang: pretrain_sentences(lang)[1] for lang in langs}
    for name, i in info.items():
        seen = set(i["sentences"]) & {s for h in held.values() for s in h}
        if seen:
            raise ValueError(
                f"{model_dirs[name]}/{INFO_FILE}: model {name} trained on held-out sentences {sorted(seen)}"
            )
    sets, vocab = synthesize([(lang, held[lang], voices) for lang in langs], seed=seed)
    rows = []
    for name, d in model_dirs.items():
        saved = json.loads((Path(d) / "vocab.json").read_text(encoding="utf-8"))
        if [s for s, _ in sorted(saved.items(), key=lambda kv: kv[1])] != list(vocab):
            raise ValueError(f"{d}/vocab.json: not the demo's shared phoneme vocabulary")
        model = AutoModelForCTC.from_pretrained(d)
        for lang, utts in zip(langs, sets):
            with torch_threads(THREADS):
                scores = score(model, utts, vocab)
            rows.append(
                {"model": name, "model_lang": info[name]["lang"], "test_lang": lang, "own": lang == info[name]["lang"]}
                | scores
            )
    return pd.DataFrame(rows)


def plot_pretraining(curves: dict[str, Any], table: Any, out: str | Path) -> None:
    """Loss curves (left) and held-out CTC loss of each model on each language (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xlser.io import atomic_path

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, df in curves.items():
        a.plot(df["step"], df["loss"], label=name, lw=1)
    a.set(xlabel="training step", ylabel="CTC loss (training batch)", title="pre-training on own language")
    a.legend()
    m = table.pivot(index="model", columns="test_lang", values="ctc_loss")
    im = b.imshow(m.values, cmap="viridis_r")
    b.set_xticks(range(m.shape[1]), m.columns)
    b.set_yticks(range(m.shape[0]), m.index)
    for (r, c), v in np.ndenumerate(m.values):
        b.text(c, r, f"{v:.2f}", ha="center", va="center", color="k" if v < np.nanmean(m.values) else "w")
    b.set(xlabel="held-out sentences (language)", title="held-out CTC loss (lower: knows the language)")
    fig.colorbar(im, ax=b)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=Path(out).suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    _synth(*json.loads(sys.argv[1]))
