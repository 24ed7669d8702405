"""The validated config, resolved once into typed, immutable settings.

Defaults live in the JSON schema alone (`config.schema.yaml`); `resolve` validates the
config, applies the defaults once (in place, as Snakemake's `validate` does, so a rule that
reads `config` sees them too), checks the references between sections and returns frozen
dataclasses. Rules take their params from here, in canonical form (`canonical`): only the
values a job uses, dicts with sorted keys, so that reordering keys, moving the folder or
adding an experiment re-plans nothing that did not change.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from xlser import paths
from xlser.contracts import load_schema
from xlser.errors import ConfigError
from xlser.experiments import Experiment, setting_of
from xlser.finetuning import Adapter, Finetune, Layer, Lora, check_plan, job_layer, job_settings
from xlser.sections import Demo, Features, Human, Optim, Peft, Probe, Sed, Splits, canonical, frozen
from xlser.spelling import spell_config

__all__ = [
    "Optim",
    "Settings",
    "canonical",
    "check_paths",
    "path_problems",
    "resolve",
    "schema_defaults",
    "validate_config",
]

# corpus keys that do not change what `scan_corpus` reads (split, role, fold lists)
NOT_SCANNED = frozenset({"split_by", "role", "folds", "lang", "missing_emotions"})


@dataclass(frozen=True)
class Corpus:
    name: str
    format: str
    root: str
    lang: str
    role: str
    split_by: str
    spec: Mapping[str, Any]  # the whole (defaulted) entry

    @property
    def scan_spec(self) -> dict[str, Any]:
        """What the corpus scan reads: the entry without split/role keys, canonical."""
        return canonical({k: v for k, v in self.spec.items() if k not in NOT_SCANNED} | {"lang": self.lang})

    @property
    def folds(self) -> str:
        """The folder of the study's published fold lists (`corpora.<name>.folds`), '' for none."""
        return self.spec.get("folds", "")

    @property
    def missing_emotions(self) -> str:
        """`error` or `allow`: what a configured emotion the corpus lacks does."""
        return self.spec["missing_emotions"]


@dataclass(frozen=True)
class Model:
    name: str
    source: str
    lang: str


@dataclass(frozen=True)
class PeftJob:
    """One fine-tuning job: an experiment, a strategy and a fold."""

    experiment: Experiment
    strategy: str
    fold: int

    @property
    def wildcards(self) -> dict[str, Any]:
        e = self.experiment
        return {"model": e.model, "train": e.train, "test": e.test, "strategy": self.strategy, "fold": self.fold}

    @property
    def dir(self) -> str:
        return paths.fill(paths.PEFT_JOB, **self.wildcards)


@dataclass(frozen=True)
class Settings:
    """The whole resolved config: top-level values, corpora, models, the experiments and
    fine-tuning jobs they make, and one typed object per section (xlser.sections). `raw` is
    the defaulted config (read-only by convention: the user-path check walks it)."""

    emotions: tuple[str, ...]
    sample_rate: int
    device: str
    torch_threads: int
    gpu_job_threads: int
    corpora: Mapping[str, Corpus]
    models: Mapping[str, Model]
    experiments: tuple[Experiment, ...]
    peft_experiments: tuple[Experiment, ...]
    peft_jobs: tuple[PeftJob, ...]
    splits: Splits
    features: Features
    probe: Probe
    peft: Peft
    sed: Sed
    human: Human
    demo: Demo
    rehearsal: dict[str, Any] | None  # as tools/rehearsal.py wrote it (key order kept: a param)
    raw: Mapping[str, Any] = field(repr=False)

    # ---- corpora by role
    def corpora_with_role(self, *roles: str) -> list[str]:
        return [n for n, c in self.corpora.items() if c.role in roles]

    @property
    def ser_corpora(self) -> list[str]:
        """Corpora that models are trained and tested on."""
        return self.corpora_with_role("ser")

    @property
    def listening_corpora(self) -> list[str]:
        """Utterance-level emotion corpora with a listening-test subset."""
        return self.corpora_with_role("ser", "listening")

    @property
    def listening_langs(self) -> dict[str, dict[str, str]]:
        """{corpus: {lang}} of the listening corpora: all that the human tables know of them."""
        return canonical({c: {"lang": self.corpora[c].lang} for c in self.listening_corpora})

    # ---- what the config runs
    @property
    def has_models(self) -> bool:
        return bool(self.models)

    @property
    def has_sed(self) -> bool:
        return bool(self.sed.models)

    @property
    def has_human(self) -> bool:
        return self.human.listeners is not None

    # ---- lookups
    def experiment(self, model: str, train: str, test: str) -> Experiment:
        """The configured experiment (layer-wise or PEFT) of a (model, train, test) triple."""
        for e in (*self.experiments, *self.peft_experiments):
            if (e.model, e.train, e.test) == (model, train, test):
                return e
        raise ConfigError(f"({model}, {train}, {test}) is not a configured experiment")

    def source_corpus(self, model: str) -> str | None:
        """The corpus in the model's own language: the first stage of two-stage fine-tuning."""
        return source_corpus(self.models, self.corpora, model)

    def model_source(self, name: str) -> str:
        """Hub id or local folder of a model from `models`, or the folder of a demo model."""
        if name in self.models:
            return self.models[name].source
        return paths.fill(paths.DEMO_MODEL, model=name)

    # ---- one fine-tuning job
    def finetune_settings(self, strategy: str, train: str, test: str) -> tuple[Finetune, Lora | None, Adapter | None]:
        """(Finetune, Lora, Adapter) of one job: only what it uses (None otherwise), so that
        another strategy's or experiment's settings never re-plan it."""
        return job_settings(
            self.peft.section,
            strategy=strategy,
            train=train,
            test=test,
            cross_val_on=self.splits.cross_val_on,
            threads=self.torch_threads,
        )

    def finetune_layer(self, model: str, train: str, test: str, strategy: str) -> Layer:
        """The job's layer: pinned in the config, or the row of best_layers.csv that chooses it
        (a two-stage job may take another experiment's)."""
        return job_layer(
            self.peft.section,
            model=model,
            train=train,
            test=test,
            strategy=strategy,
            source_corpus=self.source_corpus(model),
            layerwise={(e.model, e.train, e.test) for e in self.experiments},
        )

    # ---- user paths
    @property
    def demo_outputs(self) -> list[str]:
        """The user paths that the embedded demo's rules make: its corpora, models, listeners."""
        h = self.human
        return (
            [self.corpora[c].root for c in self.demo.corpora if c in self.corpora]
            + [paths.fill(paths.DEMO_MODEL, model=m) for m in self.demo.models]
            + ([h.listeners, *h.webmushra, *h.responses[:1]] if self.demo.listeners is not None else [])
        )

    @functools.cached_property
    def path_problems(self) -> dict[str, str]:
        """`path_problems` of the config (checked once, at start-up), but for what the demo's
        rules make: {key path: the problem, naming the value and what belongs there}."""
        return path_problems(self.raw, produced=self.demo_outputs)

    def check_paths(self, *keys: str, but_not: Sequence[str] = ()) -> list[str]:
        """The problems (`path_problems` lines) of the paths under `keys` but not under
        `but_not`: what one job reads. Its input functions raise them (`paths_error`) while
        Snakemake plans, so only the jobs the requested targets need stop the run, before any
        job starts; a section no planned job reads may stay a placeholder."""
        return [
            line
            for key, line in self.path_problems.items()
            if under(key, keys) and not (but_not and under(key, but_not))
        ]


# ---- helpers


def source_corpus(models: Mapping[str, Model], corpora: Mapping[str, Corpus], model: str) -> str | None:
    lang = models[model].lang
    return next((n for n, c in corpora.items() if c.role == "ser" and c.lang == lang), None)


def _defaulting_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator that fills in `default`s while it validates (also inside
    `allOf`, `$ref` and `additionalProperties`, wherever a `properties` keyword is met)."""
    base = jsonschema.Draft202012Validator

    def properties(validator: Any, props: dict[str, Any], instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, props, instance, schema)

    cls = jsonschema.validators.extend(base, {"properties": properties})
    return cls(schema)


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "<top level>"


#: keys the schema once accepted that nothing read (a silent no-op): (section pattern, key) ->
#: what to use instead. They are unknown keys now, named with this hint.
RETIRED: dict[tuple[str, str], str] = {
    ("corpora.*", "styles"): (
        "no adapter reads it: PAVOQUE's styles are mapped by their built-in names (Spike/angry -> angry, "
        "Poppy/happy -> happy, Neutral -> neutral, Obadiah/sad -> sad); rename or add a label with "
        "`label_map` (e.g. `label_map: {poker: neutral}`) and remove `styles`"
    ),
    ("resample", "workers"): (
        "nothing reads it: resampling runs with the threads of rule resample_corpus (4); remove it and "
        "give the rule threads with `--set-threads resample_corpus=N` (or `set-threads` in a profile)"
    ),
}


def _retired(error: jsonschema.ValidationError) -> list[str]:
    """The retired keys an `additionalProperties` error is about, each with what to use instead."""
    parts = [str(p) for p in error.absolute_path]
    if not isinstance(error.instance, dict):
        return []
    known = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
    out = []
    for key in sorted(set(error.instance) - known):
        for (section, name), hint in RETIRED.items():
            pattern = section.split(".")
            if name == key and len(pattern) == len(parts) and all(a in ("*", b) for a, b in zip(pattern, parts)):
                out.append(f"config {'.'.join([*parts, key])}: {hint}")
    return out


def validate_config(config: dict[str, Any]) -> None:
    """Validate `config` against the schema and fill in its defaults, in place."""
    validator = _defaulting_validator(load_schema("config"))
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        lines = []
        for e in errors[:8]:
            msg = e.message
            if e.validator == "additionalProperties":
                msg = f"unknown key(s): {msg.split('(')[-1].rstrip(')')}"
                lines += _retired(e)
            lines.append(f"config {_where(e)}: {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's defaults of one top-level section (for library users and tests that build
    settings without a config file)."""
    cfg: dict[str, Any] = {
        "emotions": ["a", "b"],
        "corpora": {"c": {"format": "csv", "root": ".", "lang": "X"}},
        "splits": {"train_per_emotion": 1, "val": 2, "test": 2, "folds": 1},
        section: {},
    }
    validate_config(cfg)
    return cfg[section]


def _experiments(
    spec: str | Sequence[Mapping[str, str]], models: Mapping[str, Model], corpora: Mapping[str, Corpus], key: str
) -> tuple[Experiment, ...]:
    """`grid`: every mono/cross/trans triple of the models and `ser` corpora; a list restricts it."""
    ser = {n: c for n, c in corpora.items() if c.role == "ser"}
    if spec == "grid":
        out = []
        for m, mc in models.items():
            for tr, trc in ser.items():
                for te, tec in ser.items():
                    s = setting_of(mc.lang, trc.lang, tec.lang, tr == te)
                    if s is not None:
                        out.append(Experiment(m, tr, te, s))
        return tuple(out)
    out = []
    for i, e in enumerate(spec):
        for part, table in (("model", models), ("train", ser), ("test", ser)):
            if e[part] not in table:
                what = "model" if part == "model" else "corpus with role ser"
                raise ConfigError(f"config {key}[{i}].{part}: '{e[part]}' names no {what} (known: {sorted(table)})")
        s = setting_of(models[e["model"]].lang, ser[e["train"]].lang, ser[e["test"]].lang, e["train"] == e["test"])
        if s is None:
            raise ConfigError(f"config {key}[{i}]: {dict(e)} is neither mono, cross nor trans")
        exp = Experiment(e["model"], e["train"], e["test"], s)
        if exp in out:
            raise ConfigError(f"config {key}[{i}]: {dict(e)} is listed twice")
        out.append(exp)
    return tuple(out)


def _two_stage_experiments(
    peft: Mapping[str, Any], exps: Sequence[Experiment], models: Mapping[str, Model], corpora: Mapping[str, Corpus]
) -> set[Experiment]:
    """The experiments that run two_stage: `trans` ones (train on the model language first),
    all of them or those `peft.two_stage.experiments` lists (the study ran two pairs); a
    listed one that is no trans PEFT experiment is an error naming it."""
    trans = {e for e in exps if e.setting == "trans" and source_corpus(models, corpora, e.model) is not None}
    only = peft["two_stage"].get("experiments")
    if only is None:
        return trans
    chosen = set()
    for i, x in enumerate(only):
        hit = [e for e in trans if (e.model, e.train, e.test) == (x["model"], x["train"], x["test"])]
        if not hit:
            raise ConfigError(
                f"config peft.two_stage.experiments[{i}]: {dict(x)} is not a trans-lingual experiment "
                "of peft.experiments (two_stage trains on the model's language first)"
            )
        chosen |= set(hit)
    return chosen


def _check_references(
    cfg: Mapping[str, Any], corpora: Mapping[str, Corpus], models: Mapping[str, Model], emotions: Sequence[str]
) -> None:
    """References between sections name things that exist (the schema cannot check these)."""
    sed = cfg.get("sed") or {}
    if sed:
        if "corpus" in sed and sed["corpus"] not in corpora:
            raise ConfigError(f"config sed.corpus: '{sed['corpus']}' names no corpus (known: {sorted(corpora)})")
        for name, spec in (sed.get("models") or {}).items():
            for i, c in enumerate(spec.get("train_corpora", [])):
                if c not in corpora:
                    raise ConfigError(
                        f"config sed.models.{name}.train_corpora[{i}]: '{c}' names no corpus (known: {sorted(corpora)})"
                    )
        for i, e in enumerate(sed.get("emotions") or []):
            if e not in emotions:
                raise ConfigError(f"config sed.emotions[{i}]: '{e}' is not one of emotions {list(emotions)}")
    listening = sorted(n for n, c in corpora.items() if c.role in ("ser", "listening"))
    for i, test in enumerate((cfg.get("human") or {}).get("tests") or []):
        for j, c in enumerate(test.get("corpora") or []):
            if c not in listening:
                raise ConfigError(
                    f"config human.tests[{i}].corpora[{j}]: '{c}' names no corpus with listening stimuli "
                    f"(role ser or listening: {listening})"
                )
    for name, c in corpora.items():
        for label, target in (c.spec.get("label_map") or {}).items():
            if target is not None and target not in emotions:
                raise ConfigError(
                    f"config corpora.{name}.label_map.{label}: '{target}' is not one of emotions "
                    f"{list(emotions)} (null drops the label)"
                )


def resolve(config: dict[str, Any]) -> Settings:
    """Validate `config` (filling in defaults, in place), put its labels and language codes
    into one spelling (xlser.spelling, in place) and resolve it into `Settings`."""
    validate_config(config)
    spell_config(config)
    emotions = tuple(config["emotions"])
    corpora = {
        n: Corpus(
            name=n,
            format=c["format"],
            root=c["root"],
            lang=c["lang"],
            role=c["role"],
            split_by=c["split_by"],
            spec=canonical(c),
        )
        for n, c in config["corpora"].items()
    }
    models = {n: Model(name=n, source=m["source"], lang=m["lang"]) for n, m in (config.get("models") or {}).items()}
    _check_references(config, corpora, models, emotions)
    experiments = _experiments(config["experiments"], models, corpora, "experiments") if models else ()
    peft = config.get("peft") or {}
    peft_exps: tuple[Experiment, ...] = ()
    jobs: list[PeftJob] = []
    if models and peft.get("strategies"):
        peft_exps = _experiments(peft.get("experiments", "grid"), models, corpora, "peft.experiments")
        folds = peft.get("folds", list(range(config["splits"]["folds"])))
        for i, f in enumerate(folds):
            if f >= config["splits"]["folds"]:
                raise ConfigError(
                    f"config peft.folds[{i}]: fold {f} does not exist (splits.folds = {config['splits']['folds']})"
                )
        two_stage = (
            _two_stage_experiments(peft, peft_exps, models, corpora) if "two_stage" in peft["strategies"] else set()
        )
        for e in peft_exps:
            for s in peft["strategies"]:
                if s == "two_stage" and e not in two_stage:
                    continue
                jobs += [PeftJob(e, s, int(f)) for f in folds]
        # every job's layer is pinned or chosen by a layer-wise experiment that runs (xlser.peft.settings)
        check_plan(
            peft,
            dict.fromkeys((j.experiment.model, j.experiment.train, j.experiment.test, j.strategy) for j in jobs),
            {(e.model, e.train, e.test) for e in experiments},
            {m: source_corpus(models, corpora, m) for m in models},
        )
    return Settings(
        emotions=emotions,
        sample_rate=int(config["sample_rate"]),
        device=config["device"],
        torch_threads=config["torch_threads"],
        gpu_job_threads=config["gpu_job_threads"] or config["torch_threads"],  # unset: the CPUs they compute with
        corpora=corpora,
        models=models,
        experiments=experiments,
        peft_experiments=peft_exps,
        peft_jobs=tuple(jobs),
        splits=Splits(**{k: frozen(v) for k, v in config["splits"].items()}),
        features=Features(**config["features"]),
        probe=Probe(**config["probe"]),
        peft=Peft.from_section(peft, planned=bool(peft_exps)),
        sed=Sed.from_section(config.get("sed")),
        human=Human.from_section(config.get("human")),
        demo=Demo.from_section(config.get("demo")),
        rehearsal=copy.deepcopy(config["rehearsal"]) if "rehearsal" in config else None,
        raw=config,
    )


# ---- user paths: placeholders and missing files stop the jobs that read them, before any job runs

PLACEHOLDER = "/path/to"

# (key pattern, what it names, kind): `*` is any corpus or model name, `[]` any list item
USER_PATHS: tuple[tuple[str, str, str], ...] = (
    ("corpora.*.root", "the corpus folder", "dir"),
    ("corpora.*.folds", "the study's fold lists of the corpus (<dir>/{train,eval,test}/metadata_fold<k>.csv)", "dir"),
    ("models.*.source", "a local checkpoint folder (or a hub id such as org/name)", "model"),
    ("sed.models.*.source", "a local checkpoint folder (or a hub id such as org/name)", "model"),
    ("sed.subset", "the CSV of the pinned SED utterances (utt_id column)", "file"),
    ("human.listeners", "the listener table (listener, group, ...)", "file"),
    ("human.webmushra[]", "a webMUSHRA results/<testId> folder holding lss.csv", "webmushra"),
    ("human.responses[]", "a long CSV of listening answers", "file"),
    ("human.stimuli", "the stimulus table of the listening test", "file"),
)


def looks_like_path(source: str) -> bool:
    """A model `source` that names a folder rather than a hub id (`name` or `org/name`):
    absolute, home- or dot-relative, or more than one `/` deep."""
    s = source.replace("\\", "/")
    return s.startswith(("/", "~", "./", "../")) or s in (".", "..") or s.rstrip("/").count("/") >= 2


def _user_paths(config: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(key path, value, what it names, kind) of every path-valued key that is set."""
    for pattern, what, kind in USER_PATHS:
        nodes: list[tuple[str, Any]] = [("", config)]
        for part in pattern.split("."):
            many = part.endswith("[]")
            name = part[:-2] if many else part
            nxt: list[tuple[str, Any]] = []
            for where, node in nodes:
                if not isinstance(node, Mapping):
                    continue
                items = list(node.items()) if name == "*" else [(name, node[name])] if name in node else []
                for k, v in items:
                    key = f"{where}.{k}" if where else str(k)
                    if many and isinstance(v, (list, tuple)):
                        nxt += [(f"{key}[{i}]", x) for i, x in enumerate(v)]
                    elif not many or v is not None:
                        nxt.append((key, v))
            nodes = nxt
        for key, value in nodes:
            if isinstance(value, str):
                yield key, value, what, kind


def _placeholders(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _placeholders(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _placeholders(v, f"{where}[{i}]")
    elif isinstance(node, str) and PLACEHOLDER in node:
        yield where, node


def under(key: str, prefixes: Iterable[str]) -> bool:
    """`key` is one of `prefixes` or lies inside one (`human.webmushra[0]` is under `human.webmushra`
    and `human`; `corpora.ESD.root` is not under `corpora.E`)."""
    return any(key == p or key.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def path_problems(config: Mapping[str, Any], produced: Iterable[str] = (), base: str | None = None) -> dict[str, str]:
    """{key path: what is wrong with it and what belongs there} for every `/path/to/...`
    placeholder left in `config` and every configured corpus root, fold-list folder, local
    checkpoint and listening-test file that does not exist or is of the wrong kind.

    `produced`: paths that jobs of this workflow make (the embedded demo's corpora, models
    and listeners), not checked. Relative paths are read from `base` (default: the current
    folder, which is Snakemake's working directory). Hub ids (`org/name`) are not checked.
    """
    made = {os.path.normpath(p) for p in produced}
    problems: dict[str, str] = {}
    for key, value, what, kind in _user_paths(config):
        problem = _path_problem(value, what, kind, made, base)
        if problem:
            problems[key] = f"config {key}: '{value}' {problem}"
    for key, value in _placeholders(config):
        problems.setdefault(key, f"config {key}: '{value}' is a placeholder; replace it with your own value")
    return problems


def _path_problem(value: str, what: str, kind: str, made: set[str], base: str | None) -> str:
    """What is wrong with one configured path ('' when nothing is)."""
    if PLACEHOLDER in value:
        return f"is a placeholder; set it to {what}"
    if os.path.normpath(value) in made or (kind == "model" and not looks_like_path(value)):
        return ""
    path = os.path.join(base or os.getcwd(), os.path.expanduser(value))
    want_dir = kind in ("dir", "model", "webmushra")
    if not os.path.exists(path):
        return f"does not exist; set it to {what}"
    if want_dir != os.path.isdir(path):
        return f"is a {'file' if want_dir else 'folder'}; set it to {what}"
    if kind == "webmushra" and not os.path.isfile(os.path.join(path, "lss.csv")):
        return f"holds no lss.csv; set it to {what}"
    return ""


def paths_error(lines: Sequence[str], base: str | None = None, needed_by: str = "") -> ConfigError:
    """One error listing `lines` (path_problems' values): what to fill in or fix, and where."""
    return ConfigError(
        f"{len(lines)} path(s) to fill in or fix in the config{needed_by} (relative paths are read "
        f"from {base or os.getcwd()}; keys: config/README.md):\n  " + "\n  ".join(lines)
    )


def check_paths(
    config: Mapping[str, Any],
    produced: Iterable[str] = (),
    base: str | None = None,
    keys: Iterable[str] | None = None,
    but_not: Iterable[str] = (),
) -> None:
    """`path_problems` of `config` as one `ConfigError` naming each key path, its value and
    what to put there; only those under `keys` (and not under `but_not`) when `keys` is given:
    the paths one job reads (`Settings.check_paths`)."""
    problems = path_problems(config, produced, base)
    keys, but_not = (None if keys is None else tuple(keys)), tuple(but_not)
    lines = [
        line
        for key, line in problems.items()
        if (keys is None or under(key, keys)) and not (but_not and under(key, but_not))
    ]
    if lines:
        raise paths_error(lines, base)
