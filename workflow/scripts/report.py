"""Rule report_html: the static HTML report of every table and figure."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.report.html import build_report

sm = snakemake
inp = dict(sm.input.items())  # only the configured sections' tables and figures
tables = {
    "Table I: PEFT strategies (UA %)": "table1",
    "Table II: human listeners' UA": "table2",
    "Table III: confusions (humans vs. models)": "table3",
    "Table IV: emotion diarization (EDER), models and listeners": "table4",
    "Best layer per experiment (by validation UA)": "best_layers",
    "Demo models: held-out CTC loss and phone error rate per language (pre-training)": "pretraining",
    "Welch's and Student's t-tests (human listening tests)": "welch",
    "What this run cost, per rule": "cost",
}
figures = {
    "Figure 1: layer-wise UA": "figure1",
    "Table III: confusion matrices": "table3_png",
    "Emotion diarization timelines": "sed_png",
    "Demo models: pre-training loss and held-out language specificity": "pretraining_png",
    "Job time per rule": "cost_png",
}
build_report(
    tables={title: inp[key] for title, key in tables.items() if key in inp},
    figures={title: inp[key] for title, key in figures.items() if key in inp},
    out_path=sm.output[0],
    demo=bool(sm.params.demo),
    simulated=bool(sm.params.simulated),
    rehearsal=bool(sm.params.rehearsal),
)
log.info("wrote %s", sm.output[0])
