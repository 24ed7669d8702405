"""Placeholder: implemented by its issue."""
raise NotImplementedError("table1")
