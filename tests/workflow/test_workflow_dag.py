"""The workflow parses, validates its config and plans every stage from the default config."""

from __future__ import annotations

from conftest import copy_workflow, snakemake


def test_dry_run_plans_every_stage(tmp_path) -> None:
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    for rule in (
        "demo_corpus",
        "demo_model",
        "scan_corpus",
        "resample_corpus",
        "make_splits",
        "listening_subset",
        "extract_features",
        "probe_layers",
        "layerwise_summary",
        "finetune_stacked",  # peft.training: stacked, the default (separate: finetune)
        "table1_peft",
        "sed_subset",
        "diarize",
        "table4_eder",
        "demo_listeners",
        "ingest_listening_test",
        "table2_human_ua",
        "table3_confusions",
        "welch_tests",
        "cost_table",
        "report_html",
    ):
        assert rule in out, rule


def test_listening_kit_declares_no_output_inside_the_folder_copied_into_webmushra(tmp_path) -> None:
    """Snakemake writes `.snakemake_timestamp` into a directory() output; the kit's audio folder
    is copied into webMUSHRA as it is, so no output may be declared inside `configs/resources`."""
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "-n", "listening_kit")
    out = proc.stdout + proc.stderr
    jobs = out.split("rule build_listening_kit:")[1:]
    assert len(jobs) == 2, out[-3000:]  # the demo's two kits
    for job in jobs:
        outputs = next(line for line in job.splitlines() if line.strip().startswith("output:"))
        paths = [p.strip() for p in outputs.split(":", 1)[1].split(",")]
        assert any(p.endswith(".yaml") for p in paths) and not any("configs/resources" in p for p in paths), paths
