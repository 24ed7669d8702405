"""xlser: cross-lingual speech emotion recognition, humans vs. self-supervised models.

All logic of the Snakemake workflow lives here, importable and unit-tested without
Snakemake; `workflow/scripts/*.py` only translate `snakemake.*` into calls.
"""

__version__ = "0.1.0"
