"""Placeholder: implemented by its issue."""
raise NotImplementedError("scan_corpus")
