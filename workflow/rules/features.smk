# Features: one forward pass per utterance and model yields every layer, pooled.


rule extract_features:
    input:
        manifest=paths.MANIFEST,
        model=get_model_dir,
    output:
        paths.FEATURES,
    log:
        paths.log("extract_features"),
    benchmark:
        paths.benchmark("extract_features")
    conda:
        ENV["gpu"]
    threads: S.gpu_job_threads  # on CPU torch_threads (the default), on CUDA all it holds (xlser.device)
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        source=lambda wc: S.model_source(wc.model),
        source_files=lambda wc: source_files_param(S.model_source(wc.model)),  # a local folder overwritten re-plans
        device=S.device,
        max_batch_seconds=S.features.max_batch_seconds,
        precision=S.features.precision,
        top_layer_norm=S.features.top_layer_norm,
        batching=S.features.batching,
        dtype=S.features.dtype,
        torch_threads=S.torch_threads,  # on CPU: features must not depend on --cores
    script:
        "../scripts/extract_features.py"
