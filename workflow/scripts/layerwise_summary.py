"""Placeholder: implemented by its issue."""
raise NotImplementedError("layerwise_summary")
