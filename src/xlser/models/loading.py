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

A local folder's weight files are checked before loading (`check_weight_files`): a git-lfs
pointer where the weights should be (a repository cloned without git-lfs), a truncated
safetensors file or torch archive, a shard its index lists but the folder lacks: each a
`ModelLoadError` naming the folder, the file and the likely cause, for model.safetensors,
pytorch_model.bin and speechbrain's .ckpt files alike.
"""

from __future__ import annotations

import json
import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

#: weights that only SpecAugment masking (training mode) reads: missing ones are a warning
TRAIN_ONLY_WEIGHTS = ("masked_spec_embed",)


class ModelLoadError(RuntimeError):
    """A checkpoint that could not be loaded; the message names the id and what to check."""


#: what a git-lfs pointer file starts with: a repository cloned without git-lfs holds these
#: ~130-byte text files where the weights should be
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
#: weight files of Hugging Face (safetensors, torch .bin, shards) and speechbrain (.ckpt) checkpoints
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
_LFS_FIX = (
    "the folder was cloned without git-lfs: run `git lfs install && git lfs pull` in it, or download the "
    "checkpoint again (e.g. `huggingface-cli download <id> --local-dir <folder>`)"
)
_CUT_FIX = "the download or copy was cut off: download the checkpoint again (or copy the file again)"


def _lfs_size(head: bytes) -> str:
    for line in head.decode("utf-8", "replace").splitlines():
        if line.startswith("size "):
            return f"; the real file is {line.split()[1]} bytes"
    return ""


def _safetensors_problem(path: Path, size: int) -> str | None:
    """Why a .safetensors file is cut off (its header names more bytes than it has), or None."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            return f"it holds {size} bytes, less than a safetensors header"
        n = int.from_bytes(raw, "little")
        if 8 + n > size:
            return f"its header alone should be {n} bytes, the file has {size}"
        try:
            header = json.loads(fh.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError):
            return "its header is not valid safetensors JSON"
    expected = 8 + n + end
    return f"it should be {expected} bytes, the file has {size}" if size < expected else None


def weight_file_problem(path: Path) -> str | None:
    """What is wrong with one weight file, with the likely cause and fix, or None: a git-lfs
    pointer in place of the weights, a safetensors file shorter than its header says, a torch
    zip archive without its end (a legacy pickle `.bin` cannot be checked here)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(LFS_POINTER):
        return f"it is a git-lfs pointer ({size} bytes of text){_lfs_size(head)}: {_LFS_FIX}"
    if size == 0:
        return f"it is empty (0 bytes): {_CUT_FIX}"
    if path.suffix == ".safetensors":
        why = _safetensors_problem(path, size)
        return f"it is truncated ({why}): {_CUT_FIX}" if why else None
    if head.startswith(b"PK\x03\x04") and not zipfile.is_zipfile(path):
        return f"it is truncated (a torch zip archive without its end, {size} bytes): {_CUT_FIX}"
    return None


def check_weight_files(folder: str | Path) -> None:
    """ModelLoadError naming the folder, the file and the likely cause for the first weight file
    (any depth, hidden folders skipped) that is a git-lfs pointer or truncated, and for a shard
    that a `*.index.json` lists but the folder lacks. Loaders would otherwise fail deep inside
    safetensors or torch ("HeaderTooLarge", "invalid load key, 'v'") or not say which file."""
    folder = Path(folder)
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for f in files:
        if f.name.endswith(".index.json"):
            try:
                shards = set(json.loads(f.read_text(encoding="utf-8")).get("weight_map", {}).values())
            except (ValueError, AttributeError, UnicodeDecodeError):
                continue
            missing = sorted(s for s in shards if not (f.parent / s).is_file())
            if missing:
                raise ModelLoadError(
                    f"checkpoint folder '{folder}': {f.name} lists the weight file(s) {missing}, which the folder "
                    f"lacks: {_CUT_FIX}"
                )
        elif f.suffix in WEIGHT_SUFFIXES:
            why = weight_file_problem(f)
            if why:
                raise ModelLoadError(f"checkpoint folder '{folder}': weight file {f.relative_to(folder)}: {why}")


def damaged_weights(exc: BaseException) -> bool:
    """Whether a loader's exception says a weight file is damaged (a git-lfs pointer read as
    weights, a cut-off file): safetensors' errors, unpickling a text file, torch's zip reader."""
    text = str(exc)
    return (
        isinstance(exc, (EOFError, pickle.UnpicklingError))
        or type(exc).__name__ == "SafetensorError"
        or "invalid load key" in text
        or "PytorchStreamReader" in text
        or "HeaderTooLarge" in text
    )


def _explain(source: str, exc: Exception) -> ModelLoadError:
    where = "local folder" if Path(source).exists() else "model id"
    hint = (
        " A weight file is damaged: a git-lfs pointer (a clone without git-lfs: `git lfs pull`) or a cut-off "
        "download; download the checkpoint again."
        if damaged_weights(exc)
        else ""
    )
    return ModelLoadError(
        f"cannot load speech encoder '{source}' ({where}): {type(exc).__name__}: {exc}.{hint} "
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

    if Path(source).is_dir():
        check_weight_files(source)
    try:
        hub = {k: v for k, v in kwargs.items() if k in ("cache_dir", "revision", "local_files_only", "token")}
        check_speech_config(source, AutoConfig.from_pretrained(source, **hub))
        model, info = AutoModel.from_pretrained(source, output_loading_info=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise _explain(source, exc) from None
    except Exception as exc:  # a damaged weight file in the hub cache (local folders are checked above)
        if not damaged_weights(exc):
            raise
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
