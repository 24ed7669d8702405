# A static HTML report of every table and figure (besides `snakemake --report`).


def report_inputs(wildcards):
    """The tables and figures of the configured sections."""
    out = {}
    if EXPERIMENTS:
        summary = rules.layerwise_summary.output
        out |= dict(figure1=summary.png, layerwise=summary.table, best_layers=summary.best)
    if PEFT_JOBS:
        out["table1"] = rules.table1_peft.output.md
    if S.has_human:
        t3 = rules.table3_confusions.output
        out |= dict(table2=rules.table2_human_ua.output.md, table3=t3.md, table3_png=t3.png)
        out["welch"] = rules.welch_tests.output.md
    if S.has_sed:
        out |= dict(table4=rules.table4_eder.output.md, sed_png=rules.table4_eder.output.figure)
    return out


rule report_html:
    input:
        unpack(report_inputs),
    output:
        "results/report/index.html",
    params:
        simulated="listeners" in DEMO,
        demo=bool(DEMO),
    log:
        "logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    conda:
        ENV["stats"]
    script:
        "../scripts/report.py"


rule report:
    input:
        rules.report_html.output,
