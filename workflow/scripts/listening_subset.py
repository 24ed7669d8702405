"""Placeholder: implemented by its issue."""
raise NotImplementedError("listening_subset")
