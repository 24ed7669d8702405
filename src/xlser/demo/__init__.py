"""The embedded demo: synthetic corpora (eSpeak NG), tiny models, simulated listeners."""
