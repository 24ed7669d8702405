"""The data stage: corpora in their real layouts -> 16 kHz manifests -> balanced, seeded folds.

Driven by `workflow/rules/data.smk` (scan_corpus, resample_corpus, make_splits, listening_subset).
`corpora/` holds one adapter per format; `manifest`, `audio`, `wavheader`, `resample`,
`splits` and `folds` (published fold lists) are its steps.
"""
