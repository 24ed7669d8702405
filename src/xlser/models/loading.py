"""Load speech encoders exactly as the study's checkpoints are loaded: `from_pretrained`.

`source` is a Hugging Face hub id or a local folder written by `save_pretrained`; it comes
only from config. Works for wav2vec2, HuBERT, WavLM and data2vec-audio (AutoModel).

The study's checkpoints are saved as `Wav2Vec2ForPreTraining` / `Wav2Vec2ForCTC`: their
encoder weights sit under the `wav2vec2.` prefix, which `from_pretrained` strips into the
bare model. Every encoder weight the checkpoint lacks would be randomly initialised without
a word, so a missing one is an error that names it. A checkpoint without a
`preprocessor_config.json` gets the feature extractor its model config implies.

Only speech encoders that `xlser.models.encoder` can run are accepted: a CNN feature
encoder on the raw waveform (`feature_extractor` with conv layers) under a transformer, as
in wav2vec2, HuBERT, WavLM and data2vec-audio. Any other checkpoint (e.g. a BERT folder)
is rejected at load time, naming the folder and the model type found, instead of failing
later inside feature extraction.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

#: weights that only SpecAugment masking (training mode) reads: missing ones are a warning
TRAIN_ONLY_WEIGHTS = ("masked_spec_embed",)


class ModelLoadError(RuntimeError):
    """A checkpoint that could not be loaded; the message names the id and what to check."""


def _explain(source: str, exc: Exception) -> ModelLoadError:
    where = "local folder" if Path(source).exists() else "model id"
    return ModelLoadError(
        f"cannot load speech encoder '{source}' ({where}): {type(exc).__name__}: {exc}. "
        "The weights must be on disk (a folder written by save_pretrained, or the Hugging Face cache) "
        "or reachable on the hub; set HF_HOME or use a local path in the config's `models:` section."
    )


def _not_a_speech_encoder(source: str, model_type: str, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"'{source}' holds a '{model_type}' checkpoint, which the speech encoder cannot run ({why}); "
        "expected a wav2vec2-style speech encoder (a CNN on the raw waveform under a transformer: "
        "wav2vec2, HuBERT, WavLM, data2vec-audio); check the config's `models:` section."
    )


def check_speech_config(source: str, config: Any) -> None:
    """Reject, before any weight is read, a config without a CNN feature encoder (`conv_dim`)."""
    model_type = str(getattr(config, "model_type", type(config).__name__))
    if not getattr(config, "conv_dim", None) or not getattr(config, "conv_kernel", None):
        raise _not_a_speech_encoder(source, model_type, "its config has no CNN feature encoder (conv_dim)")


def check_speech_model(source: str, model: torch.nn.Module) -> None:
    """Reject a loaded model the encoder cannot run: it needs the CNN (`feature_extractor` with
    `conv_layers`) and the model's own frame-length arithmetic."""
    model_type = str(getattr(model.config, "model_type", type(model).__name__))
    cnn = model._modules.get("feature_extractor")
    if cnn is None or getattr(cnn, "conv_layers", None) is None:
        raise _not_a_speech_encoder(source, model_type, f"{type(model).__name__} has no CNN feature_extractor")
    if not callable(getattr(model, "_get_feat_extract_output_lengths", None)):
        raise _not_a_speech_encoder(source, model_type, f"{type(model).__name__} does not compute frame lengths")


def load_encoder(source: str, device: torch.device | str = "cpu", **kwargs: Any) -> torch.nn.Module:
    """The bare encoder (no task head) with every encoder weight from the checkpoint, in eval mode on `device`."""
    from transformers import AutoConfig, AutoModel

    try:
        hub = {k: v for k, v in kwargs.items() if k in ("cache_dir", "revision", "local_files_only", "token")}
        check_speech_config(source, AutoConfig.from_pretrained(source, **hub))
        model, info = AutoModel.from_pretrained(source, output_loading_info=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise _explain(source, exc) from None
    check_speech_model(source, model)
    missing = sorted(info.get("missing_keys") or [])
    train_only = [k for k in missing if k.split(".")[-1] in TRAIN_ONLY_WEIGHTS]
    missing = [k for k in missing if k not in train_only]
    if missing:
        raise ModelLoadError(
            f"speech encoder '{source}' lacks {len(missing)} encoder weight(s): {', '.join(missing[:20])}"
            + (" ..." if len(missing) > 20 else "")
            + ". They would be randomly initialised; give a complete checkpoint (a bare model, ForPreTraining "
            "or ForCTC saved with save_pretrained)."
        )
    if train_only:
        log.warning(
            "%s: no %s in the checkpoint (used only by SpecAugment masking in training mode): randomly initialised",
            source,
            ", ".join(train_only),
        )
    return model.to(device).eval()


def derived_feature_extractor(config: Any) -> Any:
    """The feature extractor a model config implies: 16 kHz, `do_normalize`; an attention mask
    only for a layer-norm CNN (a group-norm CNN, as in wav2vec2-base, was trained without one)."""
    from transformers import Wav2Vec2FeatureExtractor

    group_norm = getattr(config, "feat_extract_norm", "group") == "group"
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=not group_norm
    )


def _has_preprocessor_config(source: str) -> bool:
    from transformers.utils import cached_file

    if Path(source).is_dir():
        return (Path(source) / "preprocessor_config.json").is_file()
    try:
        return cached_file(source, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False) is not None
    except (OSError, ValueError):
        return True  # unreachable: let AutoFeatureExtractor say why


def load_feature_extractor(source: str) -> Any:
    """The checkpoint's feature extractor (normalisation, sampling rate, attention-mask use); derived
    from the model config, with a log line, when the checkpoint has no `preprocessor_config.json`."""
    from transformers import AutoConfig, AutoFeatureExtractor

    try:
        config = AutoConfig.from_pretrained(source)
        check_speech_config(source, config)
        if _has_preprocessor_config(source):
            return AutoFeatureExtractor.from_pretrained(source)
        fe = derived_feature_extractor(config)
    except (OSError, ValueError) as exc:
        raise _explain(source, exc) from None
    log.info(
        "%s has no preprocessor_config.json: feature extractor derived from the model config "
        "(sampling_rate 16000, do_normalize True, return_attention_mask %s)",
        source,
        fe.return_attention_mask,
    )
    return fe
