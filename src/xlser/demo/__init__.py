"""The embedded demo: synthetic corpora (eSpeak NG), tiny pre-trained models, simulated listeners.

Driven by `workflow/rules/demo.smk` (demo_corpus, demo_model, demo_pretraining, demo_listeners).
"""
