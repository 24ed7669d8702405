"""webMUSHRA listening kits: built from the drawn stimuli, validated, answered and ingested back."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from webmushra_yamljs import parse_yamljs, webmushra_reads
from xlser.errors import InputError
from xlser.human.ingest import ingest, manifests_by_corpus
from xlser.human.kit import KitSpec, active_rms_dbfs, build_kit, page_id, read_kit, stimulus_key, to_pcm16, validate_kit
from xlser.human.simulate import answer_kits, write_lss
from xlser.human.tables import table2

EMO = ["angry", "happy", "neutral", "sad"]
SR = 16000


def _corpus(root: Path, corpus: str, lang: str, n_per_emotion: int, n_listening: int) -> tuple[Path, Path]:
    """A manifest of float32 wavs (tone bursts with silence around) and its listening table."""
    d = root / "corpora" / corpus
    (d / "wav").mkdir(parents=True)
    rng = np.random.default_rng(len(corpus))
    rows = []
    for e_i, emo in enumerate(EMO):
        for i in range(n_per_emotion):
            utt = f"{corpus.lower()}_{emo}_{i:03d}"
            t = np.arange(int(0.12 * SR)) / SR
            tone = (0.05 + 0.1 * e_i) * np.sin(2 * np.pi * (150 + 40 * i) * t)
            wav = np.concatenate([np.zeros(800), tone, np.zeros(800)]) + 1e-4 * rng.standard_normal(len(t) + 1600)
            sf.write(str(d / "wav" / f"{utt}.wav"), wav.astype(np.float32), SR, subtype="FLOAT")
            rows.append(
                {
                    "utt_id": utt,
                    "corpus": corpus,
                    "lang": lang,
                    "speaker": f"spk{i % 2}",
                    "emotion": emo,
                    "path": f"wav/{utt}.wav",
                    "duration_s": len(wav) / SR,
                    "sample_rate": SR,
                }
            )
    man = pd.DataFrame(rows)
    man.to_csv(d / "manifest.csv", index=False)
    lis = man.groupby("emotion").head(n_listening)[["utt_id", "emotion", "speaker"]]
    lis_path = root / f"{corpus}.listening.csv"
    lis.to_csv(lis_path, index=False)
    return d / "manifest.csv", lis_path


@pytest.fixture
def corpora(tmp_path: Path) -> dict:
    m_cn, l_cn = _corpus(tmp_path, "CORP-CN", "CN", 4, 2)
    m_de, l_de = _corpus(tmp_path, "CORP-DE", "DE", 3, 1)
    return {
        "manifests": {"CORP-CN": m_cn, "CORP-DE": m_de},
        "listening": {"CORP-CN": l_cn, "CORP-DE": l_de},
        "root": tmp_path,
    }


def _spec(**kw) -> KitSpec:
    test = {"id": "ser_x", "groups": ["CN"], "labels": {"angry": "生气", "sad": "伤心"}, "question": "Q?", **kw}
    return KitSpec.from_config(test)


def _build(corpora: dict, spec: KitSpec | None = None, name: str = "kit") -> Path:
    """Build a kit and check that webMUSHRA's parser (yaml.js) reads it as xlser wrote it."""
    spec = spec or _spec()
    out = corpora["root"] / name / spec.id
    build_kit(out, spec, corpora["listening"], corpora["manifests"], EMO)
    webmushra_reads(out, spec.id)
    return out


def test_kit_config_has_one_likert_page_per_stimulus_in_a_random_block(corpora):
    kit = _build(corpora, _spec(instructions="<p>Listen.</p>"))
    cfg = yaml.safe_load((kit / "configs/ser_x.yaml").read_text(encoding="utf-8"))
    assert cfg["testId"] == "ser_x" and cfg["remoteService"] == "service/write.php"
    assert cfg["pages"][0]["type"] == "generic"
    block = cfg["pages"][1]
    assert isinstance(block, list) and block[0] == "random"
    pages = block[1:]
    stim = pd.read_csv(kit / "stimuli.csv", dtype=str)
    assert len(pages) == len(stim) == 2 * 4 + 1 * 4  # listening tables: 2 and 1 per emotion
    assert all(p["type"] == "likert_single_stimulus" and len(p["stimuli"]) == 1 for p in pages)
    assert [next(iter(p["stimuli"])) for p in pages] == list(stim["stimulus"])
    for p in pages:
        assert [r["value"] for r in p["response"]] == EMO
        assert [r["label"] for r in p["response"]] == ["生气", "happy", "neutral", "伤心"]
        assert p["id"] == page_id(next(iter(p["stimuli"])))
    finish = cfg["pages"][-1]
    assert finish["type"] == "finish" and finish["writeResults"] is True
    assert [q["name"] for q in finish["questionnaire"]] == ["email"]
    # stimuli.csv maps every key back to its utterance, exactly as human.stimuli reads it
    want = {(c, u) for c, p in corpora["listening"].items() for u in pd.read_csv(p)["utt_id"]}
    assert set(zip(stim["corpus"], stim["utt_id"], strict=True)) == want
    assert validate_kit(kit, "ser_x", emotions=EMO, listener_column="email") == 12


def test_audio_is_16bit_pcm_wav_of_the_utterance(corpora):
    kit = _build(corpora)
    stim = pd.read_csv(kit / "stimuli.csv", dtype=str)
    man = pd.concat(
        [pd.read_csv(m, dtype=str).assign(base=str(Path(m).parent)) for m in corpora["manifests"].values()]
    ).set_index(["corpus", "utt_id"])
    for r in stim.itertuples():
        f = kit / "configs/resources/audio/ser_x" / f"{r.stimulus}.wav"
        info = sf.info(str(f))
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", SR, 1)
        src, _ = sf.read(str(Path(man.at[(r.corpus, r.utt_id), "base"]) / man.at[(r.corpus, r.utt_id), "path"]))
        got, _ = sf.read(str(f))
        assert len(got) == len(src) and np.abs(got - src).max() <= 1 / 32768 + 1e-9  # unchanged: no normalisation
    assert sorted(p.name for p in (kit / "configs/resources/audio/ser_x").iterdir()) == sorted(
        f"{s}.wav" for s in stim["stimulus"]
    )
    assert [p.name for p in (kit / "configs/resources/audio").iterdir()] == ["ser_x"]


def test_keys_reveal_no_label_and_are_reproducible(corpora):
    kit = _build(corpora)
    stim = pd.read_csv(kit / "stimuli.csv", dtype=str)
    text = (kit / "configs/ser_x.yaml").read_text(encoding="utf-8").lower()
    man = pd.concat([pd.read_csv(m, dtype=str) for m in corpora["manifests"].values()])
    for r in stim.itertuples():
        assert re.fullmatch(r"s[0-9a-f]{11}", r.stimulus)
    # neither corpus, utterance, speaker nor emotion is written anywhere a listener could see it
    # (emotions appear only as the answer options)
    assert "&" not in text and "*id" not in text  # no YAML aliases: every page spelled out
    for word in ["corp-cn", "corp-de", "spk0", "spk1", *man["utt_id"]]:
        assert word not in text, word
    assert not any(e in k for k in stim["stimulus"] for e in EMO)
    # the page order is the key order, unrelated to corpus or emotion
    assert list(stim["stimulus"]) == sorted(stim["stimulus"])
    # same seed, same keys (answers collected before a rebuild stay valid); another seed, other keys
    again = _build(corpora, name="again")
    assert pd.read_csv(again / "stimuli.csv", dtype=str).equals(stim)
    other = _build(corpora, _spec(seed=1), name="other")
    assert not set(pd.read_csv(other / "stimuli.csv", dtype=str)["stimulus"]) & set(stim["stimulus"])
    assert stimulus_key("CORP-CN", "x", 0) != stimulus_key("CORP-DE", "x", 0)


def _edit_yaml(kit: Path, fn) -> None:
    path = kit / "configs/ser_x.yaml"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(cfg)
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _first_likert(cfg: dict) -> dict:
    return next(b for b in cfg["pages"] if isinstance(b, list))[1]


@pytest.mark.parametrize(
    "damage,fragment",
    [
        (lambda kit: _edit_yaml(kit, lambda c: _first_likert(c).update(reference="x.wav")), "not read by webMUSHRA"),
        (lambda kit: _edit_yaml(kit, lambda c: c.update(title="x")), "not read by webMUSHRA"),
        (lambda kit: _edit_yaml(kit, lambda c: c["pages"][-1].update(writeResults=False)), "writeResults"),
        (lambda kit: _edit_yaml(kit, lambda c: c["pages"][-1].update(questionnaire=[])), "listener id"),
        (lambda kit: _edit_yaml(kit, lambda c: _first_likert(c)["response"].pop()), "differ from the emotions"),
        (
            lambda kit: _edit_yaml(
                kit, lambda c: c["pages"].insert(0, next(b for b in c["pages"] if isinstance(b, list)).pop())
            ),
            "'random' block",
        ),
        (
            lambda kit: _edit_yaml(
                kit,
                lambda c: next(b for b in c["pages"] if isinstance(b, list)).append(
                    {**_first_likert(c), "id": "other"}
                ),
            ),
            "used twice",
        ),
        (lambda kit: next((kit / "configs/resources/audio/ser_x").iterdir()).unlink(), "does not exist"),
        (
            lambda kit: sf.write(
                str(next((kit / "configs/resources/audio/ser_x").iterdir())), np.zeros(10), SR, subtype="FLOAT"
            ),
            "16-bit PCM",
        ),
        (lambda kit: (kit / "configs/resources/audio/ser_x/.snakemake_timestamp").touch(), "files no page plays"),
        (
            lambda kit: _edit_yaml(
                kit,
                lambda c: [
                    p["stimuli"].update({k: v.replace("/ser_x/", "/")})
                    for p in next(b for b in c["pages"] if isinstance(b, list))[1:]
                    for k, v in p["stimuli"].items()
                ],
            ),
            "does not exist",
        ),
        (
            lambda kit: (kit / "stimuli.csv").write_text(
                "\n".join((kit / "stimuli.csv").read_text().splitlines()[:-1]) + "\n"
            ),
            "does not match the pages",
        ),
    ],
)
def test_validation_catches_a_damaged_kit(corpora, damage, fragment):
    kit = _build(corpora)
    damage(kit)
    with pytest.raises(InputError, match=fragment):
        validate_kit(kit, "ser_x", emotions=EMO, listener_column="email")


def test_bad_test_id_and_missing_training_pool(corpora):
    with pytest.raises(ValueError, match="a-z0-9"):
        _build(corpora, _spec(id="Ser X"))
    with pytest.raises(InputError, match="training page needs 3"):  # CORP-DE: 3 per emotion, 1 drawn
        _build(corpora, _spec(training_per_emotion=3))


def test_training_page_plays_labelled_non_test_utterances(corpora):
    kit = _build(corpora, _spec(training_per_emotion=1))
    cfg = yaml.safe_load((kit / "configs/ser_x.yaml").read_text(encoding="utf-8"))
    page = cfg["pages"][0]
    assert page["type"] == "generic" and page["id"] == "training"
    srcs = re.findall(r"src='([^']+)'", page["content"])
    train = pd.read_csv(kit / "training.csv", dtype=str)
    assert len(srcs) == len(train) == 2 * 4
    assert all((kit / s).is_file() for s in srcs)
    stim = pd.read_csv(kit / "stimuli.csv", dtype=str)
    assert not set(zip(train["corpus"], train["utt_id"], strict=True)) & set(
        zip(stim["corpus"], stim["utt_id"], strict=True)
    )
    assert "生气" in page["content"]
    assert page["content"].startswith("<p>Examples: each recording is labelled with the emotion")  # a caption


def test_loudness_normalisation_hits_the_target_level():
    t = np.arange(SR) / SR
    wav = np.concatenate([np.zeros(SR), 0.02 * np.sin(2 * np.pi * 200 * t)]).astype(np.float32)
    pcm, limited = to_pcm16(wav, SR, normalise=True, target_dbfs=-26.0)
    assert not limited and active_rms_dbfs(pcm / 32768.0, SR) == pytest.approx(-26.0, abs=0.05)
    # a sine's active RMS is its amplitude / sqrt(2): -26 dBFS -> peak 0.0709
    assert np.abs(pcm).max() / 32768 == pytest.approx(10 ** (-26 / 20) * np.sqrt(2), rel=1e-3)
    loud, limited = to_pcm16(wav, SR, normalise=True, target_dbfs=-1.0)
    assert limited and np.abs(loud).max() == round(0.999 * 32768)  # scaled down as a whole, not clipped
    raw, limited = to_pcm16(wav, SR, normalise=False, target_dbfs=-26.0)
    assert not limited and np.abs(raw / 32768 - wav).max() <= 1 / 32768
    hot = np.array([0.0, 0.5, 1.25, -1.5])  # a resampled utterance may overshoot full scale
    pcm, limited = to_pcm16(hot, SR, normalise=False, target_dbfs=-26.0)
    assert limited and np.allclose(pcm / 32768, hot * 0.999 / 1.5, atol=1 / 32768)


def _listeners(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame(rows, columns=["listener", "group"]).assign(gender="f", background="x").to_csv(path, index=False)
    return path


def test_lss_written_against_the_kit_reproduces_hand_computed_table2(corpora):
    """Two CN listeners answer the CN stimuli of a kit (8 pages: 2 per emotion): L1 all correct
    (UA 1), L2 hears both angry ones as happy (recalls 0, 1, 1, 1: UA 0.75); a DE listener says
    neutral to everything (UA 0.25). Table II: CN 87.5 ± 17.7 (sd of 1 and .75), DE 25.0."""
    spec = _spec(id="ser_cn")
    kit = corpora["root"] / "kits" / "ser_cn"
    build_kit(kit, spec, {"CORP-CN": corpora["listening"]["CORP-CN"]}, corpora["manifests"], EMO)
    webmushra_reads(kit, "ser_cn")
    test_id, pages, stim, questions = read_kit(kit, "ser_cn")
    truth = pd.read_csv(corpora["listening"]["CORP-CN"], dtype=str).set_index("utt_id")["emotion"]
    answer = {"L1": lambda e: e, "L2": lambda e: "happy" if e == "angry" else e, "L3": lambda e: "neutral"}
    rows = [
        {
            "session_test_id": test_id,
            "email": lis,
            "trial_id": p.id,
            "stimuli_rating": f" {answer[lis](truth[stim[p.stimulus][1]])} ",
            "stimuli": p.stimulus,
            "rating_time": 1000,
        }
        for lis in answer
        for p in pages
    ]
    lss = corpora["root"] / "results" / test_id / "lss.csv"
    write_lss(rows, ["session_test_id", *questions, "trial_id", "stimuli_rating", "stimuli", "rating_time"], lss)
    assert '," angry ",' in lss.read_text()  # PHP fputcsv encloses the padded rating in quotes
    listeners = _listeners(corpora["root"] / "listeners.csv", [("L1", "CN"), ("L2", "CN"), ("L3", "DE")])
    resp, drops = ingest(
        [lss], [], listeners, [kit / "stimuli.csv"], manifests_by_corpus(list(corpora["manifests"].values())), EMO
    )
    assert not drops and len(resp) == 3 * 8
    _, raw = table2(resp, {"CORP-CN": {"lang": "CN"}}, EMO)
    raw = raw.set_index("group")
    assert raw.at["CN", "ua_mean"] == pytest.approx(87.5)
    assert raw.at["CN", "ua_std"] == pytest.approx(100 * np.std([1.0, 0.75], ddof=1))
    assert raw.at["DE", "ua_mean"] == pytest.approx(25.0) and raw.at["CN", "n_listeners"] == 2


def test_simulated_listeners_answer_the_kits(corpora):
    kits = {}
    for tid, groups in (("ser_cn", ["CN"]), ("ser_de", ["DE"])):
        kits[tid] = corpora["root"] / "kits" / tid
        build_kit(kits[tid], _spec(id=tid, groups=groups), corpora["listening"], corpora["manifests"], EMO)
        webmushra_reads(kits[tid], tid)
    out = corpora["root"] / "listening"
    lss = {t: out / "results" / t / "lss.csv" for t in kits}
    zed = corpora["root"] / "corpora/D-ZED/manifest.csv"
    zed.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "utt_id": ["z1", "z2"],
            "corpus": "D-ZED",
            "lang": "EN",
            "speaker": "s",
            "emotion": ["sad", "angry"],
            "path": ["/x", "/y"],
            "duration_s": 3.0,
            "sample_rate": SR,
        }
    ).to_csv(zed, index=False)
    sub = corpora["root"] / "subset.csv"
    pd.DataFrame(
        {
            "utt_id": ["z1", "z2"],
            "emotion": ["sad", "angry"],
            "seg_start": [0.5, 1.0],
            "seg_end": [2.0, 2.5],
            "duration_s": [3.0, 3.0],
            "path": ["/x", "/y"],
        }
    ).to_csv(sub, index=False)
    counts = answer_kits(
        kits,
        corpora["listening"],
        {"CORP-CN": {"lang": "CN"}, "CORP-DE": {"lang": "DE"}},
        EMO,
        {"per_group": 2, "groups": ["CN", "DE"], "seed": 3},
        out / "listeners.csv",
        lss,
        test_groups={"ser_cn": ["CN"], "ser_de": ["DE"]},
        sed_subset=sub,
        sed_corpus="D-ZED",
        out_segments=out / "segments.csv",
    )
    assert counts == {"listeners": 4, "stimuli": 24, "answers": 2 * 12 * 2, "segments": 4 * 2}
    for tid, path in lss.items():
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(raw.columns) == ["session_test_id", "email", "trial_id", "stimuli_rating", "stimuli", "rating_time"]
        _, pages, _, _ = read_kit(kits[tid], tid)
        assert (raw["session_test_id"] == tid).all()
        # every listener answered every page of the kit once, with its page id and stimulus key
        for _, one in raw.groupby("email"):
            want = sorted((p.id, p.stimulus) for p in pages)
            assert sorted(zip(one["trial_id"], one["stimuli"], strict=True)) == want
        # as today's write.php writes them: the response value, no padding (PHP fputcsv: no quotes)
        assert raw["stimuli_rating"].str.fullmatch(r"angry|happy|neutral|sad").all()
        lines = path.read_text().splitlines()[1:]
        assert all(
            re.fullmatch(
                rf"{tid},{tid[-2:].upper()}\d\d,trial_s[0-9a-f]{{11}},(angry|happy|neutral|sad),"
                r"s[0-9a-f]{11},\d+",
                line,
            )
            for line in lines
        ), lines[:2]
        assert set(raw["email"].str[:2]) == {tid[-2:].upper()}
    resp, drops = ingest(
        list(lss.values()),
        [out / "segments.csv"],
        out / "listeners.csv",
        [k / "stimuli.csv" for k in kits.values()],
        manifests_by_corpus([*corpora["manifests"].values(), zed]),
        EMO,
        simulated=True,
    )
    assert not drops and len(resp) == 48 + 8 and set(resp["group"]) == {"CN", "DE"} and resp["simulated"].all()
    segs = resp.dropna(subset=["seg_start"])
    assert len(segs) == 8 and ((segs["seg_start"] <= segs["seg_end"]) & (segs["seg_end"] <= 3.0)).all()


def test_simulated_listeners_need_an_output_per_kit(corpora):
    kit = _build(corpora)
    with pytest.raises(ValueError, match="no lss.csv output"):
        answer_kits(
            {"ser_x": kit},
            corpora["listening"],
            {"CORP-CN": {"lang": "CN"}, "CORP-DE": {"lang": "DE"}},
            EMO,
            {"per_group": 1},
            corpora["root"] / "l.csv",
            {},
            test_groups={},
        )
    with pytest.raises(ValueError, match="match no listening kit"):
        answer_kits(
            {"ser_x": kit},
            corpora["listening"],
            {"CORP-CN": {"lang": "CN"}, "CORP-DE": {"lang": "DE"}},
            EMO,
            {"per_group": 1},
            corpora["root"] / "l.csv",
            {"ser_x": corpora["root"] / "a.csv", "ser_y": corpora["root"] / "b.csv"},
            test_groups={},
        )


def test_stimulus_tables_merge_and_conflicts(tmp_path):
    from xlser.human.ingest import read_stimulus_tables

    a, b, c = (tmp_path / f"{n}.csv" for n in "abc")
    a.write_text("stimulus,corpus,utt_id\nk1,C,u1\nk2,C,u2\n")
    b.write_text("stimulus,corpus,utt_id\nk2,C,u2\nk3,D,u3\n")
    c.write_text("stimulus,corpus,utt_id\nk1,C,u9\n")
    assert read_stimulus_tables([a, b]) == {"k1": ("C", "u1"), "k2": ("C", "u2"), "k3": ("D", "u3")}
    with pytest.raises(InputError, match="u9 here but C/u1"):
        read_stimulus_tables([a, c])


# ------------------------------------------------------------------ webMUSHRA reads the kit


def test_webmushra_yaml_js_reads_the_pages_xlser_means(corpora):
    """yaml.js (webMUSHRA's parser) gets the random block as a list of pages, with their types,
    stimuli and responses; PyYAML's own style (`- - random`), which the kits used before, is
    read there as one string, so webMUSHRA built no answer page."""
    kit = _build(corpora, _spec(instructions="<p>Listen: then answer.</p>", training_per_emotion=1))
    cfg = webmushra_reads(kit, "ser_x")
    stim = pd.read_csv(kit / "stimuli.csv", dtype=str)
    block = cfg["pages"][2]
    assert [p["type"] for p in cfg["pages"][:2]] == ["generic", "generic"] and block[0] == "random"
    assert [next(iter(p["stimuli"])) for p in block[1:]] == list(stim["stimulus"])
    assert all(
        p["response"]
        == [{"value": e, "label": lab} for e, lab in zip(EMO, ["生气", "happy", "neutral", "伤心"], strict=True)]
        for p in block[1:]
    )
    assert all(p["mustRate"] is True and p["mustPlayback"] == "ended" for p in block[1:])
    assert cfg["pages"][0]["content"].startswith("<p>Listen: then answer.</p>")
    old = kit / "configs" / "pyyaml_style.yaml"
    no_training = {**cfg, "pages": [cfg["pages"][0], *cfg["pages"][2:]]}  # PyYAML's training page: a parse error
    old.write_text(yaml.safe_dump(no_training, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")
    (js,) = parse_yamljs(old)
    assert isinstance(js["pages"][1], str) and js["pages"][1].startswith("- random")


def test_two_kits_install_into_one_webmushra_without_a_shared_audio_file(corpora):
    """ser_cn and ser_de play the same utterances under the same keys (same seed); ser_de is
    loudness-normalised. Copied into one webMUSHRA root as the kit README says, every page of
    each test still plays its own kit's file."""
    specs = [_spec(id="ser_cn"), _spec(id="ser_de", language="de", loudness_normalise=True)]
    kits = {s.id: _build(corpora, s, name="kits") for s in specs}
    root = corpora["root"] / "webmushra"
    n_files = 0
    for kit in kits.values():
        n_files += sum(1 for f in (kit / "configs").rglob("*") if f.is_file())
        shutil.copytree(kit / "configs", root / "configs", dirs_exist_ok=True)
    assert sum(1 for f in (root / "configs").rglob("*") if f.is_file()) == n_files  # nothing overwritten
    keys = {tid: set(pd.read_csv(k / "stimuli.csv", dtype=str)["stimulus"]) for tid, k in kits.items()}
    assert keys["ser_cn"] == keys["ser_de"]  # the case that overwrote files before
    for tid, kit in kits.items():
        (cfg,) = parse_yamljs(root / "configs" / f"{tid}.yaml")
        for page in cfg["pages"][0][1:]:
            ((_key, src),) = page["stimuli"].items()
            assert (root / src).read_bytes() == (kit / src).read_bytes()
    some = next(iter(keys["ser_cn"]))
    assert (root / f"configs/resources/audio/ser_cn/{some}.wav").read_bytes() != (
        root / f"configs/resources/audio/ser_de/{some}.wav"
    ).read_bytes()


def test_interface_language_must_be_one_webmushra_has(corpora):
    from xlser.config import validate_config
    from xlser.errors import ConfigError

    with pytest.raises(ValueError, match=r"language 'zh' is not one webMUSHRA has \['en', 'de', 'fr', 'es'\]"):
        build_kit(corpora["root"] / "zh", _spec(language="zh"), corpora["listening"], corpora["manifests"], EMO)
    cfg = {
        "emotions": EMO,
        "corpora": {"c": {"format": "csv", "root": ".", "lang": "CN"}},
        "splits": {"train_per_emotion": 1, "val": 4, "test": 4, "folds": 1},
        "human": {"tests": [{"id": "ser_cn", "language": "zh"}]},
    }
    with pytest.raises(ConfigError, match=r"human\.tests\.0\.language"):
        validate_config(cfg)
    for lang in ("en", "de", "fr", "es"):
        cfg["human"]["tests"][0]["language"] = lang
        validate_config(cfg)


def test_kit_tells_listeners_which_id_characters_survive_and_thanks_them(corpora):
    kit = _build(corpora, _spec(instructions="<p>Hi.</p>"))
    cfg = webmushra_reads(kit, "ser_x")
    rule = "letters, digits and @ . _ - only"
    assert rule in cfg["pages"][0]["content"]  # instruction page
    finish = cfg["pages"][-1]
    assert finish["content"].startswith("<p>Thank you for taking part!") and rule in finish["content"]
    assert rule in finish["questionnaire"][0]["label"]
    readme = (kit / "README.md").read_text(encoding="utf-8")
    assert rule in readme and "`cn+1@x.org`" in readme and "configs/resources/audio/ser_x/*.wav" in readme


def _configured_tests(path: Path) -> list[dict]:
    """`human.tests` of a shipped config with the schema's defaults, as the workflow resolves them."""
    from xlser.config import validate_config

    tests = yaml.safe_load(path.read_text(encoding="utf-8"))["human"]["tests"]
    cfg = {
        "emotions": EMO,
        "corpora": {"c": {"format": "csv", "root": ".", "lang": "CN"}},
        "splits": {"train_per_emotion": 1, "val": 4, "test": 4, "folds": 1},
        "human": {"tests": tests},
    }
    validate_config(cfg)
    return cfg["human"]["tests"]


@pytest.mark.parametrize("config", ["config/config.yaml", "config/paper.yaml"])
def test_the_shipped_configs_kits_read_in_webmushra(corpora, config):
    """The demo's and the study's kits (their `human.tests`, on fixture corpora) parse with
    yaml.js to pages with the configured labels and question, in a language webMUSHRA has."""
    for test in _configured_tests(Path(__file__).parents[2] / config):
        spec = KitSpec.from_config(test)
        kit = _build(corpora, spec, name=Path(config).stem)
        cfg = webmushra_reads(kit, spec.id)
        assert cfg["language"] == test["language"] and cfg["testId"] == test["id"]
        for page in cfg["pages"][-2][1:]:
            assert page["content"] == test["question"]
            assert [r["label"] for r in page["response"]] == [test["labels"].get(e, e) for e in EMO]
