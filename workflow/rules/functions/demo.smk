# The embedded demo's param functions (rules: ../demo.smk).


def get_demo_model_pretrain(wildcards):
    """A demo model with a `voice` is pre-trained on its language (CTC on eSpeak NG's phonemes,
    xlser.demo.pretrain) and saved as a ForCTC checkpoint; without one it keeps random
    weights (its loss curve is then a bare header): None."""
    return S.demo.pretrain.as_param() if S.demo.models[wildcards.model].get("voice") else None
