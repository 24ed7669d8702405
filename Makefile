# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   set up .venv and run the whole workflow on the embedded demo
#   make test   set up .venv and run the test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xlser-installed
CORES  ?= all

.PHONY: demo test venv lint bench mutants clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/snakemake --lint

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_peft.py

mutants: $(STAMP)
	$(BIN)/python tools/mutants.py

clean:
	rm -rf results logs resources .snakemake
