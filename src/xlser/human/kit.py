"""webMUSHRA listening-test kits: built from the workflow's stimuli, validated, read back.

A kit is a folder that drops into a webMUSHRA installation (its root is webMUSHRA's root):

    configs/<testId>.yaml             the test: optional instruction / training pages, one
                                      `likert_single_stimulus` page per stimulus inside a
                                      `random` block, a `finish` page asking the listener id
    configs/resources/audio/<testId>/<key>.wav
                                      16-bit PCM WAV (plays in every browser); one folder per
                                      test, so kits installed into one webMUSHRA share no file
    stimuli.csv                       stimulus, corpus, utt_id (what `human.stimuli` reads)
    training.csv                      the training page's examples (only with training)
    README.md                         for the experimenter

Stimulus keys are a keyed hash of (corpus, utt_id): they reveal neither corpus, emotion nor
speaker, and they are the same every time the kit is rebuilt (same seed), so answers
collected with an earlier build still ingest. The page order in the file is the order of
the keys, which says nothing either; webMUSHRA shuffles the `random` block per listener.

The YAML is written by `xlser.human.webmushra_yaml` in the block style webMUSHRA's parser
(yaml.js) reads as PyYAML does; PyYAML's own `- - random` reads as a string there.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import yaml

from xlser.data.manifest import read_manifest
from xlser.errors import InputError
from xlser.human import webmushra_yaml
from xlser.human.ingest import read_stimuli
from xlser.io import read_csv, write_csv, write_text

log = logging.getLogger(__name__)

AUDIO_ROOT = "configs/resources/audio"
# webMUSHRA interface languages (lib/webmushra/nls/nls.js); another one hangs on "Loading..."
LANGUAGES = ("en", "de", "fr", "es")
# webMUSHRA posts the session unencoded (a `+` arrives as a space, a `&` loses the result)
LISTENER_ID_CHARS = "letters, digits and @ . _ - only (no spaces or other signs)"
LISTENER_ID_NOTE = f"Your listener ID: use {LISTENER_ID_CHARS}, exactly as the experimenter gave it to you."
THANKS = (
    "<p>Thank you for taking part! Please enter your listener ID below and press the button to send your answers.</p>"
)
TRAINING_CAPTION = (
    "<p>Examples: each recording is labelled with the emotion its speaker expresses. Play them "
    "to get used to the voices and the answers; nothing is recorded on this page.</p>"
)
TEST_ID = re.compile(r"^[a-z0-9_-]+$")  # webMUSHRA's write.php lower-cases and sanitises the results folder name

# The keys webMUSHRA's code reads, per page type (lib/webmushra/pages/*.js, startup.js):
# anything else is silently ignored there, so here it is an error.
TOP_KEYS = {
    "testname",
    "testId",
    "bufferSize",
    "stopOnErrors",
    "showButtonPreviousPage",
    "remoteService",
    "language",
    "pages",
}
PAGE_KEYS = {
    "generic": {"type", "id", "name", "content", "language"},
    "volume": {"type", "id", "name", "content", "stimulus", "defaultVolume"},
    "likert_single_stimulus": {"type", "id", "name", "content", "mustRate", "mustPlayback", "stimuli", "response"},
    "finish": {"type", "name", "content", "popupContent", "showResults", "writeResults", "showErrors", "questionnaire"},
}
REQUIRED_PAGE_KEYS = {
    "generic": {"type", "id", "name", "content"},
    "volume": {"type", "id", "name", "stimulus", "defaultVolume"},
    "likert_single_stimulus": {"type", "id", "name", "stimuli", "response"},
    "finish": {"type", "name", "writeResults"},
}
RESPONSE_KEYS = {"value", "label", "img", "imgSelected", "imgHigherResponseSelected"}
QUESTION_KEYS = {"type", "name", "label", "optional", "min", "max", "default", "response"}
QUESTION_TYPES = {"text", "number", "likert", "long_text"}
BUFFER_SIZES = {256, 512, 1024, 2048, 4096, 8192, 16384}


@dataclass(frozen=True)
class KitSpec:
    """One listening test (`human.tests` item), with the schema's defaults applied."""

    id: str
    name: str
    groups: tuple[str, ...]
    labels: Mapping[str, str]
    question: str
    instructions: str
    language: str
    training_per_emotion: int
    loudness_normalise: bool
    loudness_dbfs: float
    seed: int

    @classmethod
    def from_config(cls, test: Mapping[str, Any]) -> KitSpec:
        return cls(
            id=str(test["id"]),
            name=str(test.get("name") or test["id"]),
            groups=tuple(test.get("groups", ())),
            labels=dict(test.get("labels", {})),
            question=str(test.get("question", "")),
            instructions=str(test.get("instructions", "")),
            language=str(test.get("language", "en")),
            training_per_emotion=int(test.get("training_per_emotion", 0)),
            loudness_normalise=bool(test.get("loudness_normalise", False)),
            loudness_dbfs=float(test.get("loudness_dbfs", -26.0)),
            seed=int(test.get("seed", 0)),
        )


def stimulus_key(corpus: str, utt_id: str, seed: int, *, role: str = "test") -> str:
    """Opaque, reproducible key: HMAC-SHA256 of corpus/utt_id under the seed (`s` + 11 hex digits)."""
    mac = hmac.new(f"xlser-listening-kit/{seed}".encode(), f"{role}/{corpus}/{utt_id}".encode(), hashlib.sha256)
    return "s" + mac.hexdigest()[:11]


def audio_dir(test_id: str) -> str:
    """The kit's audio folder, relative to the webMUSHRA root: one per test."""
    return f"{AUDIO_ROOT}/{test_id}"


def page_id(key: str) -> str:
    """The page (= webMUSHRA trial) id of a stimulus key."""
    return f"trial_{key}"


# ---------------------------------------------------------------------------------- audio


def active_rms_dbfs(wav: np.ndarray, sr: int) -> float:
    """RMS level (dBFS) over the active frames: 20 ms frames within 40 dB of the loudest one, so
    leading/trailing silence does not make a short utterance sound louder after normalisation."""
    n = max(int(0.02 * sr), 1)
    frames = wav[: len(wav) // n * n].reshape(-1, n) if len(wav) >= n else wav.reshape(1, -1)
    energy = (frames.astype(np.float64) ** 2).mean(axis=1)
    if energy.max() <= 0:
        return -np.inf
    active = energy[energy >= energy.max() * 1e-4]
    return float(10 * np.log10(active.mean()))


PEAK = 0.999  # just below full scale: int16 has no +1.0


def to_pcm16(wav: np.ndarray, sr: int, *, normalise: bool, target_dbfs: float) -> tuple[np.ndarray, bool]:
    """Float audio -> int16, never clipped: with `normalise`, gain to `target_dbfs` active RMS;
    either way an utterance whose peak would pass full scale is scaled down as a whole (clipping
    distorts, which listeners hear). Returns the samples and whether that peak limit applied."""
    x = wav.astype(np.float64)
    gain = 1.0
    if normalise:
        level = active_rms_dbfs(x, sr)
        if np.isfinite(level):
            gain = 10 ** ((target_dbfs - level) / 20)
    peak = float(np.abs(x).max()) * gain
    limited = peak > PEAK
    if limited:
        gain *= PEAK / peak
    return np.round(np.clip(x * gain, -1.0, 32767 / 32768) * 32768).astype(np.int16), limited


# ----------------------------------------------------------------------------------- build


def _stimuli(listening: Mapping[str, str | Path], seed: int) -> pd.DataFrame:
    rows = []
    for corpus, path in listening.items():
        df = read_csv(path, ["utt_id", "emotion"], dtype=str, keep_default_na=False)
        rows += [
            {"stimulus": stimulus_key(corpus, u, seed), "corpus": corpus, "utt_id": u, "emotion": e}
            for u, e in zip(df["utt_id"], df["emotion"], strict=True)
        ]
    stim = pd.DataFrame(rows, columns=["stimulus", "corpus", "utt_id", "emotion"])
    if stim.empty:
        raise InputError(next(iter(listening.values()), None), "no listening stimuli for the kit")
    dup = stim["stimulus"].duplicated(keep=False)
    if dup.any():  # 44-bit keys: only the same utterance listed twice gets here in practice
        first = stim[dup].iloc[0]
        raise InputError(
            listening[first["corpus"]],
            f"stimulus key {first['stimulus']} is not unique "
            f"(utterance {first['corpus']}/{first['utt_id']} listed twice?)",
        )
    return stim.sort_values("stimulus", ignore_index=True)


def _training(
    manifests: Mapping[str, str | Path], stim: pd.DataFrame, emotions: Sequence[str], per_emotion: int, seed: int
) -> pd.DataFrame:
    """Labelled examples for the training page: per corpus and emotion, utterances that are not
    test stimuli (seeded draw)."""
    rows = []
    rng = np.random.default_rng(seed)
    used = set(zip(stim["corpus"], stim["utt_id"], strict=True))
    for corpus, path in manifests.items():
        man = read_manifest(path)
        for emo in emotions:
            pool = sorted(u for u in man.loc[man["emotion"] == emo, "utt_id"].astype(str) if (corpus, u) not in used)
            if len(pool) < per_emotion:
                raise InputError(
                    path,
                    f"only {len(pool)} '{emo}' utterances outside the listening stimuli; "
                    f"the training page needs {per_emotion}",
                )
            for u in rng.choice(pool, size=per_emotion, replace=False):
                rows.append(
                    {
                        "stimulus": stimulus_key(corpus, str(u), seed, role="training"),
                        "corpus": corpus,
                        "utt_id": str(u),
                        "emotion": emo,
                    }
                )
    return pd.DataFrame(rows, columns=["stimulus", "corpus", "utt_id", "emotion"])


def kit_config(
    spec: KitSpec,
    keys: Sequence[str],
    emotions: Sequence[str],
    listener_column: str,
    training: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The webMUSHRA config (a dict in the order webMUSHRA's examples write it)."""
    if spec.language not in LANGUAGES:
        raise ValueError(f"test {spec.id}: language {spec.language!r} is not one webMUSHRA has {list(LANGUAGES)}")
    labels = {e: str(spec.labels.get(e, e)) for e in emotions}
    response = [{"value": e, "label": labels[e]} for e in emotions]
    audio = audio_dir(spec.id)
    pages: list[Any] = []
    if spec.instructions:
        pages.append(
            {
                "type": "generic",
                "id": "instructions",
                "name": spec.name,
                "content": f"{spec.instructions}<p>{html.escape(LISTENER_ID_NOTE)}</p>",
            }
        )
    if training is not None and len(training):
        rows = "".join(
            f"<tr><td>{html.escape(labels[r.emotion])}</td>"
            f"<td><audio controls preload='none' src='{audio}/{r.stimulus}.wav'></audio></td></tr>"
            for r in training.itertuples()
        )
        pages.append(
            {
                "type": "generic",
                "id": "training",
                "name": spec.name,
                "content": f"{TRAINING_CAPTION}<table>{rows}</table>",
            }
        )
    trials = [
        {
            "type": "likert_single_stimulus",
            "id": page_id(k),
            "name": spec.name,
            "content": spec.question,
            "mustRate": True,
            "mustPlayback": "ended",
            "stimuli": {k: f"{audio}/{k}.wav"},
            "response": [dict(r) for r in response],
        }
        for k in keys
    ]  # own copies: no YAML aliases
    pages.append(["random", *trials])
    pages.append(
        {
            "type": "finish",
            "name": spec.name,
            "content": f"{THANKS}<p>{html.escape(LISTENER_ID_NOTE)}</p>",
            "showResults": False,
            "writeResults": True,
            "questionnaire": [{"type": "text", "label": f"Listener ID ({LISTENER_ID_CHARS})", "name": listener_column}],
        }
    )
    return {
        "testname": spec.name,
        "testId": spec.id,
        "bufferSize": 2048,
        "stopOnErrors": True,
        "showButtonPreviousPage": False,
        "remoteService": "service/write.php",
        "language": spec.language,
        "pages": pages,
    }


def kit_readme(
    spec: KitSpec,
    stim: pd.DataFrame,
    emotions: Sequence[str],
    listener_column: str,
    n_training: int,
    n_limited: int = 0,
) -> str:
    per_corpus = ", ".join(f"{c}: {n}" for c, n in stim.groupby("corpus").size().items())
    groups = ", ".join(spec.groups) or "any"
    training = (
        f"\nTraining page: {n_training} labelled examples that are not test stimuli (training.csv)."
        if n_training
        else ""
    )
    loud = (
        f"normalised to {spec.loudness_dbfs:g} dBFS active RMS"
        if spec.loudness_normalise
        else "levels as in the corpus (no loudness normalisation)"
    )
    loud += f"; {n_limited} file(s) whose peak would pass full scale scaled down as a whole, never clipped"
    return f"""# Listening test `{spec.id}` (webMUSHRA kit, built by xlser)

{len(stim)} stimuli ({per_corpus}); listener groups: {groups}; answers: {", ".join(emotions)}
(labels: {", ".join(str(spec.labels.get(e, e)) for e in emotions)}).
Audio: 16-bit PCM WAV at the workflow's sample rate, {loud}.{training}

## Install
1. Get webMUSHRA (https://github.com/audiolabs/webMUSHRA) and serve it with PHP (its own
   README: a PHP web server, or its Docker image).
2. Copy this folder's `configs/` into the webMUSHRA root, next to its own `configs/`
   (the files merge: `configs/{spec.id}.yaml`, `{audio_dir(spec.id)}/*.wav`; every kit has
   its own audio folder, so several kits install into one webMUSHRA side by side).
3. Send listeners to `http://<server>/<webMUSHRA>/?config={spec.id}.yaml`. Each listener
   enters their listener id (field `{listener_column}`) on the last page; it must match the
   `listener` column of your `human.listeners` table.

## Listener ids
Give every listener an id made of {LISTENER_ID_CHARS}, e.g. `cn01` or `a.b@x.org`.
webMUSHRA sends the results without URL-encoding them: a `+` arrives as a space (`cn+1@x.org`
is stored as `cn 1@x.org`) and an id with `&` loses that listener's whole result ("An error
occured while sending your data to the server!"). The instruction and finish pages say so.
Ingestion stops at an id that matches no listener and names the likely one.

## Collect
webMUSHRA appends every finished session to `results/{spec.id}/lss.csv` in its root.
Copy that folder (e.g. to `/data/listening/results/{spec.id}`), add it to `human.webmushra`
in your config and run `snakemake table2 table3 stats`. The stimulus keys resolve through
this kit's `stimuli.csv` (`stimulus, corpus, utt_id`); keys are a keyed hash, so
rebuilding the kit with the same seed keeps them and collected answers stay valid.

Do not rename audio files or edit the YAML by hand: rebuild with `snakemake listening_kit`.
"""


def build_kit(
    out_dir: str | Path,
    spec: KitSpec,
    listening: Mapping[str, str | Path],
    manifests: Mapping[str, str | Path],
    emotions: Sequence[str],
    *,
    listener_column: str = "email",
) -> dict[str, int]:
    """Write a complete, validated kit to `out_dir` (built aside, moved into place only when valid)."""
    if not TEST_ID.match(spec.id):
        raise ValueError(f"test id {spec.id!r}: webMUSHRA names its results folder after it; use [a-z0-9_-]")
    out_dir = Path(out_dir)
    stim = _stimuli(listening, spec.seed)
    bad = sorted(set(stim["emotion"]) - set(emotions))
    if bad:
        raise InputError(next(iter(listening.values())), f"emotions {bad} are not in the configured {list(emotions)}")
    training = (
        _training({c: manifests[c] for c in listening}, stim, emotions, spec.training_per_emotion, spec.seed)
        if spec.training_per_emotion > 0
        else None
    )
    audio = pd.concat([stim, training]) if training is not None else stim
    paths = {}
    for corpus in audio["corpus"].unique():
        man = read_manifest(manifests[corpus])
        paths.update({(corpus, str(u)): p for u, p in zip(man["utt_id"], man["path"], strict=True)})

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".part", dir=out_dir.parent))
    try:
        (tmp / audio_dir(spec.id)).mkdir(parents=True)
        limited = 0
        for r in audio.itertuples():
            src = paths.get((r.corpus, r.utt_id))
            if src is None:
                raise InputError(
                    manifests[r.corpus], f"utterance {r.utt_id!r} of corpus {r.corpus} is not in the manifest"
                )
            try:
                wav, sr = sf.read(str(src), dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                raise InputError(src, f"unreadable audio ({exc})") from None
            pcm, lim = to_pcm16(wav.mean(axis=1), sr, normalise=spec.loudness_normalise, target_dbfs=spec.loudness_dbfs)
            limited += lim
            sf.write(str(tmp / audio_dir(spec.id) / f"{r.stimulus}.wav"), pcm, sr, subtype="PCM_16")
        if limited:
            log.warning("%d of %d files scaled down to keep their peak below full scale", limited, len(audio))
        cfg = kit_config(spec, list(stim["stimulus"]), emotions, listener_column, training)
        write_text(webmushra_yaml.dump(cfg), tmp / "configs" / f"{spec.id}.yaml")
        write_csv(stim[["stimulus", "corpus", "utt_id"]], tmp / "stimuli.csv")
        if training is not None:
            write_csv(training[["stimulus", "corpus", "utt_id", "emotion"]], tmp / "training.csv")
        write_text(
            kit_readme(spec, stim, emotions, listener_column, 0 if training is None else len(training), limited),
            tmp / "README.md",
        )
        validate_kit(tmp, spec.id, emotions=emotions, listener_column=listener_column)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    counts = {"stimuli": len(stim), "training": 0 if training is None else len(training)}
    log.info("kit %s: %s", spec.id, counts)
    return counts


# --------------------------------------------------------------------------- read/validate


@dataclass(frozen=True)
class KitPage:
    """One answer page: its id (lss.csv `trial_id`), stimulus key and response values."""

    id: str
    stimulus: str
    values: tuple[str, ...]


def _pages(items: Any, path: Path, where: str) -> list[dict]:
    """Flatten pages and nested page arrays (`random` only as an array's first element)."""
    if not isinstance(items, list):
        raise InputError(path, f"{where}: expected a list of pages")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, list):
            out += _pages(item, path, f"{where}[{i}]")
        elif item == "random":
            if i != 0:
                raise InputError(path, f"{where}[{i}]: 'random' must be the first element of a page array")
        elif isinstance(item, dict):
            out.append(item)
        else:
            raise InputError(path, f"{where}[{i}]: expected a page (mapping), got {item!r}")
    return out


def read_kit(kit_dir: str | Path, test_id: str) -> tuple[str, list[KitPage], dict[str, tuple[str, str]], list[str]]:
    """(testId, answer pages, stimulus table, finish-page questionnaire names) of a built kit."""
    kit_dir = Path(kit_dir)
    cfg_path = kit_dir / "configs" / f"{test_id}.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    pages = _pages(cfg.get("pages"), cfg_path, "pages")
    answers = [
        KitPage(str(p["id"]), str(next(iter(p["stimuli"]))), tuple(str(r["value"]) for r in p["response"]))
        for p in pages
        if p.get("type") == "likert_single_stimulus"
    ]
    finish = [p for p in pages if p.get("type") == "finish"]
    names = [str(q["name"]) for q in (finish[-1].get("questionnaire") or [])] if finish else []
    return str(cfg["testId"]), answers, read_stimuli(kit_dir / "stimuli.csv"), names


def _read_config(kit_dir: Path, test_id: str) -> tuple[Path, dict[str, Any]]:
    """The kit's webMUSHRA config, its top-level keys the ones webMUSHRA reads."""
    path = kit_dir / "configs" / f"{test_id}.yaml"
    if not path.is_file():
        raise InputError(path, "kit config missing")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({exc})") from None
    if not isinstance(cfg, dict):
        raise InputError(path, "expected a mapping at the top level")
    extra = set(cfg) - TOP_KEYS
    if extra:
        raise InputError(path, f"top-level keys {sorted(extra)} are not read by webMUSHRA (known: {sorted(TOP_KEYS)})")
    missing = TOP_KEYS - {"language"} - set(cfg)
    if missing:
        raise InputError(path, f"top-level keys {sorted(missing)} missing")
    if cfg["testId"] != test_id:
        raise InputError(path, f"testId {cfg['testId']!r} differs from the kit's name {test_id!r}")
    if cfg["bufferSize"] not in BUFFER_SIZES:
        raise InputError(path, f"bufferSize {cfg['bufferSize']} is not one of {sorted(BUFFER_SIZES)}")
    return path, cfg


@dataclass
class _PageScan:
    """What the pages checked so far use: page ids and stimulus keys (each once) and the audio
    files they play (kit-relative)."""

    kit_dir: Path
    path: Path  # the config, for messages
    emotions: Sequence[str] | None
    ids: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    played: set[str] = field(default_factory=set)

    def page(self, n: int, page: dict, in_random: bool) -> None:
        """One page: its keys the ones webMUSHRA reads for its type, its id unique, the audio it
        plays present; an answer page also as `answer_page` checks it."""
        path, kind = self.path, page.get("type")
        where = f"page {n + 1} ({kind}, id {page.get('id')!r})"
        if kind not in PAGE_KEYS:
            raise InputError(path, f"{where}: page type not supported here (known: {sorted(PAGE_KEYS)})")
        extra = set(page) - PAGE_KEYS[kind]
        if extra:
            raise InputError(path, f"{where}: keys {sorted(extra)} are not read by webMUSHRA for {kind} pages")
        missing = REQUIRED_PAGE_KEYS[kind] - set(page)
        if missing:
            raise InputError(path, f"{where}: keys {sorted(missing)} missing")
        if "id" in page:
            if str(page["id"]) in self.ids:
                raise InputError(path, f"{where}: page id used twice")
            self.ids.add(str(page["id"]))
        for src in re.findall(r"src=['\"]([^'\"]+)['\"]", str(page.get("content", ""))):
            self.played.add(_check_wav(self.kit_dir, src, path, where))
        if kind == "volume":
            self.played.add(_check_wav(self.kit_dir, str(page["stimulus"]), path, where))
        if kind == "likert_single_stimulus":
            self.answer_page(page, where, in_random)

    def answer_page(self, page: dict, where: str, in_random: bool) -> None:
        """An answer page sits in a `random` block, plays exactly one stimulus under a key of its
        own, and offers the configured emotions as response values."""
        path = self.path
        if not in_random:
            raise InputError(path, f"{where}: answer pages must sit in a 'random' block")
        stimuli = page["stimuli"]
        if not isinstance(stimuli, dict) or len(stimuli) != 1:
            raise InputError(path, f"{where}: expected exactly one stimulus, got {stimuli!r}")
        key, src = next(iter(stimuli.items()))
        if str(key) in self.keys:
            raise InputError(path, f"{where}: stimulus key {key!r} used twice")
        self.keys.add(str(key))
        self.played.add(_check_wav(self.kit_dir, str(src), path, where))
        resp = page["response"]
        if not isinstance(resp, list) or not all(
            isinstance(r, dict) and {"value", "label"} <= set(r) and set(r) <= RESPONSE_KEYS for r in resp
        ):
            raise InputError(
                path,
                f"{where}: response entries need 'value' and 'label' (and only keys in {sorted(RESPONSE_KEYS)})",
            )
        values = [str(r["value"]) for r in resp]
        if self.emotions is not None and values != list(self.emotions):
            raise InputError(path, f"{where}: response values {values} differ from the emotions {list(self.emotions)}")


def _check_finish(path: Path, top: list, pages: list[dict], listener_column: str | None) -> None:
    """One finish page, the last, outside any block: it writes the results and its questionnaire
    (items webMUSHRA knows) asks for the listener id column the ingestion reads."""
    finish = [p for p in pages if p.get("type") == "finish"]
    if len(finish) != 1 or pages[-1] is not finish[0] or not isinstance(top[-1], dict):
        raise InputError(path, "exactly one finish page, the last page (outside any block), is required")
    if finish[0].get("writeResults") is not True:
        raise InputError(path, "the finish page must set writeResults: true (else no lss.csv is written)")
    questions = finish[0].get("questionnaire") or []
    for q in questions:
        if (
            not isinstance(q, dict)
            or not set(q) <= QUESTION_KEYS
            or q.get("type") not in QUESTION_TYPES
            or "name" not in q
        ):
            raise InputError(
                path,
                f"finish questionnaire item {q!r}: expected type in {sorted(QUESTION_TYPES)}, "
                f"a name, and only keys in {sorted(QUESTION_KEYS)}",
            )
    if listener_column is not None and listener_column not in [q["name"] for q in questions]:
        raise InputError(path, f"the finish page does not ask for the listener id field {listener_column!r}")


def _check_audio_folder(kit_dir: Path, path: Path, test_id: str, played: set[str]) -> None:
    """Every file played lies in the test's own audio folder (kits installed into one webMUSHRA
    share `configs/resources/audio`), and every file there is played (the folder is copied as is)."""
    own = audio_dir(test_id)
    outside = sorted(src for src in played if not src.startswith(own + "/"))
    if outside:
        raise InputError(
            path,
            f"audio {outside[:3]} is outside the test's own folder {own}/: kits installed "
            "into one webMUSHRA would overwrite each other's files",
        )
    folder = kit_dir / own
    unplayed = sorted(f.name for f in folder.iterdir() if f"{own}/{f.name}" not in played)
    if unplayed:
        raise InputError(
            folder,
            f"files no page plays: {unplayed[:5]} (e.g. Snakemake's .snakemake_timestamp); "
            "the folder is copied into webMUSHRA as it is",
        )


def validate_kit(
    kit_dir: str | Path, test_id: str, *, emotions: Sequence[str] | None = None, listener_column: str | None = None
) -> int:
    """Check a kit as webMUSHRA and the ingestion will read it; returns the number of answer pages.

    Every page's keys are ones webMUSHRA reads for its type, every answer page plays exactly one
    stimulus whose file exists and is 16-bit PCM WAV, stimulus keys and page ids are unique,
    answer pages sit in a `random` block, `stimuli.csv` lists exactly the answer pages' keys,
    response values are the configured emotions, and the finish page writes results and asks
    for the listener id column.
    """
    kit_dir = Path(kit_dir)
    path, cfg = _read_config(kit_dir, test_id)
    top = cfg["pages"]
    pages = _pages(top, path, "pages")
    random_blocks = [b for b in top if isinstance(b, list) and b and b[0] == "random"]
    in_random = {id(p) for b in random_blocks for p in b if isinstance(p, dict)}
    scan = _PageScan(kit_dir, path, emotions)
    for n, page in enumerate(pages):
        scan.page(n, page, id(page) in in_random)
    _check_finish(path, top, pages, listener_column)
    if not scan.keys:
        raise InputError(path, "no likert_single_stimulus pages")
    _check_audio_folder(kit_dir, path, test_id, scan.played)
    table = read_stimuli(kit_dir / "stimuli.csv")
    if set(table) != scan.keys:
        miss, more = sorted(scan.keys - set(table)), sorted(set(table) - scan.keys)
        raise InputError(
            kit_dir / "stimuli.csv",
            f"does not match the pages: keys without a row {miss[:5]}, rows without a page {more[:5]}",
        )
    return len(scan.keys)


def _check_wav(kit_dir: Path, src: str, path: Path, where: str) -> str:
    """Check one played file; returns its path relative to the kit (= webMUSHRA) root."""
    f = kit_dir / src
    if not f.is_file():
        raise InputError(path, f"{where}: file {src} does not exist in the kit")
    try:
        info = sf.info(str(f))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InputError(f, f"unreadable audio ({exc})") from None
    if info.format != "WAV" or info.subtype != "PCM_16":
        raise InputError(f, f"expected 16-bit PCM WAV, got {info.format}/{info.subtype}")
    return src
