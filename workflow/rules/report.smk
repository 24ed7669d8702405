# A static HTML report of every table and figure (besides `snakemake --report`), and what
# the run cost.


# Per rule: jobs, job time, peak memory, audio seconds, CUDA peak, from the benchmark file of
# every job the results rest on (params.benchmarks); with a `rehearsal` section (tools/rehearsal.py), a forecast
# of the full-scale run (xlser.report.cost).
rule cost_table:
    input:
        # the results' files: it re-runs when any is remade; and the manifests, splits and
        # fine-tunes' metrics.json it reads audio seconds and epochs from
        lambda wc: rests_on(run_results()),
    output:
        csv="results/tables/cost.csv",
        md="results/tables/cost.md",
        png="results/figures/cost.png",
    log:
        "logs/report/cost.log",
    benchmark:
        "results/benchmarks/report/cost.tsv"
    conda:
        ENV["stats"]
    params:
        # each job's benchmark file, read where present but not an input: a run made with
        # --touch, or results made elsewhere, have none, and requiring them would re-run the
        # whole study for a table (the table names the jobs without one)
        benchmarks=lambda wc: benchmarks_of(run_results()),
        settings=cost_settings(config),
        rehearsal=config.get("rehearsal"),
    script:
        "../scripts/cost.py"


rule cost:
    input:
        lambda wc: rests_on(rules.cost_table.output),  # and every file it rests on (common.smk: rests_on)


rule report_html:
    input:
        unpack(report_inputs),
    output:
        "results/report/index.html",
    log:
        "logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    conda:
        ENV["stats"]
    params:
        simulated="listeners" in DEMO,
        demo=bool(DEMO),
        rehearsal="rehearsal" in config,
    script:
        "../scripts/report.py"


rule report:
    input:
        lambda wc: rests_on(rules.report_html.output),  # and every file it rests on (common.smk: rests_on)
