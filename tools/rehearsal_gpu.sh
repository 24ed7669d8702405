#!/usr/bin/env bash
# The rehearsal on a GPU node, with a time limit, everything it learnt left in $OUT.
#
#   OUT=/some/folder tools/rehearsal_gpu.sh [SCALE=0.05] [CORES=16] [BUDGET_S=420]
#
# Python: the machine's python3 with torch/transformers/peft (a fresh GPU machine has no
# internet); what it lacks (snakemake, speechbrain, soundfile, jsonschema, ...) comes from
# wheels in .whl/ (tools/rehearsal_wheels.sh writes them on a machine with PyPI; carry .whl).
# A .venv that runs on the machine is used instead when present.
# Runs tools/rehearsal.py in rehearsal-gpu/ with --cores CORES on CUDA (paper.yaml's
# device: auto), GPU jobs at 2 threads each (their torch threads are the config's, 1, so
# this only lets 8 share the GPU instead of 4: batch-1 fine-tunes leave it mostly idle); Snakemake is stopped after BUDGET_S seconds of workflow and what ran is
# costed. $OUT receives (flat, at most 8 files): rehearsal_gpu.log, summary.md (= cost.md:
# wall time, throughput per stage, GPU memory peak, forecast), cost.csv, cost.png,
# nvidia-smi.txt, logs.tar.gz (logs/, benchmarks, run json, config), and bench_stack.txt: first,
# before the rehearsal, benchmarks/bench_peft.py --stack 5 10 20 on CUDA in fp32 (paper.yaml's
# precision), the time per utterance-step separate vs stacked and the padding, at most
# STACK_BENCH_S seconds (default 150; 0 skips it); its stacked/separate ratio at 5 is what
# config/rehearsal.yaml's forecast.stack_step_ratio wants. Exit: the rehearsal's.
set -u
SCALE=${1:-0.05}
CORES=${2:-16}
BUDGET_S=${3:-420}
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.." || exit 2
REPO=$PWD
WORK=rehearsal-gpu
exec > >(tee -a "$OUT/rehearsal_gpu.log") 2>&1
echo "rehearsal_gpu: scale $SCALE, cores $CORES, budget ${BUDGET_S}s, $(date -u +%FT%TZ)"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "rehearsal_gpu: no nvidia-smi"

collect() {
    cp -f "$WORK/results/tables/cost.csv" "$OUT/" 2>/dev/null
    cp -f "$WORK/results/tables/cost.md" "$OUT/summary.md" 2>/dev/null
    cp -f "$WORK/results/figures/cost.png" "$OUT/" 2>/dev/null
    # what `tools/rehearsal.py --cost-only` reads, to re-cost the run elsewhere
    tar -czf "$OUT/logs.tar.gz" --ignore-failed-read "$WORK/logs" "$WORK/results/benchmarks" \
        "$WORK/results/rehearsal_run.json" "$WORK/config.yaml" "$WORK/inputs/build.json" \
        "$WORK/results/tables" "$WORK/results/corpora"/*/manifest.csv "$WORK/results/splits" \
        "$WORK/results/sed/subset.csv" $(find "$WORK/results/peft" -name metrics.json 2>/dev/null) 2>/dev/null
    ls -la "$OUT"
}
trap collect EXIT

if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, snakemake" 2>/dev/null; then
    PY=$REPO/.venv/bin/python
else
    PY=$(command -v python3)
    if [ -d .whl ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/xlser-site .whl/*.whl || { echo "rehearsal_gpu: wheel install failed"; exit 3; }
        export PYTHONPATH=/tmp/xlser-site${PYTHONPATH:+:$PYTHONPATH}
        export PATH=/tmp/xlser-site/bin:$PATH
    fi
fi
export PATH=$(dirname "$PY"):$PATH   # Snakemake's script jobs run `python`: the same interpreter
export PYTHONPATH=$REPO/src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PY" - <<'EOF' || { echo "rehearsal_gpu: the interpreter lacks a package (see above)"; exit 3; }
import torch, transformers, peft, snakemake, speechbrain, soundfile, jsonschema
print("python ok: torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "-", "transformers", transformers.__version__,
      "peft", peft.__version__, "snakemake", snakemake.__version__, "speechbrain", speechbrain.__version__)
EOF

if [ "${STACK_BENCH_S:-150}" -gt 0 ]; then
    echo "rehearsal_gpu: stack bench (at most ${STACK_BENCH_S:-150} s)"
    timeout "${STACK_BENCH_S:-150}" "$PY" benchmarks/bench_peft.py --stack 5 10 20 --device cuda --precision fp32 \
        > "$OUT/bench_stack.txt" 2>&1 || echo "rehearsal_gpu: stack bench stopped or failed (see bench_stack.txt)"
fi

start=$(date +%s)
"$PY" tools/rehearsal.py --scale "$SCALE" --cores "$CORES" --workdir "$WORK" --max-seconds "$BUDGET_S" \
    -- --keep-going --set-threads finetune=2 finetune_stacked=2 probe_layers=2 extract_features=2 diarize=2
rc=$?
[ -f "$WORK/results/tables/cost.csv" ] || "$PY" tools/rehearsal.py --scale "$SCALE" --workdir "$WORK" --cost-only
echo "rehearsal_gpu: exit $rc after $(( $(date +%s) - start )) s (inputs, workflow and cost table)"
exit $rc
