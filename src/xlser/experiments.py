"""The experiment grid: (model, train corpus, test corpus) triples and their setting.

A model has a pre-training language, a corpus a language. The setting follows:
mono (model = train = test language), cross (model = train language, test elsewhere),
trans (train = test corpus, in a language other than the model's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Setting = Literal["mono", "cross", "trans"]


@dataclass(frozen=True)
class Experiment:
    model: str
    train: str
    test: str
    setting: Setting

    @property
    def key(self) -> str:
        """The `{train}__{test}` part of output paths."""
        return f"{self.train}__{self.test}"


def ser_corpora(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Corpora that models are trained and tested on (role `ser`, the default)."""
    return {n: c for n, c in config["corpora"].items() if c.get("role", "ser") == "ser"}


def listening_corpora(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Corpora with a listening-test subset: every utterance-level emotion corpus."""
    return {n: c for n, c in config["corpora"].items() if c.get("role", "ser") in ("ser", "listening")}


def setting_of(model_lang: str, train_lang: str, test_lang: str, same_corpus: bool) -> Setting | None:
    """The setting of one triple, or None when it is none of the study's three."""
    if model_lang == train_lang == test_lang and same_corpus:
        return "mono"
    if model_lang == train_lang and test_lang != model_lang:
        return "cross"
    if same_corpus and train_lang != model_lang:
        return "trans"
    return None


def experiments(config: dict[str, Any], spec: str | list[dict[str, str]] | None = None) -> list[Experiment]:
    """Build the experiments from `spec` (default: `config['experiments']`).

    `grid` gives every mono/cross/trans triple of the configured models and `ser` corpora;
    a list of `{model, train, test}` restricts it (each entry must form a valid setting).
    """
    spec = config.get("experiments", "grid") if spec is None else spec
    models = config["models"]
    corpora = ser_corpora(config)
    if spec == "grid":
        out = []
        for m, mc in models.items():
            for tr, trc in corpora.items():
                for te, tec in corpora.items():
                    s = setting_of(mc["lang"], trc["lang"], tec["lang"], tr == te)
                    if s is not None:
                        out.append(Experiment(m, tr, te, s))
        return out
    out = []
    for i, e in enumerate(spec):
        for key, table in (("model", models), ("train", corpora), ("test", corpora)):
            if e[key] not in table:
                raise ValueError(f"experiments[{i}]: unknown {key} '{e[key]}' (known: {sorted(table)})")
        s = setting_of(models[e["model"]]["lang"], corpora[e["train"]]["lang"], corpora[e["test"]]["lang"],
                       e["train"] == e["test"])
        if s is None:
            raise ValueError(f"experiments[{i}]: {e} is neither mono, cross nor trans")
        out.append(Experiment(e["model"], e["train"], e["test"], s))
    return out


def source_corpus(config: dict[str, Any], model: str) -> str | None:
    """The corpus in the model's own language (the first stage of two-stage fine-tuning)."""
    lang = config["models"][model]["lang"]
    for name, c in ser_corpora(config).items():
        if c["lang"] == lang:
            return name
    return None
