# A static HTML report of every table and figure (besides `snakemake --report`).


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
