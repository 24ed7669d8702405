"""Listening tests: ingestion (webMUSHRA, long CSVs), demo listeners, Tables II/III, Welch's t-tests."""
