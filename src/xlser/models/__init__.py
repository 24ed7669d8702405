"""Speech encoders: checkpoint loading and the exact batched forward pass every stage uses.

No rule file of its own: `features.smk`, `peft.smk` and `sed.smk` run their encoders through
it. `loading` reads hub ids and local folders, `encoder` batches exactly, `batching` buckets by length.
"""
