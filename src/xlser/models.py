"""Load speech encoders exactly as the study's checkpoints are loaded: `from_pretrained`.

`source` is a Hugging Face hub id or a local folder written by `save_pretrained`; it comes
only from config. Works for wav2vec2, HuBERT, WavLM and data2vec-audio (AutoModel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class ModelLoadError(RuntimeError):
    """A checkpoint that could not be loaded; the message names the id and what to check."""


def _explain(source: str, exc: Exception) -> ModelLoadError:
    where = "local folder" if Path(source).exists() else "model id"
    return ModelLoadError(
        f"cannot load speech encoder '{source}' ({where}): {type(exc).__name__}: {exc}. "
        "The weights must be on disk (a folder written by save_pretrained, or the Hugging Face cache) "
        "or reachable on the hub; set HF_HOME or use a local path in the config's `models:` section."
    )


def load_encoder(source: str, device: torch.device | str = "cpu", **kwargs: Any) -> torch.nn.Module:
    """The bare encoder (no task head), in eval mode on `device`."""
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(source, **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _explain(source, exc) from None
    return model.to(device).eval()


def load_feature_extractor(source: str) -> Any:
    """The checkpoint's feature extractor (normalisation, sampling rate, attention-mask use)."""
    from transformers import AutoFeatureExtractor

    try:
        return AutoFeatureExtractor.from_pretrained(source)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _explain(source, exc) from None
