"""Listening tests: webMUSHRA kits, ingestion, simulated demo listeners, Tables II/III, t-tests.

Driven by `workflow/rules/human.smk` (listening_kit, ingest_listening_test, table2, table3,
welch_tests); the demo's listeners by `workflow/rules/demo.smk`.
"""
