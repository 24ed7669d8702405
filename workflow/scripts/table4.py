"""Table IV: EDER per emotion of the SED models and listener groups, beside the study's; timelines."""

from xlser.smk import setup

log = setup(snakemake)

from xlser.sed.table4 import make_table4

sm = snakemake
make_table4(
    list(sm.input.frames),
    sm.input.subset,
    sm.input.responses,
    sm.output.csv.removesuffix(".csv"),
    sm.output.figure,
    list(sm.params.sed_emotions),
    sm.params.corpus,
    float(sm.params.window),
    float(sm.params.stride),
    lenient=bool(sm.params.lenient),
)
