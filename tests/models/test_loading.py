"""Checkpoints load as the study's do (ForPreTraining / ForCTC into the bare encoder), and loudly when not."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC, Wav2Vec2ForPreTraining

from tiny_encoders import LAYER_NORM, TINY, feature_extractor
from xlser.models.loading import ModelLoadError, load_encoder, load_feature_extractor


def saved(path, cls, **extra):
    torch.manual_seed(0)
    cfg = Wav2Vec2Config(**{**TINY, **extra}, vocab_size=12)
    full = cls(cfg)
    with torch.no_grad():  # no weight left at a value a fresh init would reproduce
        for p in full.parameters():
            p.add_(torch.rand_like(p))
    full.save_pretrained(path)
    return full.wav2vec2


@pytest.mark.parametrize("cls", [Wav2Vec2ForPreTraining, Wav2Vec2ForCTC])
def test_task_checkpoints_load_every_encoder_weight(tmp_path, cls):
    source = saved(tmp_path, cls)
    feature_extractor("wav2vec2-group").save_pretrained(tmp_path)
    model = load_encoder(str(tmp_path))
    want, got = source.state_dict(), model.state_dict()
    assert set(got) == set(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert not model.training


def test_a_missing_encoder_weight_is_an_error_naming_it(tmp_path):
    saved(tmp_path, Wav2Vec2ForPreTraining)
    weights = load_file(tmp_path / "model.safetensors")
    gone = "wav2vec2.encoder.layers.1.feed_forward.output_dense.weight"
    del weights[gone]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(
        ModelLoadError,
        match=r"lacks 1 encoder weight.*encoder\.layers\.1\.feed_forward\.output_dense"
        r"\.weight",
    ):
        load_encoder(str(tmp_path))


@pytest.mark.parametrize("norm,mask", [("group", False), ("layer", True)])
def test_a_folder_without_preprocessor_config_gets_one_from_the_model_config(tmp_path, caplog, norm, mask):
    saved(tmp_path, Wav2Vec2ForCTC, **(LAYER_NORM if norm == "layer" else {}))
    assert not (tmp_path / "preprocessor_config.json").exists()
    with caplog.at_level(logging.INFO, logger="xlser.models.loading"):
        fe = load_feature_extractor(str(tmp_path))
    assert fe.return_attention_mask is mask and fe.do_normalize is True and fe.sampling_rate == 16000
    assert "no preprocessor_config.json" in caplog.text and "derived from the model config" in caplog.text


def test_a_shipped_preprocessor_config_is_used_as_is(tmp_path):
    saved(tmp_path, Wav2Vec2ForCTC)
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=False, return_attention_mask=True).save_pretrained(
        tmp_path
    )
    fe = load_feature_extractor(str(tmp_path))
    assert fe.do_normalize is False and fe.return_attention_mask is True


def tiny_bert(path):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(
        BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    ).save_pretrained(path)
    return str(path)


def test_a_non_speech_checkpoint_is_rejected_naming_folder_and_type(tmp_path):
    source = tiny_bert(tmp_path / "bert")
    for load in (load_encoder, load_feature_extractor):
        with pytest.raises(
            ModelLoadError,
            match=rf"'{source}' holds a 'bert' checkpoint, which the speech encoder "
            r"cannot run \(its config has no CNN feature encoder",
        ):
            load(source)


def test_a_speech_config_over_a_model_without_cnn_is_rejected(tmp_path):
    # the structural check behind the config check: a loaded model the encoder cannot drive
    from xlser.models.loading import check_speech_model

    bert = __import__("transformers").BertModel.from_pretrained(tiny_bert(tmp_path / "bert"))
    with pytest.raises(ModelLoadError, match=r"'x' holds a 'bert' checkpoint.*BertModel has no CNN feature_extractor"):
        check_speech_model("x", bert)


@pytest.mark.parametrize("kind", ["wav2vec2-group", "wav2vec2-layer", "hubert-group", "wavlm-group", "data2vec-audio"])
def test_every_speech_encoder_kind_loads(tmp_path, kind):
    from tiny_encoders import save_tiny

    model = load_encoder(save_tiny(tmp_path, kind))
    expected = {"data2vec-audio": "data2vec-audio"}.get(kind, kind.rsplit("-", 1)[0])
    assert model.config.model_type == expected and not model.training


# ---- issue 31: weight files that are not what they seem


LFS = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4f1c5b3e0e6f9a7c2d8b1a0e9f8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d\n"
    "size 377607901\n"
)


def _checkpoint(path, weights: str):
    """A tiny wav2vec2 folder saved as safetensors (`model.safetensors`) or torch (`pytorch_model.bin`)."""
    from tiny_encoders import tiny_model

    model = tiny_model("wav2vec2-group")
    model.save_pretrained(path)
    feature_extractor("wav2vec2-group").save_pretrained(path)
    if weights == "pytorch_model.bin":  # the torch format of older checkpoints (transformers writes safetensors)
        (path / "model.safetensors").unlink()
        torch.save(model.state_dict(), path / weights)
    return path / weights


@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin"])
def test_a_git_lfs_pointer_instead_of_the_weights_names_folder_file_and_fix(tmp_path, weights):
    f = _checkpoint(tmp_path / "W2V2", weights)
    load_encoder(str(tmp_path / "W2V2"))  # intact: loads
    f.write_text(LFS)  # what `git clone` without git-lfs leaves
    with pytest.raises(ModelLoadError) as info:
        load_encoder(str(tmp_path / "W2V2"))
    msg = str(info.value)
    assert f"checkpoint folder '{tmp_path / 'W2V2'}': weight file {weights}: it is a git-lfs pointer" in msg
    assert "the real file is 377607901 bytes" in msg and "git lfs pull" in msg, msg


@pytest.mark.parametrize(
    ("weights", "cut"), [("model.safetensors", 0.5), ("pytorch_model.bin", 0.5), ("model.safetensors", 0)]
)
def test_a_truncated_weight_file_names_folder_file_and_fix(tmp_path, weights, cut):
    f = _checkpoint(tmp_path / "W2V2", weights)
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ModelLoadError, match=rf"'{tmp_path / 'W2V2'}': weight file {weights}: it is (truncated|empty)"):
        load_encoder(str(tmp_path / "W2V2"))
    with pytest.raises(ModelLoadError, match=r"download the checkpoint again"):
        load_encoder(str(tmp_path / "W2V2"))


def test_a_shard_the_index_lists_but_the_folder_lacks(tmp_path):
    import json

    from xlser.models.loading import check_weight_files

    f = _checkpoint(tmp_path / "W2V2", "model.safetensors")
    f.rename(tmp_path / "W2V2" / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (tmp_path / "W2V2" / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=r"lists the weight file\(s\) \['model-00002-of-00002\.safetensors'\]"):
        check_weight_files(tmp_path / "W2V2")


def test_a_speechbrain_checkpoint_with_a_git_lfs_pointer(tmp_path):
    """The SED model's speechbrain folder (hyperparams.yaml, *.ckpt) is checked the same way."""
    from xlser.sed.backends import SpeechBrainDiarizer

    folder = tmp_path / "sed"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text("# stub\n")
    (folder / "model.ckpt").write_text(LFS)
    with pytest.raises(ModelLoadError, match=r"weight file model\.ckpt: it is a git-lfs pointer .* git lfs pull"):
        SpeechBrainDiarizer(str(folder), tmp_path / "save")
