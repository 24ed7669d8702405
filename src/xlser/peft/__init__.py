"""Parameter-efficient fine-tuning across languages (the study's Table I).

`modules`: encoder cut at layer k, LoRA (peft), bottleneck adapters and input gates;
`data`: length-bucketed 16 kHz batches; `train`: the job with checkpoint/resume;
`table1`: the Table I layout.
"""
