"""Parameter-efficient fine-tuning across languages (the study's Table I).

Driven by `workflow/rules/peft.smk` (finetune, table1_peft). `modules`: encoder cut at layer k,
LoRA (peft), bottleneck adapters and input gates; `data`: length-bucketed 16 kHz batches;
`train`: the job with checkpoint/resume; `settings`: per-job settings; `table1`: the Table I layout.
"""
