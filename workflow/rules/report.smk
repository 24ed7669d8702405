# A static HTML report of every table and figure (besides `snakemake --report`).


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
    script:
        "../scripts/report.py"


rule report:
    input:
        lambda wc: rests_on(rules.report_html.output),  # and every file it rests on (common.smk: rests_on)
