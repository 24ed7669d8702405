"""Placeholder: implemented by its issue."""
raise NotImplementedError("extract_features")
