"""Placeholder: implemented by its issue."""
raise NotImplementedError("demo_model")
