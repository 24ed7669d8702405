"""Run the study-scale rehearsal: build its inputs, run paper.yaml's protocol on them, cost it.

    python tools/rehearsal.py [--scale 0.01] [--cores 2] [--workdir rehearsal] [-- snakemake args]

Writes `<workdir>/inputs/` (synthetic corpora, random checkpoints; rebuilt only when the
spec or scale changes), `<workdir>/config.yaml` (paper.yaml + the rehearsal's inputs and
scale, and the `rehearsal` section the cost table forecasts from; generated, not to edit)
and runs Snakemake in `<workdir>`. The workflow's cost_table job writes the cost table
`<workdir>/results/tables/cost.{csv,md}` and its figure, and the report shows them; when
the run failed or was stopped, this tool writes them from the jobs that finished.
Exit status: Snakemake's.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from xlser import paths  # noqa: E402
from xlser.config import resolve  # noqa: E402
from xlser.demo import rehearsal as R  # noqa: E402
from xlser.report.cost import cost_settings, forecast_basis, write_cost  # noqa: E402
from xlser.yamlcheck import load_strict  # noqa: E402


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_inputs(spec: dict, cfg: dict, scale: float, layout: R.Layout) -> dict:
    """Corpora (per scale) and checkpoints (scale-free), each skipped when its stamp matches."""
    stamp_path = layout.inputs / "build.json"
    stamps = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    for name, corpus in cfg["corpora"].items():
        key = _digest([spec["corpora"][name], corpus, cfg["splits"], cfg.get("sed"), scale, spec["seed"]])
        out = layout.corpus(name)
        if stamps.get(f"corpus:{name}", {}).get("key") == key and out.is_dir():
            continue
        t0 = time.perf_counter()
        info = R.write_corpus(out, name, spec["corpora"][name], corpus, cfg, scale, int(spec["seed"]))
        stamps[f"corpus:{name}"] = {"key": key, "wall_s": round(time.perf_counter() - t0, 2), **info}
        print(
            f"rehearsal: {name}: {info['utterances']} utterances, {info['seconds']:.0f} s of audio "
            f"({stamps[f'corpus:{name}']['wall_s']:.1f} s)",
            flush=True,
        )
        stamp_path.write_text(json.dumps(stamps, indent=1))
    writers = {"wav2vec2-base": R.write_wav2vec2_base, "wavlm-large": R.write_wavlm_large_sed}
    todo = [(n, m, layout.model(n)) for n, m in spec["models"].items() if n in cfg.get("models", {})]
    todo += [
        (n, m, layout.sed_model(n))
        for n, m in spec.get("sed_models", {}).items()
        if n in cfg.get("sed", {}).get("models", {})
    ]
    for name, m, out in todo:
        key = _digest([m, str(out)])
        if stamps.get(f"model:{name}", {}).get("key") == key and out.is_dir():
            continue
        if m["arch"] not in writers:
            raise SystemExit(f"config/rehearsal.yaml: model {name}: arch '{m['arch']}' is not one of {sorted(writers)}")
        t0 = time.perf_counter()
        writers[m["arch"]](out, int(m["seed"]))
        stamps[f"model:{name}"] = {"key": key, "wall_s": round(time.perf_counter() - t0, 2), "arch": m["arch"]}
        print(f"rehearsal: checkpoint {name} ({m['arch']}) in {stamps[f'model:{name}']['wall_s']:.1f} s", flush=True)
        stamp_path.write_text(json.dumps(stamps, indent=1))
    return stamps


def run_snakemake(cmd: list[str], workdir: Path, max_seconds: float | None) -> tuple[int, bool]:
    """Run Snakemake; past `max_seconds` interrupt it (it stops its jobs and exits), then kill it."""
    proc = subprocess.Popen(cmd, cwd=workdir)
    try:
        return proc.wait(timeout=max_seconds), False
    except subprocess.TimeoutExpired:
        print(f"rehearsal: stopping Snakemake after {max_seconds:.0f} s (--max-seconds)", flush=True)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 124, True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default=str(REPO / "config" / "rehearsal.yaml"))
    ap.add_argument("--scale", type=float, help="overrides the spec's scale (0 < scale <= 1)")
    ap.add_argument("--workdir", help="overrides the spec's workdir (relative: to the repository)")
    ap.add_argument("--cores", default="2")
    ap.add_argument("--build-only", action="store_true", help="write inputs and config, run nothing")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop Snakemake (SIGINT, then SIGKILL) after this many seconds of workflow; cost what ran",
    )
    ap.add_argument("--cost-only", action="store_true", help="rewrite the cost table of the last run")
    ap.add_argument("snakemake_args", nargs="*", help="after `--`: passed to Snakemake")
    a = ap.parse_args(argv)

    spec = load_strict(a.spec)  # a key given twice is an error, not a silent last-wins
    scale = float(a.scale if a.scale is not None else spec["scale"])
    workdir = (REPO / (a.workdir or spec["workdir"])).resolve()
    protocol_path = REPO / spec["protocol"]
    protocol = load_strict(protocol_path)
    layout = R.Layout(workdir / "inputs")
    config_path = workdir / "config.yaml"
    run_json = workdir / paths.REHEARSAL_RUN
    if a.cost_only:  # the config that ran, not one regenerated from today's paper.yaml
        cfg = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        run = json.loads(run_json.read_text()) if run_json.exists() else {"scale": scale, "cores": a.cores}
        print(write_cost(workdir, cost_settings(resolve(cfg)), cfg.get("rehearsal"), run))
        return 0
    cfg = R.rehearsal_config(protocol, spec, scale, layout, protocol_path=spec["protocol"])
    cfg["rehearsal"] = forecast_basis(spec, cfg, protocol, scale)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(
        f"# generated by tools/rehearsal.py from {spec['protocol']} and {Path(a.spec).name} "
        f"(scale {scale}); do not edit\n" + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    t0 = time.perf_counter()
    if a.build_only:
        build_inputs(spec, cfg, scale, layout)
        R.check_config(cfg, layout)
        return 0
    # built in a child process: writing WavLM-large and three wav2vec2-base checkpoints leaves
    # this process holding ~2 GB it would keep for the whole run
    build = [
        sys.executable,
        __file__,
        "--build-only",
        "--spec",
        a.spec,
        "--scale",
        repr(scale),
        "--workdir",
        str(workdir),
    ]
    if subprocess.run(build).returncode != 0:
        return 1
    stamps = json.loads((layout.inputs / "build.json").read_text())
    build_s = time.perf_counter() - t0
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_path),
        "--cores",
        str(a.cores),
        "--rerun-incomplete",
        *a.snakemake_args,
    ]
    print("rehearsal:", " ".join(cmd), flush=True)
    t1 = time.perf_counter()
    rc, timed_out = run_snakemake(cmd, workdir, a.max_seconds)
    run_s = time.perf_counter() - t1
    run = {
        "scale": scale,
        "cores": a.cores,
        "build_s": round(build_s, 1),
        "workflow_s": round(run_s, 1),
        "returncode": rc,
        "timed_out": timed_out,
        "inputs": stamps,
    }
    run_json.parent.mkdir(exist_ok=True)
    run_json.write_text(json.dumps(run, indent=1))
    table = workdir / f"{paths.COST_TABLE}.csv"
    if rc != 0:  # the workflow's cost_table job did not run: cost the jobs that finished
        table = write_cost(workdir, cost_settings(resolve(copy.deepcopy(cfg))), cfg["rehearsal"], run)
    print(
        f"rehearsal: workflow {run_s:.0f} s (inputs {build_s:.0f} s), exit {rc}; cost table: {table}"
        + ("" if rc else "; report: " + str(workdir / paths.REPORT)),
        flush=True,
    )
    return rc


if __name__ == "__main__":
    sys.exit(main())
