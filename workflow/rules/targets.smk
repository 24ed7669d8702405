# The named targets (`all` is the Snakefile's: Snakemake takes its default target from the main
# Snakefile only). Each requires every file its results are computed from (rests_on), so a lost
# intermediate is rebuilt, and what follows it, instead of trusted. Included last: the walks
# read every rule of the workflow.


include: "functions/targets.smk"


rule data:
    input:
        lambda wc: rests_on(
            [splits_path(c) for c in S.ser_corpora]
            + [listening_path(c) for c in S.listening_corpora]
            + [manifest_path(c) for c in S.corpora]
        ),


rule figure1:
    input:
        lambda wc: rests_on(rules.layerwise_summary.output),


rule table1:
    input:
        lambda wc: rests_on(rules.table1_peft.output),


rule table2:
    input:
        lambda wc: rests_on(rules.table2_human_ua.output),


rule table3:
    input:
        lambda wc: rests_on(rules.table3_confusions.output),


rule table4:
    input:
        lambda wc: rests_on(rules.table4_eder.output),


rule stats:
    input:
        lambda wc: rests_on(rules.welch_tests.output),


rule listening_kit:
    input:
        lambda wc: rests_on(kit_paths(paths.KIT_CONFIG) + kit_paths(paths.KIT_STIMULI)),


rule cost:
    input:
        lambda wc: rests_on(rules.cost_table.output),


rule report:
    input:
        lambda wc: rests_on(rules.report_html.output),
