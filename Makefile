# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   set up .venv and run the whole workflow on the embedded demo
#   make test   set up .venv and run the test suite
#   make rehearsal  paper.yaml's protocol on study-sized synthetic inputs, SCALE of it, and its cost
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xlser-installed
CORES  ?= all
SCALE  ?= 0.01

.PHONY: demo test venv lint bench mutants clean rehearsal

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# not part of `make test`: writes rehearsal/ (inputs, results/tables/cost.csv), docs/usage.md, Rehearsal
rehearsal: $(STAMP)
	$(BIN)/python tools/rehearsal.py --scale $(SCALE) --cores $(CORES)

# also part of `make test` (tests/workflow/test_lint.py)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_peft.py
	$(BIN)/python benchmarks/bench_probe.py

mutants: $(STAMP)
	$(BIN)/python tools/mutants.py

clean:
	rm -rf results logs resources .snakemake rehearsal rehearsal-gpu
