"""Bad data never reaches a table silently (issue 23): non-finite audio and features, cut-off
label lines, missing emotions, WAVs cut inside their header, malformed ZED events, clips
shorter than the encoder's receptive field, failed writes; every error names the file (line,
entry) and the corpus and config key to change. Each case on a fixture tree in the real layout."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from fixtures_corpora import esd_tree, iemocap_tree, tone, zed_tree
from xlser.data.corpora import scan_corpus
from xlser.data.resample import resample_corpus
from xlser.data.splits import listening_subset, make_splits
from xlser.errors import InputError, require_finite
from xlser.io import write_csv

EMO = ["angry", "happy", "neutral", "sad"]
ESD = {"format": "esd", "lang": "CN"}


def _esd(tmp_path, speakers=("0001",), per_emotion=2):
    root = esd_tree(tmp_path / "ESD", speakers=speakers, per_emotion=per_emotion)
    return root, {**ESD, "root": str(root)}


def _scan_and_resample(tmp_path, name, cfg):
    raw = scan_corpus(name, cfg, EMO)
    write_csv(raw, tmp_path / "raw.csv")
    return resample_corpus(tmp_path / "raw.csv", tmp_path / "out" / "manifest.csv", tmp_path / "out" / "wav", 16000)


# ---- 1: non-finite audio, features and losses


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_in_a_float_wav_stop_resampling(tmp_path, bad):
    root, cfg = _esd(tmp_path)
    f = root / "0001" / "Sad" / "0001_000007.wav"
    x = np.full(4000, 0.1, dtype=np.float32)
    x[[1600, 3000]] = bad  # the first at 0.100 s
    sf.write(str(f), x, 16000, subtype="FLOAT")
    with pytest.raises(
        InputError,
        match=r"0001_000007\.wav: 2 of 4000 samples are NaN or inf \(the first at "
        r"sample 1600, 0\.100 s\)",
    ):
        _scan_and_resample(tmp_path, "ESD", cfg)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_require_finite_names_what_and_where(tmp_path):
    require_finite(np.ones(3), tmp_path / "a.npz", "loss")  # finite: nothing
    with pytest.raises(
        InputError,
        match=r"a\.npz: loss of epoch 3: 1 of 3 values are NaN or inf "
        r"\(the first at index \(1,\)\); lower the learning rate",
    ):
        require_finite([0.5, float("nan"), 1.0], tmp_path / "a.npz", "loss of epoch 3", "lower the learning rate")
    import torch

    with pytest.raises(InputError, match=r"2 of 4 values .* index \(0, 1\)"):
        require_finite(torch.tensor([[1.0, float("inf")], [float("-inf"), 0.0]]), None, "x")


def test_non_finite_features_name_the_utterance(tmp_path, monkeypatch):
    from tiny_encoders import save_tiny
    from xlser.layerwise import features

    src = save_tiny(tmp_path / "m", "wav2vec2-group")
    paths = [tone(tmp_path / f"u{i}.wav", seconds=0.5 + 0.1 * i) for i in range(3)]
    man = pd.DataFrame({"utt_id": ["u0", "u1", "u2"], "path": [str(p) for p in paths], "duration_s": [0.5, 0.6, 0.7]})
    real = features.encode_batch

    def poisoned(value):
        def encode(model, fe, wavs, *args, **kwargs):
            out = real(model, fe, wavs, *args, **kwargs).clone()
            lengths = [len(w) for w in wavs]
            if 11200 in lengths:  # u2 (0.7 s)
                out[lengths.index(11200), 1, 5] = value
            return out

        return encode

    monkeypatch.setattr(features, "encode_batch", poisoned(float("nan")))
    with pytest.raises(
        InputError,
        match=r"u2\.wav: features of utterance 'u2' from .*m: 1 of 96 "
        r"values are NaN or inf \(the first at index \(1, 5\)\)",
    ):
        features.extract_features(man, src, "cpu")
    monkeypatch.setattr(features, "encode_batch", poisoned(1e5))  # finite in float32, inf in float16
    with pytest.raises(InputError, match=r"u2\.wav: features of utterance 'u2' .* exceed float16's range"):
        features.extract_features(man, src, "cpu")
    monkeypatch.setattr(features, "encode_batch", real)
    ids, X, _ = features.extract_features(man, src, "cpu")
    assert np.isfinite(X).all() and list(ids) == ["u0", "u1", "u2"]


# ---- 2: IEMOCAP label lines


def _edit_line(path, startswith, new):
    lines = path.read_text().splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if ln.startswith(startswith))
    lines[i] = new
    path.write_text("".join(lines))
    return i + 1


LINE_ERROR = (
    r"label line cut off or malformed \(expected `\[start - end\]<TAB>utterance<TAB>label<TAB>"
    r"\[V, A, D\]`, found '{found}'\).* \[corpus IEMOCAP, config corpora\.IEMOCAP\]"
)


@pytest.mark.parametrize(
    "new",
    [
        "[2.5000 - 4.5000]\tSes01F_impro01_M000\tang\t[2.5000, 3.0",  # cut off inside [V, A, D]
        "[2.5000 - 4.5000]\tSes01F_impro01_M000",  # cut off before the label
        "[2.5000 - 4.5000]\tSes01F_impro01_M000\tang",  # no [V, A, D]
        "[2.5000 - x]\tSes01F_impro01_M000\tang\t[2.5000, 3.0000, 3.5000]",  # no number
    ],
)
def test_iemocap_malformed_label_line_names_file_and_line(tmp_path, new):
    root = iemocap_tree(tmp_path / "IEMOCAP")
    ev = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    line = _edit_line(ev, "[2.5000", new + "\n")
    found = re.escape(new.replace("\t", "\\t"))
    with pytest.raises(InputError, match=rf"Ses01F_impro01\.txt, line {line}: " + LINE_ERROR.format(found=found)):
        scan_corpus("IEMOCAP", {"format": "iemocap", "root": str(root), "lang": "EN"}, EMO)


def test_iemocap_label_file_cut_off_in_transfer(tmp_path):
    root = iemocap_tree(tmp_path / "IEMOCAP")
    ev = root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02M_impro03.txt"
    text = ev.read_text()
    ev.write_text(text[: text.index("\n[2.5000") + 13])  # the file ends inside the second utterance's line
    assert ev.read_text().splitlines()[-1] == "[2.5000 - 4."
    with pytest.raises(
        InputError, match=r"Ses02M_impro03\.txt, line 8: " + LINE_ERROR.format(found=r"\[2\.5000 - 4\.")
    ):
        scan_corpus("IEMOCAP", {"format": "iemocap", "root": str(root), "lang": "EN"}, EMO)


def test_iemocap_audio_without_label_is_counted_in_the_log(tmp_path, caplog):
    root = iemocap_tree(tmp_path / "IEMOCAP")
    wavs = root / "Session1" / "sentences" / "wav"
    tone(wavs / "Ses01F_impro01" / "Ses01F_impro01_F009.wav")  # no label line for it
    tone(wavs / "Ses01F_impro01" / "Ses01F_impro01_M009.wav")
    tone(wavs / "Ses01F_impro09" / "Ses01F_impro09_F000.wav")  # a dialog without an EmoEvaluation file
    caplog.set_level("INFO")
    df = scan_corpus("IEMOCAP", {"format": "iemocap", "root": str(root), "lang": "EN"}, EMO)
    assert len(df) == 6  # the labelled ones, as before
    assert (
        f"{root}: 3 utterance(s) with audio but no label line in Session*/dialog/EmoEvaluation, left out "
        "(Ses01F_impro01: 2, Ses01F_impro09: 1)"
    ) in caplog.text
    caplog.clear()  # the scripted pool alone: the improvised dialogs' wavs are not counted
    scan_corpus(
        "IEMOCAP",
        {"format": "iemocap", "root": str(root), "lang": "EN", "dialogs": "scripted", "listening_dialogs": "scripted"},
        EMO,
    )
    assert "no label line" not in caplog.text


# ---- 3: every configured emotion in every SER and listening corpus


def test_a_missing_emotion_is_an_error_naming_corpus_and_emotion(tmp_path):
    root, cfg = _esd(tmp_path, speakers=("0001", "0002", "0011"), per_emotion=4)
    for spk in ("0001", "0002", "0011"):
        for f in (root / spk / "Sad").iterdir():
            f.unlink()
        (root / spk / "Sad").rmdir()
    man = scan_corpus("ESD", cfg, EMO)
    assert set(man["emotion"]) == {"angry", "happy", "neutral"}
    msg = (
        r"corpus ESD has no 'sad' utterances \(configured emotions: angry, happy, neutral, sad\); add them, "
        r"remove 'sad' from `emotions`, or set corpora\.ESD\.missing_emotions: allow"
    )
    with pytest.raises(InputError, match=msg):
        make_splits(man, EMO, 2, 3, 3, folds=1, split_by="speaker", corpus="ESD")
    with pytest.raises(InputError, match=msg.replace("utterances", "utterances in its listening pool")):
        listening_subset(man, EMO, 1, corpus="ESD")
    df = make_splits(man, EMO, 2, 3, 3, folds=1, split_by="speaker", corpus="ESD", missing_emotions="allow")
    assert set(df.merge(man, on="utt_id")["emotion"]) == {"angry", "happy", "neutral"}
    sub = listening_subset(man, EMO, 1, corpus="ESD", missing_emotions="allow")
    assert sorted(sub["emotion"]) == ["angry", "happy", "neutral"]


def test_missing_emotions_in_the_schema_and_the_rule_params():
    import yaml

    from xlser.config import resolve

    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    for name in ("config.yaml", "paper.yaml"):
        cfg = yaml.safe_load(open(os.path.join(root, "config", name)))
        for c in resolve(cfg).corpora.values():
            assert c.spec["missing_emotions"] == "error"
    rules = open(os.path.join(root, "workflow", "rules", "data.smk")).read()
    assert rules.count("missing_emotions=lambda wc: S.corpora[wc.corpus].missing_emotions") == 2


# ---- 6: a WAV cut inside its header


@pytest.mark.parametrize(
    "keep,what", [(10, "RIFF header"), (30, "'fmt ' chunk"), (40, "a chunk header"), (36, "header (no 'data' chunk)")]
)
def test_wav_cut_inside_its_header_names_the_file(tmp_path, keep, what):
    root, cfg = _esd(tmp_path)
    f = root / "0001" / "Happy" / "0001_000003.wav"
    f.write_bytes(f.read_bytes()[:keep])
    with pytest.raises(
        InputError,
        match=rf"0001_000003\.wav: WAV file cut off inside its header \({keep} bytes, "
        rf"ends in the {re.escape(what)}\)",
    ):
        scan_corpus("ESD", cfg, EMO)
    from xlser.data.audio import load_audio

    with pytest.raises(InputError, match=r"0001_000003\.wav: WAV file cut off inside its header"):
        load_audio(f)


# ---- 7: ZED events


@pytest.mark.parametrize(
    "edit,msg",
    [
        (lambda ev: ev.pop("end"), r"emotion event lacks 'end'"),
        (lambda ev: ev.update(start="1.0s"), r"'start' = '1\.0s' is not a number of seconds"),
        (lambda ev: ev.update(end=None), r"'end' = None is not a number of seconds"),
        (lambda ev: ev.pop("emo"), r"emotion event lacks 'emo'"),
    ],
)
def test_zed_malformed_event_names_file_entry_and_field(tmp_path, edit, msg):
    root = zed_tree(tmp_path / "ZED")
    data = json.loads((root / "ZED.json").read_text())
    edit(data["spk1_001"]["emotion"][0])
    (root / "ZED.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"ZED\.json: entry 'spk1_001': " + msg):
        scan_corpus("ZED", {"format": "zed", "root": str(root), "lang": "EN"}, EMO)


def test_zed_event_that_is_not_an_object(tmp_path):
    root = zed_tree(tmp_path / "ZED")
    data = json.loads((root / "ZED.json").read_text())
    data["spk0_000"]["emotion"] = ["happy"]
    (root / "ZED.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"entry 'spk0_000': emotion event 'happy' is not an object"):
        scan_corpus("ZED", {"format": "zed", "root": str(root), "lang": "EN"}, EMO)


# ---- 8: clips shorter than the encoder's receptive field


def test_receptive_field_from_kernels_and_strides():
    from transformers import HubertConfig, Wav2Vec2Config, WavLMConfig

    from xlser.data.audiocheck import MIN_SAMPLES, WAV2VEC2_CONV, receptive_field

    assert receptive_field((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)) == 400  # 10 + 2*5 + 2*10 + ... by hand
    assert receptive_field((10, 4, 4), (5, 4, 4)) == 10 + 3 * 5 + 3 * 20  # the tiny test encoders: 85
    assert receptive_field((3,), (1,)) == 3
    for cfg in (Wav2Vec2Config(), WavLMConfig(), HubertConfig()):  # every encoder family of the study
        assert (tuple(cfg.conv_kernel), tuple(cfg.conv_stride)) == WAV2VEC2_CONV
    assert MIN_SAMPLES == 400


@pytest.mark.parametrize("seconds,sr,n", [(0.01, 16000, 160), (0.02, 44100, 882)])
def test_a_clip_shorter_than_the_receptive_field_stops_the_data_stage(tmp_path, seconds, sr, n):
    root, cfg = _esd(tmp_path)
    f = root / "0001" / "Angry" / "0001_000001.wav"
    tone(f, seconds=seconds, sr=sr)
    with pytest.raises(
        InputError,
        match=rf"0001_000001\.wav: clip of {seconds * 1000:.1f} ms \({n} samples at {sr} Hz\) "
        r"is shorter than the encoders' receptive field \(400 samples = 25\.0 ms at "
        r"16 kHz\).* \[corpus ESD, config corpora\.ESD\]",
    ):
        scan_corpus("ESD", cfg, EMO)
    from xlser.data.resample import _convert

    with pytest.raises(InputError, match=r"0001_000001\.wav: clip of .* \(\d+ samples at 16000 Hz\) is shorter"):
        _convert((str(f), str(tmp_path / "o.wav"), 16000))
    tone(f, seconds=0.025, sr=16000)  # 400 samples, exactly one frame: accepted
    assert len(scan_corpus("ESD", cfg, EMO)) == 8
    tone(f, seconds=399 / 16000, sr=16000)  # one sample short
    with pytest.raises(InputError, match=r"clip of 24\.9 ms \(399 samples"):
        scan_corpus("ESD", cfg, EMO)


# ---- 9: a failed write says so, where and why


def test_full_disk_during_resampling_says_writing_failed(tmp_path, monkeypatch):
    import xlser.data.audio as audio

    _root, cfg = _esd(tmp_path)
    real_open = open

    def full_disk(path, mode="r", *a, **k):
        if "w" in mode and str(path).endswith(".wav"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(audio, "open", full_disk, raising=False)
    with pytest.raises(
        InputError,
        match=r"out/\.wav\.part/0001_000001\.wav: writing the resampled audio failed "
        r"\(No space left on device\); \d+ MiB free on .*out/\.wav\.part; free disk "
        r"space, then re-run \(converting .*ESD/0001/Angry/0001_000001\.wav\) "
        r"\[corpus ESD, config corpora\.ESD\]$",
    ) as exc:
        _scan_and_resample(tmp_path, "ESD", cfg)
    assert "cannot resample" not in str(exc.value)
    assert not (tmp_path / "out" / "wav").exists() and not list((tmp_path / "out").glob(".*part*"))


@pytest.mark.parametrize(
    "err,hint",
    [
        (errno.ENOSPC, "free disk space"),
        (errno.EDQUOT, "raise the disk quota"),
        (errno.EACCES, "make the results folder writable"),
    ],
)
def test_a_failed_table_write_names_the_table_and_why(tmp_path, monkeypatch, err, hint):
    """raw.csv, splits and every other table go through xlser.io.write_csv."""
    _root, cfg = _esd(tmp_path)
    raw = scan_corpus("ESD", cfg, EMO)

    def refuse(self, path, *a, **k):
        raise OSError(err, os.strerror(err), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)
    with pytest.raises(
        InputError,
        match=rf"corpora/ESD/raw\.csv: writing this file failed \({re.escape(os.strerror(err))}\); "
        rf"\d+ MiB free on .*; {hint}, then re-run$",
    ):
        write_csv(raw, tmp_path / "results" / "corpora" / "ESD" / "raw.csv")
    assert not list((tmp_path / "results" / "corpora" / "ESD").iterdir())  # no partial file left


def test_a_real_failed_write_in_a_worker_process(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) makes the kernel refuse the write (EFBIG), as a full
    disk would (ENOSPC), in the resampling pool's worker processes."""
    _root, cfg = _esd(tmp_path)
    write_csv(scan_corpus("ESD", cfg, EMO), tmp_path / "raw.csv")
    code = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        from xlser.data.resample import resample_corpus
        from xlser.errors import InputError
        try:
            resample_corpus({str(tmp_path / "raw.csv")!r}, {str(tmp_path / "o" / "m.csv")!r},
                            {str(tmp_path / "o" / "wav")!r}, 16000, workers=2)
        except InputError as exc:
            print("INPUTERROR", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "INPUTERROR" in out.stdout, out.stdout + out.stderr
    assert "writing the resampled audio failed (File too large)" in out.stdout
    assert signal.SIGXFSZ  # the signal is ignored in the child, so the write fails instead of killing it


# ---- 10: data errors name the corpus and the config key


def _manifest(speakers, per, emotions=EMO):
    return pd.DataFrame(
        [
            {"utt_id": f"s{s}_{e}_{i}", "speaker": f"s{s}", "emotion": e}
            for s in range(speakers)
            for e in emotions
            for i in range(per)
        ]
    )


def test_unbalanced_val_names_corpus_emotions_and_key():
    man = _manifest(3, 10, EMO[:3])
    with pytest.raises(
        InputError,
        match=r"corpus PAVOQUE: splits\.val = 4 cannot be balanced over its 3 emotions "
        r"\(angry, happy, neutral\): use a multiple of 3",
    ):
        make_splits(man, EMO, 2, 4, 3, folds=1, corpus="PAVOQUE", missing_emotions="allow")


def test_too_few_utterances_names_corpus_emotion_counts_and_keys():
    with pytest.raises(
        InputError,
        match=r"corpus ESD: too few 'angry' utterances for the split: 6 exist in the "
        r"training speakers of fold 0, 8 were asked \(splits\.train_per_emotion=8\)",
    ):
        make_splits(_manifest(4, 3), EMO, 8, 4, 4, folds=2, split_by="speaker", corpus="ESD")
    with pytest.raises(
        InputError,
        match=r"corpus IEMOCAP: too few 'angry' utterances for the listening test: 3 "
        r"exist in its listening pool, 12 were asked \(splits\.listening_per_emotion=12\)",
    ):
        listening_subset(_manifest(1, 3), EMO, 12, corpus="IEMOCAP")


def test_split_by_errors_name_the_corpus_key():
    man = _manifest(1, 10)
    with pytest.raises(
        InputError,
        match=r"corpus PAVOQUE: corpora\.PAVOQUE\.split_by = session needs a 'session' for "
        r"every utterance, and 40 have none: use split_by random",
    ):
        make_splits(man, EMO, 2, 4, 4, folds=1, split_by="session", corpus="PAVOQUE")
    with pytest.raises(
        InputError,
        match=r"corpus PAVOQUE: corpora\.PAVOQUE\.split_by = speaker needs at least 2 "
        r"speakers, found \['s0'\]: use split_by random",
    ):
        make_splits(man, EMO, 2, 4, 4, folds=1, split_by="speaker", corpus="PAVOQUE")


def test_adapter_errors_name_corpus_and_config_key(tmp_path):
    root, cfg = _esd(tmp_path)
    (root / "0001" / "Neutral" / "0001_000005.wav").write_bytes(b"not audio at all")
    with pytest.raises(InputError, match=r"0001_000005\.wav: unreadable audio .* \[corpus ESD, config corpora\.ESD\]"):
        scan_corpus("ESD", cfg, EMO)
    with pytest.raises(InputError, match=r"corpora\.ESD\.label_map maps to \['fear'\], which are not among"):
        scan_corpus("ESD", {**cfg, "label_map": {"Surprise": "fear"}}, EMO)


# ---- no traceback for bad input: a job's log holds the message alone


@pytest.mark.parametrize(
    "raise_,log_has,log_lacks",
    [
        (
            "InputError('/data/x.wav', 'empty audio (0 samples)')",
            "ERROR: /data/x.wav: empty audio (0 samples)",
            "Traceback",
        ),
        ("ConfigError('config corpora.ESD.root: ...')", "ERROR: config corpora.ESD.root: ...", "Traceback"),
        ("RuntimeError('a bug')", "Traceback", "ERROR:"),  # not bad input: the traceback, to report it
    ],
)
def test_a_job_reports_bad_input_without_a_traceback(tmp_path, raise_, log_has, log_lacks):
    log = tmp_path / "job.log"
    code = textwrap.dedent(f"""
        from types import SimpleNamespace
        from xlser.errors import ConfigError, InputError
        from xlser.smk import setup
        setup(SimpleNamespace(log=[{str(log)!r}], threads=1, rule="scan_corpus", wildcards={{}}))
        raise {raise_}
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    text = log.read_text()
    assert out.returncode == 1 and log_has in text and log_lacks not in text, text


def test_wav_with_a_too_short_fmt_chunk_is_malformed(tmp_path):
    from xlser.data.wavheader import check_not_truncated

    f = tone(tmp_path / "a.wav", seconds=0.1)
    data = bytearray(f.read_bytes())
    assert data[12:16] == b"fmt " and int.from_bytes(data[16:20], "little") == 16
    data[16:20] = (12).to_bytes(4, "little")  # 12 bytes: no room for the block align
    f.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"a\.wav: malformed WAV header: its 'fmt ' chunk holds 12 bytes, at least 14"):
        check_not_truncated(f)
