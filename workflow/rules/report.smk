# A static HTML report of every table and figure (besides `snakemake --report`).


rule report_html:
    input:
        figure1=rules.layerwise_summary.output.png,
        layerwise=rules.layerwise_summary.output.table,
        best_layers=rules.layerwise_summary.output.best,
        table1=rules.table1_peft.output.md,
        table2=rules.table2_human_ua.output.md,
        table3=rules.table3_confusions.output.md,
        table3_png=rules.table3_confusions.output.png,
        table4=rules.table4_eder.output.md,
        sed_png=rules.table4_eder.output.figure,
        welch=rules.welch_tests.output.md,
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
