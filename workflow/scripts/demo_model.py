from xlser.smk import setup

log = setup(snakemake)

from xlser.demo.models import build_demo_model
from xlser.demo.pretrain import pretrain_demo_model
from xlser.io import write_text

sm = snakemake

spec = dict(sm.params.spec)
if spec.get("voice"):  # pre-trained on its own language (CTC on eSpeak NG's phonemes)
    p = sm.params.pretrain
    pretrain_demo_model(
        sm.output.model,
        spec,
        steps=p["steps"],
        batch_size=p["batch_size"],
        lr=p["lr"],
        voices=p["voices"],
        curve_csv=sm.output.curve,
    )
else:  # random weights (the SED encoder): no loss curve
    build_demo_model(sm.output.model, spec)
    write_text("step,loss\n", sm.output.curve)
