"""Placeholder: implemented by its issue."""
raise NotImplementedError("probe_layers")
