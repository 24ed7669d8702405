#!/usr/bin/env bash
# Wheels for a GPU machine without internet whose python3 (3.12) has torch, transformers,
# peft, numpy, pandas, scipy, matplotlib, seaborn, statsmodels, scikit-learn, pyyaml and
# requests, but not the rest of xlser's dependencies: written to .whl/ (git-ignored), about
# 25 MB; tools/rehearsal_gpu.sh installs them there (--no-index --no-deps).
#   tools/rehearsal_wheels.sh [PYTHON_VERSION=3.12]
set -euo pipefail
cd "$(dirname "$0")/.."
PYV=${1:-3.12}
PIP=(.venv/bin/python -m pip)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# connection_pool (a snakemake requirement) is published as a source archive only
"${PIP[@]}" wheel -q --no-deps -w "$tmp" connection_pool==0.0.3
plat=(--only-binary=:all: --python-version "$PYV" --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64
      --platform manylinux1_x86_64 --platform any)
# versions as pyproject.toml pins them
"${PIP[@]}" download -q --find-links "$tmp" "${plat[@]}" -d "$tmp" \
    snakemake==9.27.1 jsonschema==4.26.0 soundfile==0.14.0 hyperpyyaml==1.2.3
"${PIP[@]}" download -q --no-deps "${plat[@]}" -d "$tmp" speechbrain==1.1.2
# what the machine's image already has (its package list: /work/.library/device/KINDS.md)
present='numpy|pyyaml|packaging|psutil|requests|jinja2|markupsafe|idna|certifi|urllib3|charset_normalizer|attrs|typing_extensions'
rm -rf .whl && mkdir .whl
for w in "$tmp"/*.whl; do
    name=$(basename "$w" | cut -d- -f1 | tr 'A-Z' 'a-z')
    [[ $name =~ ^($present)$ ]] || cp "$w" .whl/
done
du -sh .whl && ls .whl | wc -l
