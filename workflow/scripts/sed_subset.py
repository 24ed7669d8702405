"""Placeholder: implemented by its issue."""
raise NotImplementedError("sed_subset")
