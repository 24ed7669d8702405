"""Frame-level emotion predictions for the SED subset: two backends behind one function.

* `speechbrain`: the study's model through speechbrain's own interface,
  `Speech_Emotion_Diarization.from_hparams(source, savedir)` (hub id or local folder). Frames
  are computed exactly as its `diarize_batch` does (input norm -> encoder -> average pool
  -> linear -> log-softmax -> argmax -> label encoder), stopping before it merges frames into
  segments, because EDER is computed on frames. Audio is read with soundfile at 16 kHz.
* `probe`: any SSL encoder (`xlser.models.loading.load_encoder`) plus a frame-level linear head
  trained here on neutral-emotional-neutral concatenations of utterances of the
  `train_corpora` (the ZED recipe's training data, built the same way, in audio space),
  frozen hidden state `layer`, frames of 0.02 s. Decoding takes ZED's design at its word (one
  emotional event per utterance): the single contiguous segment that maximises the summed
  log-odds emotional-vs-neutral (maximum-sum subarray), labelled with the emotion of highest
  mean posterior over it; no segment if no stretch has positive evidence. This is the
  maximum-likelihood single segment under the frame posteriors, and it removes the flicker
  that raw argmax frames show.

Output (`frames.json`): `{model, backend, source, window, stride, labels: {letter: emotion},
decode, utterances: {utt_id: {frames: "nnnaaa...", duration_s}}}`; frames are one letter
per frame (speechbrain's labels), frame i covering [i*stride, i*stride + window].
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from xlser.config import Optim
from xlser.data.audio import load_audio
from xlser.data.manifest import read_manifest
from xlser.device import resolve_device, torch_threads
from xlser.errors import InputError
from xlser.io import write_json
from xlser.sed.eder import NEUTRAL, letter, letter_map
from xlser.sed.subset import read_subset

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


# ---- speechbrain backend


class SpeechBrainDiarizer:
    """speechbrain's `Speech_Emotion_Diarization` (e.g. `speechbrain/emotion-diarization-wavlm-large`)."""

    def __init__(self, source: str, savedir: str | Path, device: torch.device | str = "cpu") -> None:
        from speechbrain.inference.diarization import Speech_Emotion_Diarization

        from xlser.models.loading import check_weight_files

        if Path(source).is_dir():  # a git-lfs pointer or a cut-off .ckpt: named before speechbrain reads it
            check_weight_files(source)
        try:
            self.model = Speech_Emotion_Diarization.from_hparams(
                source=str(source), savedir=str(savedir), run_opts={"device": str(device)}
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise RuntimeError(
                f"cannot load speechbrain SED model '{source}': {type(exc).__name__}: {exc}. "
                "Give a hub id reachable from here (or in the HF cache) or a local folder "
                "holding hyperparams.yaml and its checkpoints."
            ) from None
        hp = self.model.hparams
        self.window = 0.02 * float(getattr(hp, "window_length", 1))
        self.stride = 0.02 * float(getattr(hp, "stride", 1))

    @torch.no_grad()
    def frames(self, wav: np.ndarray) -> list[str]:
        """Frame labels (letters) of one 16 kHz mono waveform."""
        m = self.model
        batch = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)).unsqueeze(0)
        out = m.encode_batch(batch, torch.tensor([1.0]))
        out = m.hparams.avg_pool(out)
        out = m.hparams.log_softmax(m.mods.output_mlp(out))
        index = out.argmax(dim=-1)[0]
        return [str(x) for x in m.hparams.label_encoder.decode_torch(index)]


# ---- probe backend


class FrameEncoder:
    """Frozen SSL encoder -> hidden state `layer` per frame, standardised per utterance.

    Per-utterance standardisation (over time, per dimension) plays the part of speechbrain's
    sentence input normalisation: it removes speaker and channel offsets.
    """

    def __init__(self, source: str, layer: int, device: torch.device) -> None:
        from xlser.models.loading import load_encoder, load_feature_extractor

        self.model = load_encoder(source, device)
        self.fe = load_feature_extractor(source)
        self.device = device
        n_layers = int(self.model.config.num_hidden_layers)
        if not 0 <= layer <= n_layers:
            raise ValueError(f"sed model layer {layer} out of range: '{source}' has hidden states 0..{n_layers}")
        self.layer = layer

    @torch.no_grad()
    def __call__(self, wav: np.ndarray) -> np.ndarray:
        return self.batch([wav])[0]

    @torch.no_grad()
    def batch(self, wavs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(T_i, D) standardised frames of each waveform, from one exact batched pass (`xlser.models.encoder`)."""
        from xlser.models import encoder

        values, lengths = encoder.prepare(self.fe, wavs)
        values, lengths = values.to(self.device), lengths.to(self.device)
        hs = encoder.forward(self.model, values, lengths, all_layers=True)[self.layer].float().cpu().numpy()
        frames = encoder.frame_lengths(self.model, lengths).cpu().tolist()
        return [standardise(h[:n]) for h, n in zip(hs, frames)]


def standardise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over time for each dimension (a (T, D) array)."""
    return (x - x.mean(axis=0, keepdims=True)) / (x.std(axis=0, keepdims=True) + 1e-5)


def context_features(x: np.ndarray, windows: Sequence[int]) -> np.ndarray:
    """(T, D) -> (T, D * (1 + 2 * len(windows))): each frame, then the mean and std of the
    frames around it over each window (in frames). A linear head on these still decides
    frame by frame, but sees the prosodic context (pitch and energy movement) an emotion lives in."""
    from scipy.ndimage import uniform_filter1d

    out = [x]
    for w in windows:
        if w <= 1:
            continue
        m = uniform_filter1d(x, size=int(w), axis=0, mode="reflect")
        sq = uniform_filter1d(x * x, size=int(w), axis=0, mode="reflect")
        out += [m, np.sqrt(np.maximum(sq - m * m, 0.0))]
    return np.concatenate(out, axis=1).astype(np.float32)


def single_segment(probs: np.ndarray, neutral: int = 0, min_frames: int = 1) -> np.ndarray:
    """Decode (T, C) frame posteriors into class ids with at most one emotional segment.

    Labelling frame t with emotion c instead of neutral changes the expected number of
    correctly labelled frames (what EDER counts) by p_t(c) - p_t(neutral). For each emotion
    the best contiguous run of that gain is found with Kadane's maximum-sum subarray; the best
    over emotions is kept if its gain is positive and it spans at least `min_frames`. With
    calibrated posteriors this is the EDER-optimal single segment (ZED has one per utterance).
    """
    best = (0.0, 0, 0, neutral)
    for c in range(probs.shape[1]):
        if c == neutral:
            continue
        gain = probs[:, c] - probs[:, neutral]
        run, lo = 0.0, 0
        for t, g in enumerate(gain):
            if run <= 0:
                run, lo = 0.0, t
            run += float(g)
            if run > best[0]:
                best = (run, lo, t + 1, c)
    out = np.full(len(probs), neutral, dtype=int)
    if best[0] > 0 and best[2] - best[1] >= min_frames:
        out[best[1] : best[2]] = best[3]
    return out


def _concat_plan(
    df: pd.DataFrame, sed_emotions: Sequence[str], max_per_emotion: int, rng: np.random.Generator, repeats: int = 1
) -> list[tuple[str, str, str, str]]:
    """(neutral, emotional, neutral, emotion) path triples, neutral parts from the same corpus
    and, where possible, the same speaker (as ZED's utterances are one speaker each)."""
    plan = []
    for corpus, cdf in df.groupby("corpus", sort=True):
        neutral = cdf[cdf["emotion"] == "neutral"]
        if len(neutral) == 0:
            log.warning("%s: no neutral utterances, skipped for SED training", corpus)
            continue
        for emo in sed_emotions:
            pool = cdf[cdf["emotion"] == emo].sort_values("utt_id")
            if len(pool) > max_per_emotion:
                pool = pool.iloc[np.sort(rng.choice(len(pool), max_per_emotion, replace=False))]
            for r in pool.itertuples():
                same = neutral[neutral["speaker"] == r.speaker]
                src = same if len(same) >= 2 else neutral
                for _ in range(repeats):  # each emotional utterance in `repeats` neutral contexts
                    a, b = rng.choice(len(src), 2, replace=len(src) < 2)
                    plan.append((src.iloc[a]["path"], r.path, src.iloc[b]["path"], emo))
    return plan


def _concat_example(
    encoder: FrameEncoder,
    paths: tuple[str, str, str],
    gap_s: float,
    stride: float,
    rng: np.random.Generator,
    label: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Features and frame labels of one neutral-emotional-neutral concatenation (audio space)."""
    parts = [load_audio(p, SAMPLE_RATE)[0] for p in paths]
    gaps = [np.zeros(int(rng.uniform(0, gap_s) * SAMPLE_RATE), np.float32) for _ in range(2)]
    wav = np.concatenate([parts[0], gaps[0], parts[1], gaps[1], parts[2]])
    start = (len(parts[0]) + len(gaps[0])) / SAMPLE_RATE
    end = start + len(parts[1]) / SAMPLE_RATE
    x = encoder(wav)
    centres = (np.arange(len(x)) + 0.5) * stride
    y = np.where((centres >= start) & (centres < end), label, 0)
    return x, y


def _fit_frame_head(
    xt: torch.Tensor,
    yt: torch.Tensor,
    xv: torch.Tensor,
    yv: torch.Tensor,
    n_classes: int,
    probe: Optim,
    device: torch.device,
) -> tuple[torch.nn.Linear, float, int]:
    """A linear frame head trained with AdamW on standardised frames (unweighted cross-entropy),
    early-stopped on validation loss; returns the head at its best validation loss, that loss
    and the epochs run."""
    head = torch.nn.Linear(xt.shape[1], n_classes).to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=probe.lr, eps=probe.eps, weight_decay=probe.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    # a probe batch of `batch_size` utterances holds about batch_size * 250 frames (5 s each)
    batch = max(256, probe.batch_size * 250)
    max_epochs, patience = probe.max_epochs, probe.patience
    best, best_state, bad, epoch = float("inf"), None, 0, 0
    for epoch in range(1, max_epochs + 1):  # noqa: B007 (read after the loop: epochs run)
        head.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(head(xt[idx].to(device)), yt[idx].to(device))
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            vloss = float(loss_fn(head(xv), yv))
        if vloss < best - 1e-4:
            best, bad = vloss, 0
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    head.load_state_dict(best_state)
    return head, best, epoch


class ProbeDiarizer:
    """SSL encoder + frame-level linear head trained on concatenated utterances.

    The head is trained with plain (unweighted) cross-entropy so that its posteriors keep the
    neutral/emotional proportions of ZED-like data, which `single_segment` relies on.
    """

    def __init__(
        self,
        source: str,
        layer: int,
        train_manifests: Sequence[str | Path],
        sed_emotions: Sequence[str],
        probe: Optim,
        device: torch.device,
        seed: int = 0,
        stride: float = 0.02,
        max_per_emotion: int = 100,
        min_segment_s: float = 0.1,
        gap_s: float = 0.3,
        context_s: Sequence[float] = (0.5, 1.0, 2.0, 3.0),
        repeats: int = 1,
    ) -> None:
        self.classes = [NEUTRAL] + [letter(e) for e in sed_emotions]
        self.encoder = FrameEncoder(source, layer, device)
        self.stride = stride
        self.windows = [max(1, round(c / stride)) | 1 for c in context_s]  # odd: centred windows
        self.min_frames = max(1, round(min_segment_s / stride))
        self.device = device
        self.repeats = repeats
        self._train(train_manifests, sed_emotions, probe, seed, max_per_emotion, gap_s)

    def features(self, wav: np.ndarray) -> np.ndarray:
        return context_features(self.encoder(wav), self.windows)

    def _train(
        self,
        manifests: Sequence[str | Path],
        sed_emotions: Sequence[str],
        probe: Optim,
        seed: int,
        max_per_emotion: int,
        gap_s: float,
    ) -> None:
        if not manifests:
            raise ValueError("the probe SED backend needs train_corpora (emotion corpora with neutral speech)")
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        data = self._examples(manifests, sed_emotions, max_per_emotion, gap_s, rng)
        order = rng.permutation(len(data))
        n_val = max(1, len(data) // 10)
        val = [data[i] for i in order[:n_val]]
        train = [data[i] for i in order[n_val:]]
        xt = torch.from_numpy(np.concatenate([x for x, _ in train])).float()
        yt = torch.from_numpy(np.concatenate([y for _, y in train])).long()
        self.mu, self.sd = xt.mean(0), xt.std(0) + 1e-5
        xt = (xt - self.mu) / self.sd
        xv = ((torch.from_numpy(np.concatenate([x for x, _ in val])).float() - self.mu) / self.sd).to(self.device)
        yv = torch.from_numpy(np.concatenate([y for _, y in val])).long().to(self.device)
        t0 = time.time()
        head, best, epoch = _fit_frame_head(xt, yt, xv, yv, len(self.classes), probe, self.device)
        self.head = head.eval()
        with torch.no_grad():
            acc = float((head(xv).argmax(1) == yv).float().mean())
        self.train_info = {
            "examples": len(data),
            "frames": len(xt),
            "epochs": epoch,
            "val_loss": best,
            "val_frame_acc": acc,
        }
        log.info(
            "SED probe: %d examples (%d frames), %d epochs in %.1f s, val loss %.3f, val frame acc %.3f",
            len(data),
            len(xt),
            epoch,
            time.time() - t0,
            best,
            acc,
        )

    def _examples(
        self,
        manifests: Sequence[str | Path],
        sed_emotions: Sequence[str],
        max_per_emotion: int,
        gap_s: float,
        rng: np.random.Generator,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Context features and frame labels of every neutral-emotional-neutral concatenation
        the train corpora give (`_concat_plan`)."""
        df = pd.concat([read_manifest(m) for m in manifests], ignore_index=True)
        plan = _concat_plan(df, sed_emotions, max_per_emotion, rng, self.repeats)
        if len(plan) < 4:
            raise InputError(
                manifests[0],
                f"only {len(plan)} neutral-emotional-neutral examples could be built "
                f"from the train_corpora for {list(sed_emotions)}",
            )
        data = []
        for n1, e, n2, emo in tqdm(plan, desc="SED probe: features", mininterval=5.0):
            x, y = _concat_example(self.encoder, (n1, e, n2), gap_s, self.stride, rng, self.classes.index(letter(emo)))
            data.append((context_features(x, self.windows), y))
        return data

    @torch.no_grad()
    def probs(self, wav: np.ndarray) -> np.ndarray:
        """(T, C) frame posteriors, classes in `self.classes` order (neutral first)."""
        x = (torch.from_numpy(self.features(wav)).float() - self.mu) / self.sd
        return torch.softmax(self.head(x.to(self.device)), dim=-1).cpu().numpy()

    def frames(self, wav: np.ndarray) -> list[str]:
        ids = single_segment(self.probs(wav), neutral=0, min_frames=self.min_frames)
        return [self.classes[i] for i in ids]


# ---- the rule


def _speechbrain_model(
    spec: dict[str, Any], window: float, stride: float, save: Path, dev: torch.device
) -> tuple[SpeechBrainDiarizer, float, float]:
    """The pretrained diarizer and its own frame window and stride, which win over the
    config's (a mismatch is logged)."""
    model = SpeechBrainDiarizer(spec["source"], save, dev)
    if abs(model.window - window) > 1e-9 or abs(model.stride - stride) > 1e-9:
        log.warning(
            "model frames are %.3f/%.3f s, config says %.3f/%.3f s: the model's are used",
            model.window,
            model.stride,
            window,
            stride,
        )
    return model, model.window, model.stride


def _probe_model(
    name: str,
    spec: dict[str, Any],
    stride: float,
    sed_emotions: Sequence[str],
    probe: Optim | None,
    dev: torch.device,
    seed: int,
    train_manifests: Sequence[str | Path],
    threads: int,
) -> ProbeDiarizer:
    """The probe diarizer, trained here on the train corpora's concatenations. `probe` is the
    frame head's Optim: `probe:`'s settings with the model spec's own `lr` and `max_epochs` (it
    sees ~100x more samples per epoch than an utterance probe)."""
    if probe is None:
        raise ValueError(f"SED model {name}: the probe backend needs the frame head's optimiser settings")
    with torch_threads(threads):
        return ProbeDiarizer(
            spec["source"],
            int(spec["layer"]),
            list(train_manifests),
            list(sed_emotions),
            probe,
            dev,
            seed,
            stride,
            int(spec["max_per_emotion"]),
            float(spec["min_segment_s"]),
            float(spec["gap_s"]),
            [float(c) for c in spec["context_s"]],
            int(spec["repeats"]),
        )


def diarize(
    subset_csv: str | Path,
    manifest_csv: str | Path,
    out_json: str | Path,
    name: str,
    spec: dict[str, Any],
    window: float,
    stride: float,
    sed_emotions: Sequence[str],
    probe: Optim | None,
    device: str = "auto",
    seed: int = 0,
    train_manifests: Sequence[str | Path] = (),
    savedir: str | Path | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Frame labels for every subset utterance -> `frames.json` (written atomically).
    Training and inference compute with `threads` torch threads: on CPU the config's
    `torch_threads`, not the job's cores, so the frames do not depend on `--cores`; on CUDA all
    the CPUs the job holds (xlser.device.compute_threads)."""
    labels = letter_map(sed_emotions)
    dev = resolve_device(device)
    subset = read_subset(subset_csv)
    paths = dict(zip(*read_manifest(manifest_csv)[["utt_id", "path"]].T.values))
    missing = [u for u in subset["utt_id"] if u not in paths]
    if missing:
        raise InputError(subset_csv, f"utterances not in {manifest_csv}: {missing[:5]}")
    backend = spec["backend"]
    model: Any
    if backend == "speechbrain":
        save = Path(savedir) if savedir else Path(out_json).parent / "pretrained"
        model, window, stride = _speechbrain_model(spec, window, stride, save, dev)
        decode = "argmax"
    elif backend == "probe":
        model = _probe_model(name, spec, stride, sed_emotions, probe, dev, seed, train_manifests, threads)
        decode = "single_segment"
    else:
        raise ValueError(f"unknown SED backend '{backend}': expected speechbrain or probe")
    utts = {}
    for r in tqdm(list(subset.itertuples()), desc=f"diarize {name}", mininterval=5.0):
        wav, _ = load_audio(paths[r.utt_id], SAMPLE_RATE)
        with torch_threads(threads):
            frames = "".join(model.frames(wav))
        utts[r.utt_id] = {"frames": frames, "duration_s": float(r.duration_s)}
    doc = {
        "model": name,
        "backend": backend,
        "source": str(spec["source"]),
        "window": window,
        "stride": stride,
        "labels": labels,
        "decode": decode,
        "utterances": utts,
    }
    write_json(doc, out_json)
    log.info("%s: frames for %d utterances -> %s", name, len(utts), out_json)
    return doc
