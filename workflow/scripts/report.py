"""Placeholder: implemented by its issue."""
raise NotImplementedError("report")
