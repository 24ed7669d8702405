"""Rule report_html: the static HTML report of every table and figure."""

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.report import build_report  # noqa: E402

inp = snakemake.input  # noqa: F821
build_report(
    tables={
        "Table I: PEFT strategies (UA %)": inp.table1,
        "Table II: human listeners' UA": inp.table2,
        "Table III: confusions (humans vs. models)": inp.table3,
        "Table IV: emotion diarization (EDER), models and listeners": inp.table4,
        "Best layer per experiment (by validation UA)": inp.best_layers,
        "Welch's t-tests (human listening tests)": inp.welch,
    },
    figures={
        "Figure 1: layer-wise UA": inp.figure1,
        "Table III: confusion matrices": inp.table3_png,
        "Emotion diarization timelines": inp.sed_png,
    },
    out_path=snakemake.output[0],  # noqa: F821
    demo=bool(snakemake.params.demo),  # noqa: F821
    simulated=bool(snakemake.params.simulated),  # noqa: F821
)
log.info("wrote %s", snakemake.output[0])  # noqa: F821
