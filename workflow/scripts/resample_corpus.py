"""Placeholder: implemented by its issue."""
raise NotImplementedError("resample_corpus")
