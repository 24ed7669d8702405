# xlser: cross-lingual speech emotion recognition, humans vs. self-supervised models.
# `snakemake --cores 2` runs the embedded demo; `--configfile config/paper.yaml` the study.
# Named targets (each runs only what it needs): data figure1 table1 table2 table3 table4 stats
# listening_kit cost report

# The demo config is the default only: a --configfile that defines `corpora` (e.g.
# config/paper.yaml) replaces it instead of being merged into it (Snakemake would otherwise
# deep-merge the two and run the demo corpora and models alongside the study).
if "corpora" not in config:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/layerwise.smk"
include: "workflow/rules/peft.smk"
include: "workflow/rules/sed.smk"
include: "workflow/rules/human.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/targets.smk"  # the named targets and the DAG walks: last


localrules:
    all,
    data,
    figure1,
    table1,
    table2,
    table3,
    table4,
    stats,
    listening_kit,
    cost,
    report,
    # cheap table/figure/report jobs: on a cluster they run on the submit node, no queueing
    table1_peft,
    table2_human_ua,
    table3_confusions,
    table4_eder,
    welch_tests,
    cost_table,
    report_html,


# `all` holds what the configured sections make: a listening-only config (no models, peft
# or sed) runs the human tables and the t-tests. Like every named target (targets.smk), it
# requires every file its results rest on (rests_on), so a lost intermediate is rebuilt, and
# what follows it, instead of trusted. It stays here: an included file's `default_target` is
# not the workflow's.
rule all:
    default_target: True
    input:
        lambda wc: rests_on(run_results() + rules.report_html.output),
