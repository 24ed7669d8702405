"""Placeholder: implemented by its issue."""
raise NotImplementedError("welch_tests")
