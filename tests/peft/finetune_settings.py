"""The fine-tuning settings the peft tests start from (each test changes what it tests with
dataclasses.replace): gradient clipping on, cached CNN features, fp32, encoder in eval mode (no
random draw), layers_kept k, one torch thread."""

from xlser.peft.settings import Finetune

SETTINGS = Finetune(
    grad_clip=1.0,
    max_batch_seconds=100.0,
    cache_features=True,
    precision="fp32",
    encoder_mode="eval",
    layers_kept="k",
    two_stage_schedule=None,
    cross_val_on="source",
    threads=1,
    standardize=False,
    clip_normalised_waveform=False,
)
