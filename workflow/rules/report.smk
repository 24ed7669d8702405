# A static HTML report of every table and figure (besides `snakemake --report`), and what
# the run cost.

from xlser.report.cost import cost_settings


include: "functions/report.smk"


# Per rule: jobs, job time, peak memory, audio seconds, CUDA peak, from the benchmark file of
# every job the results rest on (params.benchmarks; each job's rule and wildcards from the record
# it leaves beside its log, xlser.smk); with a `rehearsal` section (tools/rehearsal.py), a
# forecast of the full-scale run (xlser.report.cost).
rule cost_table:
    input:
        # the results' files: it re-runs when any is remade; and the manifests, splits and
        # fine-tunes' metrics.json it reads audio seconds and epochs from (targets.smk: rests_on)
        lambda wc: rests_on(run_results()),
    output:
        csv=f"{paths.COST_TABLE}.csv",
        md=f"{paths.COST_TABLE}.md",
        png=paths.COST_FIGURE,
    log:
        paths.log("cost_table"),
    benchmark:
        paths.benchmark("cost_table")
    conda:
        ENV["stats"]
    params:
        # each job's benchmark file, read where present but not an input: a run made with
        # --touch, or results made elsewhere, have none, and requiring them would re-run the
        # whole study for a table (the table names the jobs without one)
        benchmarks=lambda wc: benchmarks_of(run_results()),
        settings=cost_settings(S),
        rehearsal=S.rehearsal,
    script:
        "../scripts/cost.py"


rule report_html:
    input:
        unpack(get_report_html_inputs),
    output:
        paths.REPORT,
    log:
        paths.log("report_html"),
    benchmark:
        paths.benchmark("report_html")
    conda:
        ENV["stats"]
    params:
        simulated=S.demo.listeners is not None,
        demo=S.demo.enabled,
        rehearsal=S.rehearsal is not None,
        configfiles=get_report_html_configfiles(),  # named in the title block
    script:
        "../scripts/report.py"
