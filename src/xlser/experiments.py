"""The experiment grid: (model, train corpus, test corpus) triples and their setting.

A model has a pre-training language, a corpus a language. The setting follows:
mono (model = train = test language), cross (model = train language, test elsewhere),
trans (train = test corpus, in a language other than the model's). The configured grid is
built once, in `xlser.config.resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


def setting_of(model_lang: str, train_lang: str, test_lang: str, same_corpus: bool) -> Setting | None:
    """The setting of one triple, or None when it is none of the study's three."""
    if model_lang == train_lang == test_lang and same_corpus:
        return "mono"
    if model_lang == train_lang and test_lang != model_lang:
        return "cross"
    if same_corpus and train_lang != model_lang:
        return "trans"
    return None
