"""A tiny speech-emotion-diarization checkpoint in speechbrain's own format.

Shaped like the study's model (`speechbrain/emotion-diarization-wavlm-large`): sentence
input normalisation, a WavLM encoder (`output_norm`), frame averaging over `window`
frames of 0.02 s, a bias-free linear layer encoder_dim -> 4 and log-softmax, with the
label encoder `'a'=>0, 'n'=>1, 'h'=>2, 's'=>3`. It lets the `speechbrain` backend (and
its tests) run through `Speech_Emotion_Diarization.from_hparams` with nothing downloaded:
the WavLM source is a local folder written by `save_pretrained`.
"""

from __future__ import annotations

from pathlib import Path

import torch

#: The study model's label encoder (ZED recipe): index -> single-letter label.
LABELS = ("a", "n", "h", "s")

HYPERPARAMS = """\
# Speech emotion diarization, shaped like speechbrain/emotion-diarization-wavlm-large
# (written by xlser.sed.sb_checkpoint; the encoder is a local tiny WavLM).
wav2vec2_hub: {wavlm}
wav2vec2_folder: {wavlm_cache}
pretrained_path: {ckpt}

encoder_dim: {dim}
out_n_neurons: 4
window_length: 1  # win_len = 0.02 * 1 = 0.02 s
stride: 1         # stride = 0.02 * 1 = 0.02 s

input_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

wav2vec2: !new:speechbrain.integrations.huggingface.wavlm.WavLM
    source: !ref <wav2vec2_hub>
    output_norm: True
    freeze: True
    save_path: !ref <wav2vec2_folder>

avg_pool: !new:speechbrain.nnet.pooling.Pooling1d
    pool_type: "avg"
    kernel_size: !ref <window_length>
    stride: !ref <stride>
    ceil_mode: True

output_mlp: !new:speechbrain.nnet.linear.Linear
    input_size: !ref <encoder_dim>
    n_neurons: !ref <out_n_neurons>
    bias: False

log_softmax: !new:speechbrain.nnet.activations.Softmax
    apply_log: True

model: !new:torch.nn.ModuleList
    - [!ref <output_mlp>]

modules:
    input_norm: !ref <input_norm>
    wav2vec2: !ref <wav2vec2>
    output_mlp: !ref <output_mlp>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        input_norm: !ref <input_norm>
        wav2vec2: !ref <wav2vec2>
        model: !ref <model>
        label_encoder: !ref <label_encoder>
    paths:
        input_norm: !ref <pretrained_path>/input_norm.ckpt
        wav2vec2: !ref <pretrained_path>/wav2vec2.ckpt
        model: !ref <pretrained_path>/model.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def write_sb_checkpoint(out_dir: str | Path, wavlm_dir: str | Path, seed: int = 0) -> Path:
    """Write `hyperparams.yaml`, `wav2vec2.ckpt`, `model.ckpt`, `input_norm.ckpt`, `label_encoder.txt`.

    `wavlm_dir` is a local `WavLMModel` folder (save_pretrained). The linear layer is
    random (seeded): the checkpoint proves the interface, not the science.
    """
    from speechbrain.dataio.encoder import CategoricalEncoder
    from speechbrain.integrations.huggingface.wavlm import WavLM
    from speechbrain.nnet.linear import Linear
    from speechbrain.processing.features import InputNormalization

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    wavlm_dir = Path(wavlm_dir).resolve()
    torch.manual_seed(seed)
    encoder = WavLM(str(wavlm_dir), save_path=str(out / "wavlm_cache"), output_norm=True, freeze=True)
    dim = int(encoder.model.config.hidden_size)
    torch.save(encoder.state_dict(), out / "wav2vec2.ckpt")
    head = torch.nn.ModuleList([Linear(input_size=dim, n_neurons=len(LABELS), bias=False)])
    torch.save(head.state_dict(), out / "model.ckpt")
    norm = InputNormalization(norm_type="sentence", std_norm=False)
    norm._save(out / "input_norm.ckpt")
    enc = CategoricalEncoder()
    enc.update_from_iterable(LABELS)  # insertion order gives 'a'=>0, 'n'=>1, 'h'=>2, 's'=>3
    enc.save(out / "label_encoder.txt")
    (out / "hyperparams.yaml").write_text(
        HYPERPARAMS.format(wavlm=wavlm_dir, wavlm_cache=out / "wavlm_cache", ckpt=out, dim=dim), encoding="utf-8"
    )
    return out
