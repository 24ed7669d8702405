"""The layer-wise stage: every hidden state pooled once per utterance, one probe per layer (Figure 1).

Driven by `workflow/rules/features.smk` (extract_features) and `workflow/rules/layerwise.smk`
(probe_layers, layerwise_summary). `features` pools, `heads` and `probe` train, `summary` gathers.
"""
