# The diarization stage's input and param functions (rules: ../sed.smk).


def get_sed_manifest(wildcards):
    """The SED corpus's manifest (sed_draw, sed_subset, diarize)."""
    return manifest_path(S.sed.corpus)


def get_sed_pinned(wildcards):
    """The pinned SED subset (`sed.subset`), when one is configured (sed_draw, sed_subset)."""
    if not S.sed.subset:
        return []
    require_paths("sed.subset")
    return [S.sed.subset]


def get_diarize_model(wildcards):
    """The model's folder where a demo rule makes it; a local checkpoint folder that is
    missing stops the plan."""
    require_paths(f"sed.models.{wildcards.sed_model}")
    return demo_model_paths(S.sed.models[wildcards.sed_model]["source"])


def get_diarize_train_manifests(wildcards):
    """The manifests a frame-probe diarizer trains on; none for a pre-trained one."""
    spec = S.sed.models[wildcards.sed_model]
    return [manifest_path(c) for c in spec.get("train_corpora", [])] if spec["backend"] == "probe" else []


def get_diarize_probe(wildcards):
    """The SED frame head's optimiser: `probe:`'s settings with the model's own `lr` and
    `max_epochs`; {} for a pre-trained diarizer (nothing to train)."""
    spec = S.sed.models[wildcards.sed_model]
    if spec["backend"] != "probe":
        return {}
    return canonical(vars(S.probe.optim(lr=spec["lr"], max_epochs=spec["max_epochs"])))
