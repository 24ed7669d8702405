# The report's input functions (rules: ../report.smk).


def get_report_html_inputs(wildcards):
    """The tables and figures of the configured sections, and the run's cost table."""
    out = dict(cost=rules.cost_table.output.md, cost_png=rules.cost_table.output.png)
    if S.experiments:
        summary = rules.layerwise_summary.output
        out |= dict(figure1=summary.png, layerwise=summary.table, best_layers=summary.best)
    if S.peft_jobs:
        out["table1"] = rules.table1_peft.output.md
    if S.has_human:
        t3 = rules.table3_confusions.output
        out |= dict(table2=rules.table2_human_ua.output.md, table3=t3.md, table3_png=t3.png)
        out["welch"] = rules.welch_tests.output.csv
    if S.has_sed:
        out |= dict(table4=rules.table4_eder.output.md, sed_png=rules.table4_eder.output.figure)
    if S.demo.pretrained_models:
        out |= dict(
            pretraining=rules.demo_pretraining.output.table, pretraining_png=rules.demo_pretraining.output.figure
        )
    return out


def get_report_html_configfiles():
    """The config files of this run, as the title block names them: relative to the working
    directory where they lie under it (Snakemake holds them absolute), so that a run moved
    elsewhere plans nothing new."""
    out = []
    for f in workflow.configfiles:
        try:
            out.append(Path(f).resolve().relative_to(Path.cwd().resolve()).as_posix())
        except ValueError:
            out.append(str(f))
    return out
