"""Placeholder: implemented by its issue."""
raise NotImplementedError("make_splits")
