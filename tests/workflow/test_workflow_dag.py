"""The workflow parses, validates its config and plans every stage from the default config."""

from __future__ import annotations

from conftest import copy_workflow, snakemake


def test_dry_run_plans_every_stage(tmp_path) -> None:
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    for rule in ("demo_corpus", "demo_model", "scan_corpus", "resample_corpus", "make_splits", "listening_subset",
                 "extract_features", "probe_layers", "layerwise_summary", "finetune", "table1_peft", "sed_subset",
                 "diarize", "table4_eder", "demo_listeners", "ingest_listening_test", "table2_human_ua",
                 "table3_confusions", "welch_tests", "report_html"):
        assert rule in out, rule
