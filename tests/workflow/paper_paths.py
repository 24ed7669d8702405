"""config/paper.yaml with every `/path/to/...` placeholder pointed at an existing (empty)
folder or file: the paths `xlser.config.check_paths` requires of the jobs that read them."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def paper_overlay(dest: Path) -> Path:
    """Write `dest/paths.yaml` (and the folders and files it names under `dest`): an overlay
    for `--configfile config/paper.yaml <it>` that fills in every placeholder."""
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    corpora = {}
    for name, spec in paper["corpora"].items():
        (dest / name).mkdir(parents=True, exist_ok=True)
        corpora[name] = {**spec, "root": str(dest / name)}
        if "folds" in spec:  # the study's fold lists: an existing folder (its files are read when planned)
            (dest / "split_id" / name).mkdir(parents=True, exist_ok=True)
            corpora[name]["folds"] = str(dest / "split_id" / name)
    listening = dest / "listening"
    webmushra = []
    for sub in ("ser_cn", "ser_de"):
        (listening / sub).mkdir(parents=True, exist_ok=True)
        (listening / sub / "lss.csv").write_text("session_test_id,trial_id,stimuli_rating,stimuli,rating_time\n")
        webmushra.append(str(listening / sub))
    for name in ("listeners.csv", "segments.csv"):
        (listening / name).write_text("stub\n")
    overlay = {
        "corpora": corpora,
        "human": {
            **paper["human"],
            "listeners": str(listening / "listeners.csv"),
            "webmushra": webmushra,
            "responses": [str(listening / "segments.csv")],
        },
    }
    path = dest / "paths.yaml"
    path.write_text(yaml.safe_dump(overlay, allow_unicode=True))
    return path
