"""Placeholder: implemented by its issue."""
raise NotImplementedError("ingest_listening_test")
