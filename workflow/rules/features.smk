# Features: one forward pass per utterance and model yields every layer, pooled.


rule extract_features:
    input:
        manifest="results/corpora/{corpus}/manifest.csv",
        model=model_input,
    output:
        "results/features/{model}/{corpus}.npz",
    log:
        "logs/features/{model}/{corpus}.log",
    benchmark:
        "results/benchmarks/features/{model}/{corpus}.tsv"
    conda:
        ENV["gpu"]
    threads: config["gpu_job_threads"]  # CPU threads reserved; compute uses torch_threads
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    params:
        source=lambda wc: model_source(wc.model),
        source_files=lambda wc: checkpoint_param(model_source(wc.model)),  # a local folder overwritten re-plans
        device=S.device,
        max_batch_seconds=S.section("features")["max_batch_seconds"],
        precision=S.section("features")["precision"],
        top_layer_norm=S.section("features")["top_layer_norm"],
        batching=S.section("features")["batching"],
        dtype=S.section("features")["dtype"],
        torch_threads=config["torch_threads"],  # on CPU: features must not depend on --cores
    script:
        "../scripts/extract_features.py"
