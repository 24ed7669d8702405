from xlser.smk import setup

log = setup(snakemake)  # noqa: F821

from xlser.demo.models import build_demo_model  # noqa: E402
from xlser.demo.pretrain import pretrain_demo_model  # noqa: E402
from xlser.io import write_text  # noqa: E402

spec = dict(snakemake.params.spec)  # noqa: F821
if spec.get("voice"):  # pre-trained on its own language (CTC on eSpeak NG's phonemes)
    p = snakemake.params.pretrain  # noqa: F821
    pretrain_demo_model(snakemake.output.model, spec, steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],  # noqa: F821
                        voices=p["voices"], curve_csv=snakemake.output.curve)  # noqa: F821
else:  # random weights (the SED encoder): no loss curve
    build_demo_model(snakemake.output.model, spec)  # noqa: F821
    write_text("step,loss\n", snakemake.output.curve)  # noqa: F821
