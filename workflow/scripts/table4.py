"""Table IV: EDER per emotion of the SED models and listener groups, beside the study's; timelines."""

from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.sed.table4 import make_table4  # noqa: E402

sm = snakemake  # noqa: F821
make_table4(list(sm.input.frames), sm.input.subset, sm.input.responses, sm.output.csv.removesuffix(".csv"),
            sm.output.figure, list(sm.params.sed_emotions), sm.params.corpus, float(sm.params.window),
            float(sm.params.stride), lenient=bool(sm.params.lenient))
